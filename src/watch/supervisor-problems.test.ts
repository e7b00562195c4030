import { describe, expect, it } from "vitest";
import { ManualClock } from "../clock.js";
import { createLogger } from "../logger.js";
import { SupervisorFault, SupervisorUnavailable } from "../supervisor/supervisor.errors.js";
import { problemKindOf, SupervisorProblems } from "./supervisor-problems.js";

const HOST = { host: "sv1", port: 9001 };
const KEY = "sv1:9001";
const refused = () => new SupervisorUnavailable(HOST, "refused", "supervisord at sv1:9001 refused the connection");
const rejected = () =>
  new SupervisorUnavailable(HOST, "unauthorized", "supervisord at sv1:9001 rejected the credentials (HTTP 401)");
const noRpcInterface = () =>
  new SupervisorFault(
    HOST,
    "UNKNOWN_METHOD",
    1,
    "",
    "supervisord at sv1:9001 has no [rpcinterface:supervisor] section",
  );

/** Problems logged into `lines` (their messages), on a clock the test moves. */
function setUp(afterPolls = 3) {
  const lines: { msg: string; supervisor: string; problem: string; seconds?: number }[] = [];
  const logger = createLogger("warn", {}, { write: (line: string) => void lines.push(JSON.parse(line)) });
  const clock = new ManualClock(new Date("2026-11-26T12:00:00Z"));
  return { problems: new SupervisorProblems(logger, { afterPolls }, clock), lines, clock };
}

describe("problemKindOf", () => {
  it.each([
    [refused(), "unreachable"],
    [new SupervisorUnavailable(HOST, "timeout", "did not answer"), "unreachable"],
    [new SupervisorUnavailable(HOST, "protocol", "not XML-RPC"), "unreachable"],
    [rejected(), "credentials"],
    [noRpcInterface(), "rpcinterface"],
    [new SupervisorFault(HOST, "SHUTDOWN_STATE", 6, ""), "fault"],
  ])("%s → %s", (error, kind) => {
    expect(problemKindOf(error)).toBe(kind);
  });
});

describe("SupervisorProblems", () => {
  it("wrong credentials: logged at the first poll, once however many follow, and once when it answers", () => {
    const { problems, lines, clock } = setUp();
    for (let poll = 1; poll <= 5; poll++) {
      expect(problems.failed(KEY, rejected())).toBe(poll);
      clock.advance(1_000);
    }
    expect(lines.map((l) => l.msg)).toEqual([
      "supervisord problem began: supervisord at sv1:9001 rejected the credentials (HTTP 401)",
    ]);
    problems.answered(KEY);
    problems.answered(KEY);
    expect(lines).toHaveLength(2);
    expect(lines[1]).toMatchObject({ supervisor: KEY, problem: "credentials", seconds: 5 });
    expect(lines[1]!.msg).toBe("supervisord problem ended: sv1:9001 (credentials, for 5s): it answers again");
  });

  it("no rpcinterface section: logged at the first poll", () => {
    const { problems, lines } = setUp();
    problems.failed(KEY, noRpcInterface());
    expect(lines).toEqual([expect.objectContaining({ supervisor: KEY, problem: "rpcinterface" })]);
  });

  it("unreachable: logged once it has lasted the polls that make an alert; a shorter blip is not logged", () => {
    const { problems, lines } = setUp(3);
    problems.failed(KEY, refused());
    problems.failed(KEY, refused());
    problems.answered(KEY);
    expect(lines).toEqual([]);

    for (let poll = 0; poll < 6; poll++) problems.failed(KEY, refused());
    expect(lines.map((l) => l.msg)).toEqual([
      "supervisord problem began: supervisord at sv1:9001 refused the connection (3 polls in a row)",
    ]);
    problems.answered(KEY);
    expect(lines.map((l) => l.problem)).toEqual(["unreachable", "unreachable"]);
  });

  it("a problem that changes kind ends once the new kind would be logged itself, and the new one begins", () => {
    const { problems, lines } = setUp(2);
    problems.failed(KEY, rejected());
    // Restarted to fix it: a refused poll is not news.
    problems.failed(KEY, refused());
    problems.answered(KEY);
    expect(lines.map((l) => l.msg)).toEqual([
      "supervisord problem began: supervisord at sv1:9001 rejected the credentials (HTTP 401)",
      "supervisord problem ended: sv1:9001 (credentials, for 0s): it answers again",
    ]);

    problems.failed(KEY, rejected());
    problems.failed(KEY, refused());
    problems.failed(KEY, refused());
    problems.failed(KEY, refused());
    expect(lines.slice(2).map((l) => l.msg)).toEqual([
      "supervisord problem began: supervisord at sv1:9001 rejected the credentials (HTTP 401)",
      "supervisord problem ended: sv1:9001 (credentials, for 0s): it now fails otherwise (unreachable)",
      "supervisord problem began: supervisord at sv1:9001 refused the connection (2 polls in a row)",
    ]);
  });

  it("forgets a supervisord the registry no longer names, and says so", () => {
    const { problems, lines } = setUp();
    problems.failed(KEY, rejected());
    problems.failed("other:1", rejected());
    problems.retain(new Set(["other:1"]));
    expect(lines.at(-1)!.msg).toBe(
      "supervisord problem ended: sv1:9001 (credentials, for 0s): no process in the registry names it any more",
    );
    // Forgotten: failing again is a new problem, logged again.
    problems.failed(KEY, rejected());
    expect(lines.filter((l) => l.msg.startsWith("supervisord problem began") && l.supervisor === KEY)).toHaveLength(2);
  });
});
