import { describe, expect, it } from "vitest";
import { SharedHostAnswers, type HostSnapshot } from "./host-answers.js";

function snapshot(label: number): HostSnapshot {
  return {
    address: { host: "127.0.0.1", port: 9001 },
    byProgram: new Map(),
    latencyMs: label,
    observedAt: new Date(label),
  };
}

/** A supervisord that answers when told to, and counts what it was asked. */
function host() {
  const pending: ((answer: HostSnapshot | Error) => void)[] = [];
  let asked = 0;
  return {
    ask: (_key: string) =>
      new Promise<HostSnapshot>((resolve, reject) => {
        asked++;
        pending.push((answer) => (answer instanceof Error ? reject(answer) : resolve(answer)));
      }),
    answer: (value: HostSnapshot | Error) => pending.shift()!(value),
    asked: () => asked,
  };
}

describe("SharedHostAnswers", () => {
  it("asks once for every reader whose change is no newer than the ask", async () => {
    const supervisord = host();
    let now = 1_000;
    const shared = new SharedHostAnswers(supervisord.ask, () => now);
    const readers = Array.from({ length: 100 }, () => shared.of("a", 1_000));
    supervisord.answer(snapshot(1));
    const answers = await Promise.all(readers);
    expect(supervisord.asked()).toBe(1);
    expect(new Set(answers).size).toBe(1);
    // Settled, it is still shared for a while with readers of the same change.
    now += 500;
    expect(await shared.of("a", 1_000)).toBe(answers[0]);
    expect(supervisord.asked()).toBe(1);
  });

  it("asks again for a change recorded after the ask began, and once the answer is too old", async () => {
    const supervisord = host();
    let now = 1_000;
    const shared = new SharedHostAnswers(supervisord.ask, () => now, 1_000);
    const first = shared.of("a", 1_000);
    now = 1_200;
    const newer = shared.of("a", 1_100); // the change came after the first ask began
    expect(supervisord.asked()).toBe(2);
    supervisord.answer(snapshot(1));
    supervisord.answer(snapshot(2));
    expect(await first).not.toBe(await newer);
    now = 3_000; // settled more than a second ago
    void shared.of("a", 1_100);
    expect(supervisord.asked()).toBe(3);
  });

  it("keeps one ask per supervisord, and hands a failure over instead of throwing", async () => {
    const supervisord = host();
    const shared = new SharedHostAnswers(supervisord.ask, () => 0);
    const a = shared.of("a", 0);
    const b = shared.of("b", 0);
    expect(supervisord.asked()).toBe(2);
    supervisord.answer(new Error("refused"));
    supervisord.answer(snapshot(2));
    expect(await a).toEqual(new Error("refused"));
    expect(await b).toEqual(snapshot(2));
  });
});
