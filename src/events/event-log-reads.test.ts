import type { DataSource } from "typeorm";
import { describe, expect, it } from "vitest";
import { EventLogReads } from "./event-log-reads.js";

/** A database that answers MAX(id) when told to, and counts the queries. */
function database() {
  const waiting: ((rows: unknown) => void)[] = [];
  let queries = 0;
  const dataSource = {
    query: () =>
      new Promise((resolve) => {
        queries++;
        waiting.push(resolve);
      }),
  } as unknown as DataSource;
  return { dataSource, answer: (id: number) => waiting.shift()!([{ id }]), queries: () => queries };
}

describe("EventLogReads.lastId", () => {
  it("shares one read among callers at the same moment, and reads afresh afterwards", async () => {
    const db = database();
    const reads = new EventLogReads(db.dataSource);
    const callers = Array.from({ length: 500 }, () => reads.lastId());
    expect(db.queries()).toBe(1);
    db.answer(41);
    expect(new Set(await Promise.all(callers))).toEqual(new Set([41n]));
    const later = reads.lastId();
    expect(db.queries()).toBe(2);
    db.answer(42);
    expect(await later).toBe(42n);
  });
});
