import { AppError, ErrorCode } from "../errors.js";

/** Where a supervisord listens. */
export interface SupervisorAddress {
  readonly host: string;
  readonly port: number;
}

export function describeAddress(address: SupervisorAddress): string {
  return `${address.host.includes(":") ? `[${address.host}]` : address.host}:${address.port}`;
}

/** supervisord's fault codes (supervisor/xmlrpc.py, class Faults). */
export const FAULT_NAMES: Readonly<Record<number, string>> = {
  1: "UNKNOWN_METHOD",
  2: "INCORRECT_PARAMETERS",
  3: "BAD_ARGUMENTS",
  4: "SIGNATURE_UNSUPPORTED",
  6: "SHUTDOWN_STATE",
  10: "BAD_NAME",
  11: "BAD_SIGNAL",
  20: "NO_FILE",
  21: "NOT_EXECUTABLE",
  30: "FAILED",
  40: "ABNORMAL_TERMINATION",
  50: "SPAWN_ERROR",
  60: "ALREADY_STARTED",
  70: "NOT_RUNNING",
  80: "SUCCESS",
  90: "ALREADY_ADDED",
  91: "STILL_RUNNING",
  92: "CANT_REREAD",
};

/** supervisord answered with an XML-RPC fault. Services decide what a fault means. */
export class SupervisorFault extends AppError<ErrorCode.SUPERVISOR_FAULT> {
  readonly code = ErrorCode.SUPERVISOR_FAULT;

  constructor(
    readonly address: SupervisorAddress,
    readonly faultName: string,
    readonly faultCode: number,
    readonly detail: string,
    message?: string,
  ) {
    super(
      message ?? `supervisord at ${describeAddress(address)} answered ${faultName}${detail ? `: ${detail}` : ""}`,
      ErrorCode.SUPERVISOR_FAULT,
      { faultName, faultCode, supervisor: describeAddress(address) },
    );
  }
}

/** Why a supervisord could not be used. */
export type UnavailableReason =
  "refused" | "reset" | "timeout" | "unauthorized" | "unresolvable" | "unreachable" | "protocol";

/** supervisord could not be reached, did not answer in time, or rejected the credentials. */
export class SupervisorUnavailable extends AppError<ErrorCode.SUPERVISOR_UNAVAILABLE> {
  readonly code = ErrorCode.SUPERVISOR_UNAVAILABLE;

  constructor(
    readonly address: SupervisorAddress,
    readonly reason: UnavailableReason,
    message: string,
  ) {
    super(message, ErrorCode.SUPERVISOR_UNAVAILABLE, { reason, supervisor: describeAddress(address) });
  }
}
