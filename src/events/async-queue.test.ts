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

  it("ends a waiting consumer on return()", async () => {
    const queue = new AsyncQueue<number>(2);
    const waiting = queue.next();
    await queue.return();
    expect(await waiting).toEqual({ value: undefined, done: true });
    queue.push(1);
    expect(await queue.next()).toEqual({ value: undefined, done: true });
  });
});
