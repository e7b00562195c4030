/**
 * The registry's `status` column. The values are the column's ENUM values (lower case,
 * as the guide's DDL defines them); GraphQL exposes the member names.
 */
export enum ProcessStatus {
  STOPPED = "stopped",
  STARTING = "starting",
  RUNNING = "running",
  STOPPING = "stopping",
  ERROR = "error",
}

export const PROCESS_STATUSES: readonly ProcessStatus[] = Object.values(ProcessStatus);
