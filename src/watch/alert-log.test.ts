import { describe, expect, it } from "vitest";
import { ProcessEventKind } from "../domain/event-kind.js";
import { ProcessStatus } from "../domain/process-status.js";
import type { ProcessEventRecord } from "../events/process-event.js";
import type { EventFeed } from "../events/event-feed.js";
import { MemoryEventBus } from "../events/event-bus.js";
import { EventLogService } from "../events/event-log.service.js";
import { createLogger } from "../logger.js";
import { AlertLog, logAlerts } from "./alert-log.js";

const K = ProcessEventKind;
const T0 = Date.parse("2026-11-26T12:00:00Z");

function event(
  id: number,
  kind: ProcessEventKind,
  status: ProcessStatus | null,
  message: string | null = null,
  processName = "p1",
): ProcessEventRecord {
  return { id: String(id), kind, processName, at: new Date(T0 + id * 1000), actor: "fleetvisor", message, status };
}

function setUp(maxOpen?: number) {
  const lines: { msg: string; alert: string; process: string; endedBy?: string; repeats?: number }[] = [];
  const logger = createLogger("warn", {}, { write: (line: string) => void lines.push(JSON.parse(line)) });
  return { log: new AlertLog(logger, maxOpen), lines, messages: () => lines.map((l) => l.msg) };
}

describe("AlertLog", () => {
  it("HEARTBEAT_LOST: logged when it begins, and when the heartbeat comes back", () => {
    const { log, messages } = setUp();
    log.recorded(event(10, K.HEARTBEAT_LOST, ProcessStatus.ERROR, "last heartbeat 6s ago; the limit is 5s"));
    log.seen(event(12, K.UPDATED, ProcessStatus.ERROR));
    log.seen(event(13, K.HEARTBEAT_RESTORED, ProcessStatus.RUNNING, "heartbeat from pid 7"));
    log.seen(event(14, K.HEARTBEAT_RESTORED, ProcessStatus.RUNNING, "heartbeat from pid 7"));
    expect(messages()).toEqual([
      "alert began: HEARTBEAT_LOST for p1: last heartbeat 6s ago; the limit is 5s",
      "alert ended: HEARTBEAT_LOST for p1 after 3s: HEARTBEAT_RESTORED (heartbeat from pid 7)",
    ]);
  });

  it("HEARTBEAT_LOST also ends when the process registers again or is stopped", () => {
    const { log, lines } = setUp();
    log.recorded(event(1, K.HEARTBEAT_LOST, ProcessStatus.ERROR, null, "a"));
    log.recorded(event(2, K.HEARTBEAT_LOST, ProcessStatus.ERROR, null, "b"));
    log.seen(event(3, K.STATUS_CHANGED, ProcessStatus.STARTING, "start requested", "a"));
    log.seen(event(4, K.REGISTERED, ProcessStatus.RUNNING, "registered with pid 9", "a"));
    log.seen(event(5, K.STATUS_CHANGED, ProcessStatus.STOPPED, "supervisord stopped it; no deregister came", "b"));
    expect(lines.slice(2).map((l) => [l.process, l.endedBy])).toEqual([
      ["a", K.REGISTERED],
      ["b", K.STATUS_CHANGED],
    ]);
  });

  it("PROCESS_CRASHED: a crash loop is one alert, which ends when supervisord runs the process again", () => {
    const { log, lines, messages } = setUp();
    log.recorded(event(20, K.PROCESS_CRASHED, ProcessStatus.ERROR, "supervisord says BACKOFF"));
    log.seen(event(21, K.SUPERVISOR_STATE_CHANGED, ProcessStatus.ERROR, "BACKOFF → STARTING (pid 40) (poll)"));
    log.recorded(event(22, K.PROCESS_CRASHED, ProcessStatus.ERROR, "supervisord says BACKOFF"));
    log.recorded(event(23, K.PROCESS_CRASHED, ProcessStatus.ERROR, "supervisord says FATAL"));
    expect(messages()).toEqual(["alert began: PROCESS_CRASHED for p1: supervisord says BACKOFF"]);
    log.seen(event(30, K.SUPERVISOR_STATE_CHANGED, ProcessStatus.ERROR, "FATAL → RUNNING (pid 41) (poll)"));
    expect(lines[1]).toMatchObject({ alert: K.PROCESS_CRASHED, endedBy: K.SUPERVISOR_STATE_CHANGED, repeats: 2 });
    expect(lines[1]!.msg).toBe(
      "alert ended: PROCESS_CRASHED for p1 after 10s and 2 more like it: SUPERVISOR_STATE_CHANGED (FATAL → RUNNING (pid 41) (poll))",
    );
  });

  it("an event recorded before the latest alert of its kind never ends it, however late it arrives", () => {
    const { log, messages } = setUp();
    log.recorded(event(40, K.PROCESS_CRASHED, ProcessStatus.ERROR));
    log.recorded(event(42, K.PROCESS_CRASHED, ProcessStatus.ERROR));
    // Recorded between the two, delivered after the second.
    log.seen(event(41, K.SUPERVISOR_STATE_CHANGED, ProcessStatus.ERROR, "STARTING → RUNNING (pid 5) (poll)"));
    expect(messages()).toHaveLength(1);
  });

  it("SUPERVISOR_UNREACHABLE: the change to UNREACHABLE recorded with it does not end it; the next change does", () => {
    const { log, lines } = setUp();
    // One transaction: the state change, then the alert.
    log.seen(event(50, K.SUPERVISOR_STATE_CHANGED, ProcessStatus.RUNNING, "RUNNING (pid 3) → UNREACHABLE (poll)"));
    log.recorded(event(51, K.SUPERVISOR_UNREACHABLE, ProcessStatus.RUNNING, "refused; 3 polls in a row"));
    log.seen(event(50, K.SUPERVISOR_STATE_CHANGED, ProcessStatus.RUNNING, "RUNNING (pid 3) → UNREACHABLE (poll)"));
    log.seen(event(52, K.STATUS_CHANGED, ProcessStatus.RUNNING, "something else"));
    expect(lines).toHaveLength(1);
    log.seen(event(55, K.SUPERVISOR_STATE_CHANGED, ProcessStatus.RUNNING, "UNREACHABLE → RUNNING (pid 3) (poll)"));
    expect(lines[1]).toMatchObject({ alert: K.SUPERVISOR_UNREACHABLE, endedBy: K.SUPERVISOR_STATE_CHANGED });
  });

  it("deleting the process ends all its alerts", () => {
    const { log, lines } = setUp();
    log.recorded(event(1, K.HEARTBEAT_LOST, ProcessStatus.ERROR));
    log.recorded(event(2, K.SUPERVISOR_UNREACHABLE, ProcessStatus.ERROR));
    log.seen(event(3, K.DELETED, null));
    expect(lines.slice(2).map((l) => [l.alert, l.endedBy])).toEqual([
      [K.HEARTBEAT_LOST, K.DELETED],
      [K.SUPERVISOR_UNREACHABLE, K.DELETED],
    ]);
  });

  it("logs only ends of alerts it logged the beginning of (another replica logs the others)", () => {
    const { log, lines } = setUp();
    log.seen(event(5, K.HEARTBEAT_RESTORED, ProcessStatus.RUNNING));
    log.recorded(event(6, K.STATUS_CHANGED, ProcessStatus.ERROR));
    expect(lines).toEqual([]);
  });

  it("remembers a bounded number of open alerts, forgetting the oldest", () => {
    const { log, lines } = setUp(2);
    for (const [id, name] of [
      [1, "a"],
      [2, "b"],
      [3, "c"],
    ] as const)
      log.recorded(event(id, K.HEARTBEAT_LOST, ProcessStatus.ERROR, null, name));
    for (const [id, name] of [
      [4, "a"],
      [5, "b"],
      [6, "c"],
    ] as const)
      log.seen(event(id, K.HEARTBEAT_RESTORED, ProcessStatus.RUNNING, null, name));
    expect(lines.filter((l) => l.msg.startsWith("alert ended")).map((l) => l.process)).toEqual(["b", "c"]);
  });
});

describe("logAlerts", () => {
  /** A feed that hands the test its listener. */
  function feed() {
    const subscriptions: { listener: (event: ProcessEventRecord) => void; from: bigint; active: boolean }[] = [];
    const fake = {
      subscribe(listener: (event: ProcessEventRecord) => void, from: bigint) {
        const subscription = { listener, from, active: true };
        subscriptions.push(subscription);
        return () => void (subscription.active = false);
      },
    };
    return { feed: fake as unknown as EventFeed, subscriptions };
  }

  it("follows the feed from an alert it logged while the alert is open, and only then", async () => {
    const logger = createLogger("silent");
    const events = new EventLogService(new MemoryEventBus(logger), logger);
    const { feed: eventFeed, subscriptions } = feed();
    const stop = logAlerts(events, eventFeed, logger);
    await events.publish([event(7, K.REGISTERED, ProcessStatus.RUNNING)]);
    expect(subscriptions).toEqual([]);

    await events.publish([event(8, K.HEARTBEAT_LOST, ProcessStatus.ERROR)]);
    expect(subscriptions).toMatchObject([{ from: 8n, active: true }]);
    subscriptions[0]!.listener(event(9, K.HEARTBEAT_RESTORED, ProcessStatus.RUNNING));
    // Not while the feed delivers; right after.
    expect(subscriptions[0]!.active).toBe(true);
    await Promise.resolve();
    expect(subscriptions[0]!.active).toBe(false);

    await events.publish([event(12, K.PROCESS_CRASHED, ProcessStatus.ERROR)]);
    expect(subscriptions).toMatchObject([{ active: false }, { from: 12n, active: true }]);
    await stop();
    expect(subscriptions[1]!.active).toBe(false);
  });
});
