import {
  describeAddress,
  FAULT_NAMES,
  SupervisorFault,
  SupervisorUnavailable,
  type SupervisorAddress,
} from "./supervisor.errors.js";

/** An XML-RPC fault as a {@link SupervisorFault}: `faultString` is "NAME: detail" or "NAME". */
export function toFault(
  address: SupervisorAddress,
  faultCode: number,
  faultString: string,
  method?: string,
): SupervisorFault {
  // faultString is "NAME: detail" or just "NAME".
  const match = /^([A-Z_]+)(?::\s?(.*))?$/s.exec(faultString ?? "");
  const faultName = match?.[1] ?? FAULT_NAMES[faultCode] ?? `FAULT_${faultCode}`;
  const detail = match ? (match[2] ?? "") : (faultString ?? "");
  if (faultName === "UNKNOWN_METHOD" && method?.startsWith("supervisor.")) {
    // supervisord without the [rpcinterface:supervisor] section answers every call this way:
    // it is reachable, but misconfigured.
    return new SupervisorFault(
      address,
      faultName,
      faultCode,
      detail,
      `supervisord at ${describeAddress(address)} has no [rpcinterface:supervisor] section in its configuration ` +
        `(it answered ${method} with UNKNOWN_METHOD); add the section and restart supervisord`,
    );
  }
  return new SupervisorFault(address, faultName, faultCode, detail);
}

/** A socket-level failure (refused, reset, no such host, …) as a {@link SupervisorUnavailable}. */
export function translateSocketError(
  address: SupervisorAddress,
  method: string,
  error: NodeJS.ErrnoException,
): SupervisorUnavailable {
  const where = `supervisord at ${describeAddress(address)}`;
  switch (error.code) {
    case "ECONNREFUSED":
      return new SupervisorUnavailable(address, "refused", `${where} refused the connection`);
    case "ECONNRESET":
    case "EPIPE":
      return new SupervisorUnavailable(address, "reset", `${where} closed the connection during ${method}`);
    case "ENOTFOUND":
    case "EAI_AGAIN":
      return new SupervisorUnavailable(address, "unresolvable", `${where}: the host name does not resolve`);
    case "ETIMEDOUT":
    case "EHOSTUNREACH":
    case "ENETUNREACH":
      return new SupervisorUnavailable(address, "unreachable", `${where} is unreachable (${error.code})`);
    default:
      return new SupervisorUnavailable(
        address,
        "reset",
        `${where} failed during ${method}: ${error.code ?? error.message.split("\n")[0]}`,
      );
  }
}

/** An HTTP answer other than 200; 401 means the credentials were rejected. */
export function httpStatusError(address: SupervisorAddress, method: string, status: number): SupervisorUnavailable {
  const where = `supervisord at ${describeAddress(address)}`;
  if (status === 401)
    return new SupervisorUnavailable(address, "unauthorized", `${where} rejected the credentials (HTTP 401)`);
  return new SupervisorUnavailable(address, "protocol", `${where} answered ${method} with HTTP ${status}, not XML-RPC`);
}

export function notXmlRpc(address: SupervisorAddress, method: string, error: Error): SupervisorUnavailable {
  return new SupervisorUnavailable(
    address,
    "protocol",
    `supervisord at ${describeAddress(address)} did not answer ${method} with XML-RPC (${error.message})`,
  );
}

/** XML-RPC, but not the value `method` answers (`expected`). */
export function unexpectedAnswer(address: SupervisorAddress, method: string, expected: string): SupervisorUnavailable {
  return new SupervisorUnavailable(
    address,
    "protocol",
    `supervisord at ${describeAddress(address)} answered ${method} with something other than ${expected}`,
  );
}

export function responseTooLarge(
  address: SupervisorAddress,
  method: string,
  limitBytes: number,
): SupervisorUnavailable {
  return new SupervisorUnavailable(
    address,
    "protocol",
    `supervisord at ${describeAddress(address)} answered ${method} with more than ${describeBytes(limitBytes)} ` +
      "(SUPERVISOR_MAX_RESPONSE_BYTES)",
  );
}

function describeBytes(bytes: number): string {
  return bytes % (1024 * 1024) === 0 ? `${bytes / (1024 * 1024)} MiB` : `${bytes} bytes`;
}
