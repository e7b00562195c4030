import { describe, expect, it } from "vitest";
import { AuthFailureLimiter, type AddressStanding } from "./auth-failure-limiter.js";

function limiter(failuresPerMinute: number, maxAddresses?: number) {
  let now = Date.UTC(2025, 0, 1);
  const limits = new AuthFailureLimiter({ failuresPerMinute, maxAddresses, now: () => now });
  return {
    limits,
    advance: (ms: number) => (now += ms),
    /** One unknown token from `address`, looked up if allowed: how it was answered. */
    fail(address: string): AddressStanding {
      const before = limits.begin(address);
      return before.standing === "refused" ? before : limits.end(address, true);
    },
  };
}

describe("AuthFailureLimiter", () => {
  it("answers half the limit at once, slows the rest step by step, then refuses until the minute ends", () => {
    const { fail, advance } = limiter(20);
    const answers = Array.from({ length: 22 }, () => {
      const answer = fail("203.0.113.7");
      advance(1_000);
      return answer;
    });
    expect(answers.slice(0, 10)).toEqual(Array(10).fill({ standing: "clear" }));
    expect(answers.slice(10, 20).map((a) => (a.standing === "slowed" ? a.delayMs : a))).toEqual([
      100, 200, 300, 400, 500, 600, 700, 800, 900, 1000,
    ]);
    // The 21st failure came 20 s into the minute, the 22nd 21 s into it.
    expect(answers.slice(20)).toEqual([
      { standing: "refused", retryAfterSeconds: 40 },
      { standing: "refused", retryAfterSeconds: 39 },
    ]);

    advance(39_000);
    expect(fail("203.0.113.7")).toEqual({ standing: "clear" });
  });

  it("caps the delay", () => {
    const { fail } = limiter(1_000);
    const answers = Array.from({ length: 1_000 }, () => fail("203.0.113.7"));
    expect(answers.at(-1)).toEqual({ standing: "slowed", delayMs: 2_000 });
  });

  it("counts each address on its own", () => {
    const { fail } = limiter(2);
    fail("203.0.113.7");
    fail("203.0.113.7");
    expect(fail("203.0.113.7").standing).toBe("refused");
    expect(fail("198.51.100.1").standing).not.toBe("refused");
  });

  it("counts lookups under way, so that guesses sent all at once meet the limit too", () => {
    const { limits } = limiter(20);
    const begun = Array.from({ length: 1_000 }, () => limits.begin("203.0.113.7"));
    expect(begun.filter((b) => b.standing === "clear")).toHaveLength(20);
    expect(begun[20]).toEqual({ standing: "refused", retryAfterSeconds: 1 });
  });

  it("does not count a token that was valid, nor let it clear the address's failures", () => {
    const { limits, fail } = limiter(4);
    for (let i = 0; i < 4; i++) {
      limits.begin("203.0.113.7");
      expect(limits.end("203.0.113.7", false)).toEqual({ standing: "clear" });
    }
    for (let i = 0; i < 4; i++) expect(fail("203.0.113.7").standing).not.toBe("refused");
    limits.begin("203.0.113.7");
    expect(limits.begin("203.0.113.7").standing).toBe("refused");
  });

  it("refuses further failures of tokens it was not asked to begin (recently verified, since revoked)", () => {
    const { limits, fail } = limiter(2);
    fail("203.0.113.7");
    fail("203.0.113.7");
    expect(limits.recordFailure("203.0.113.7").standing).toBe("refused");
  });

  it("remembers at most maxAddresses, whatever the number of addresses", () => {
    const { limits, fail } = limiter(20, 1_000);
    for (let i = 0; i < 100_000; i++) fail(`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`);
    expect(limits.trackedAddresses).toBe(1_000);
  });

  it("keeps an address that goes on failing while others come and go", () => {
    const { fail } = limiter(2, 100);
    fail("203.0.113.7");
    fail("203.0.113.7");
    for (let i = 0; i < 1_000; i++) {
      fail(`10.0.${(i >> 8) & 255}.${i & 255}`);
      expect(fail("203.0.113.7").standing).toBe("refused");
    }
  });

  it("with a limit of 0, limits nothing and remembers nothing", () => {
    const { limits, fail } = limiter(0);
    for (let i = 0; i < 100; i++) expect(fail("203.0.113.7")).toEqual({ standing: "clear" });
    expect(limits.trackedAddresses).toBe(0);
  });
});
