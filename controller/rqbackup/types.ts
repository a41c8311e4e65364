// The RqBackup resource as this controller reads and writes it: the generated types from shared/
// (one schema for the CRD and the types), plus the one status field the controller keeps for
// its retry backoff.
import type { KubernetesObject } from "@kubernetes/client-node";
import type { RqBackup as GeneratedRqBackup, RqBackupStatus as GeneratedStatus } from "../../shared/index.js";

export type BackupFormat = "binary" | "sql";

export interface RqBackupStatus extends GeneratedStatus {
  /** When the last failed attempt ended; the retry backoff counts from it. */
  lastAttemptTime?: string;
}

export type RqBackup = KubernetesObject & Omit<GeneratedRqBackup, "status"> & { status?: RqBackupStatus };
