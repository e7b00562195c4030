import { describe, expect, it } from "vitest";
import { AsyncQueue, SubscriberTooSlowError } from "./async-queue.js";

describe("AsyncQueue", () => {
  it("hands items over in order, to a waiting or a later consumer", async () => {
    const queue = new AsyncQueue<number>(10);
    const first = queue.next();
    queue.push(1);
    queue.push(2);
    expect(await first).toEqual({ value: 1, done: false });
    expect(await queue.next()).toEqual({ value: 2, done: false });
  });

  it("fails the consumer instead of growing past its limit", async () => {
    const queue = new AsyncQueue<number>(2);
    queue.push(1);
    queue.push(2);
    queue.push(3);
    await expect(queue.next()).rejects.toBeInstanceOf(SubscriberTooSlowError);
  });

  it("keeps only the buffered items that pass a test, in order", async () => {
    const queue = new AsyncQueue<number>(10);
    for (const n of [1, 2, 3, 4, 5]) queue.push(n);
    queue.retain((n) => n % 2 === 1);
    queue.push(6);
    const taken = [];
    for (let i = 0; i < 4; i++) taken.push((await queue.next()).value);
    expect(taken).toEqual([1, 3, 5, 6]);
  });

  it("ends a waiting consumer on return()", async () => {
    const queue = new AsyncQueue<number>(2);
    const waiting = queue.next();
    await queue.return();
    expect(await waiting).toEqual({ value: undefined, done: true });
    queue.push(1);
    expect(await queue.next()).toEqual({ value: undefined, done: true });
  });
});
