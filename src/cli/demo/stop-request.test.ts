import { describe, expect, it } from "vitest";
import { StopRequest, StopRequested } from "./stop-request.js";

describe("StopRequest", () => {
  it("keeps the first reason; later requests are ignored", async () => {
    const stop = new StopRequest();
    expect(stop.reason).toBeUndefined();
    expect(() => stop.check()).not.toThrow();
    expect(stop.request("SIGINT")).toBe(true);
    expect(stop.request("SIGTERM")).toBe(false);
    expect(await stop.requested).toBe("SIGINT");
    expect(() => stop.check()).toThrow(StopRequested);
  });

  it("lets a wait finish when no stop comes", async () => {
    expect(await new StopRequest().race(Promise.resolve(42))).toBe(42);
  });

  it("ends a wait when a stop comes first, and a later failure of the wait goes unnoticed", async () => {
    const stop = new StopRequest();
    let fail!: (error: Error) => void;
    const wait = stop.race(new Promise<never>((_, reject) => (fail = reject)));
    stop.request("SIGTERM");
    await expect(wait).rejects.toThrow(new StopRequested("SIGTERM"));
    fail(new Error("too late")); // no unhandled rejection
  });
});
