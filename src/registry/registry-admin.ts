import type { Principal } from "../auth/principal.js";
import type { Clock } from "../clock.js";
import { isDuplicateKey } from "../db/db-errors.js";
import { DEFAULT_PROGRAM, ProcessEntity } from "../db/process.entity.js";
import { ProcessEventKind } from "../domain/event-kind.js";
import { DESIRED_STATES, type DesiredState } from "../domain/desired-state.js";
import { ProcessStatus } from "../domain/process-status.js";
import { check, hostProblem, portProblem, processNameProblem, programNameProblem } from "../domain/validation.js";
import { BadUserInputError, ConflictError, type InvalidField } from "../errors.js";
import type { Observations } from "./observations.js";
import { describeProcess, findProcess, mustFindProcess, processNotFound } from "./process-rows.js";
import type { Transitions } from "./transitions.js";

export interface CreateProcessInput {
  readonly name: string;
  readonly port: number;
  readonly supervisorHost?: string | null | undefined;
  readonly supervisorPort?: number | null | undefined;
  readonly program?: string | null | undefined;
  /** What it is meant to be doing; none by default. */
  readonly desiredState?: DesiredState | null | undefined;
}

/**
 * Omitted (or null) fields stay as they are, except `desiredState`: omitted it stays,
 * null clears it (nobody's intent any more).
 */
export interface UpdateProcessInput {
  readonly port?: number | null | undefined;
  readonly supervisorHost?: string | null | undefined;
  readonly supervisorPort?: number | null | undefined;
  readonly program?: string | null | undefined;
  readonly desiredState?: DesiredState | null | undefined;
}

/** The fields of a process an admin can change, and how each is named in events. */
const EDITABLE = ["port", "supervisorHost", "supervisorPort", "program", "desiredState"] as const;

const TOGETHER = { field: "input.supervisorPort", message: "supervisorHost and supervisorPort go together" };

/** What admins maintain: processes created, changed and deleted, each change recorded. */
export class RegistryAdmin {
  constructor(
    private readonly transitions: Transitions,
    private readonly observations: Observations,
    private readonly clock: Clock,
  ) {}

  async create(input: CreateProcessInput, principal: Principal): Promise<ProcessEntity> {
    const name = input.name;
    const problems: InvalidField[] = [];
    check(problems, "input.name", name, processNameProblem);
    problems.push(...inputProblems(input));
    if ((input.supervisorHost == null) !== (input.supervisorPort == null)) problems.push(TOGETHER);
    if (problems.length > 0) throw BadUserInputError.of(problems);
    const now = this.clock.now();
    try {
      return await this.transitions.run(name, principal, async (manager, record) => {
        await manager.insert(ProcessEntity, {
          name,
          port: input.port,
          pid: null,
          status: ProcessStatus.STOPPED,
          supervisorHost: input.supervisorHost ?? null,
          supervisorPort: input.supervisorPort ?? null,
          program: input.program ?? DEFAULT_PROGRAM,
          lastHeartbeat: null,
          createdAt: now,
          updatedAt: now,
          desiredState: input.desiredState ?? null,
        });
        const row = await mustFindProcess(manager, name);
        await record({ kind: ProcessEventKind.CREATED, message: describeProcess(row) }, row);
        return row;
      });
    } catch (error) {
      if (isDuplicateKey(error)) throw new ConflictError(`a process named "${name}" already exists`);
      throw error;
    }
  }

  async update(name: string, input: UpdateProcessInput, principal: Principal): Promise<ProcessEntity> {
    const problems: InvalidField[] = [];
    check(problems, "name", name, processNameProblem);
    problems.push(...inputProblems(input));
    if (problems.length > 0) throw BadUserInputError.of(problems);
    const now = this.clock.now();
    return this.transitions.run(name, principal, async (manager, record) => {
      const before = await findProcess(manager, name);
      if (!before) throw processNotFound(name);
      const changes: Partial<Pick<ProcessEntity, (typeof EDITABLE)[number]>> = {};
      if (input.port != null && input.port !== before.port) changes.port = input.port;
      if (input.supervisorHost != null && input.supervisorHost !== before.supervisorHost) {
        changes.supervisorHost = input.supervisorHost;
      }
      if (input.supervisorPort != null && input.supervisorPort !== before.supervisorPort) {
        changes.supervisorPort = input.supervisorPort;
      }
      if (input.program != null && input.program !== before.program) changes.program = input.program;
      if (input.desiredState !== undefined && input.desiredState !== before.desiredState) {
        changes.desiredState = input.desiredState;
      }
      const host = changes.supervisorHost ?? before.supervisorHost;
      const port = changes.supervisorPort ?? before.supervisorPort;
      if ((host === null) !== (port === null)) throw BadUserInputError.of([TOGETHER]);
      const fields = EDITABLE.filter((field) => field in changes);
      if (fields.length === 0) return before;
      await manager.update(ProcessEntity, { name }, { ...changes, updatedAt: now });
      const row = await mustFindProcess(manager, name);
      await record(
        {
          kind: ProcessEventKind.UPDATED,
          message: fields.map((f) => `${f}: ${String(before[f])} → ${String(row[f])}`).join(", "),
        },
        row,
      );
      // A new intent is judged against what was last seen at once; the next poll confirms it.
      if (!("desiredState" in changes)) return row;
      return (await this.observations.judgeFromLastSeen(manager, row, record)) ?? row;
    });
  }

  /** Removes a process from the registry and returns it as it was. */
  async delete(name: string, principal: Principal): Promise<ProcessEntity> {
    const problems: InvalidField[] = [];
    check(problems, "name", name, processNameProblem);
    if (problems.length > 0) throw BadUserInputError.of(problems);
    return this.transitions.run(name, principal, async (manager, record) => {
      const row = await findProcess(manager, name);
      if (!row) throw processNotFound(name);
      // The observation row before the process row, in the order observations.apply locks them.
      await this.observations.forget(manager, name);
      const deleted = await manager.delete(ProcessEntity, { name });
      if (deleted.affected === 0) throw processNotFound(name);
      await record({ kind: ProcessEventKind.DELETED, message: describeProcess(row), status: null }, null);
      return row;
    });
  }
}

function inputProblems(input: UpdateProcessInput): InvalidField[] {
  const problems: InvalidField[] = [];
  if (input.desiredState != null && !DESIRED_STATES.includes(input.desiredState)) {
    problems.push({ field: "input.desiredState", message: `must be one of ${DESIRED_STATES.join(", ")}` });
  }
  check(problems, "input.port", input.port, portProblem);
  check(problems, "input.supervisorHost", input.supervisorHost, hostProblem);
  check(problems, "input.supervisorPort", input.supervisorPort, portProblem);
  check(problems, "input.program", input.program, programNameProblem);
  return problems;
}
