import {
  describeAddress,
  FAULT_NAMES,
  SupervisorFault,
  SupervisorUnavailable,
  type SupervisorAddress,
} from "./supervisor.errors.js";

/** What the `xmlrpc` package hands a callback when a call fails. */
export interface XmlRpcError extends Error {
  code?: string | number;
  faultCode?: number;
  faultString?: string;
  /** The HTTP response, when there was one (the package attaches it). */
  res?: { statusCode?: number };
}

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

/** Any failed call as a {@link SupervisorFault} or a {@link SupervisorUnavailable}. */
export function translateCallError(
  address: SupervisorAddress,
  method: string,
  error: XmlRpcError,
): SupervisorFault | SupervisorUnavailable {
  const where = `supervisord at ${describeAddress(address)}`;
  if (typeof error.faultCode === "number") return toFault(address, error.faultCode, error.faultString ?? "", method);
  const status = error.res?.statusCode;
  if (status === 401) {
    return new SupervisorUnavailable(address, "unauthorized", `${where} rejected the credentials (HTTP 401)`);
  }
  if (status !== undefined && status !== 200) {
    return new SupervisorUnavailable(
      address,
      "protocol",
      `${where} answered ${method} with HTTP ${status}, not XML-RPC`,
    );
  }
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
      break;
  }
  if (error.message === "socket hang up") {
    return new SupervisorUnavailable(address, "reset", `${where} closed the connection during ${method}`);
  }
  return new SupervisorUnavailable(
    address,
    "protocol",
    `${where} did not answer ${method} with XML-RPC (${error.message.split("\n")[0]})`,
  );
}
