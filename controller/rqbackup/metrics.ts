// The backup metrics, in the controller's registry. The last-success gauge is derived purely from
// the objects (lastSuccessBy) so that it says the same after an operator restart.
import type { Registry } from "prom-client";
import type { RqCluster } from "../../shared/index.js";
import { counter, gauge, histogram } from "../runtime/metrics.js";
import type { RqBackup } from "./types.js";

export type BackupMetrics = ReturnType<typeof backupMetrics>;

export function backupMetrics(r: Registry) {
  return {
    lastSuccess: gauge(
      r,
      "rqlite_operator_backup_last_success_timestamp_seconds",
      "When a cluster's newest backup succeeded (rqlite's auto-backup upload or a Completed RqBackup), as Unix seconds",
      ["namespace", "cluster"],
    ),
    duration: histogram(
      r,
      "rqlite_operator_backup_duration_seconds",
      "Time one RqBackup attempt took, from the leader's first byte to the object in place",
      ["namespace", "cluster", "result"],
      [1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1200, 1800, 3600],
    ),
    bytes: counter(
      r,
      "rqlite_operator_backup_bytes_total",
      "Bytes of completed RqBackups written to their destination",
      ["namespace", "cluster"],
    ),
    attempts: counter(r, "rqlite_operator_backup_attempts_total", "RqBackup attempts, by how they ended", [
      "namespace",
      "cluster",
      "result",
    ]),
    verified: gauge(
      r,
      "rqlite_operator_backup_verified",
      "Whether the newest verified-or-failed verification of a cluster's RqBackups proved its backup restores (1) or found it damaged (0)",
      ["namespace", "cluster"],
    ),
    lastVerified: gauge(
      r,
      "rqlite_operator_backup_last_verified_timestamp_seconds",
      "When a backup of the cluster was last proven to restore (an RqBackup's verification), as Unix seconds",
      ["namespace", "cluster"],
    ),
    verifications: counter(
      r,
      "rqlite_operator_backup_verifications_total",
      "Verifications of RqBackups, by how they ended (verified, failed, skipped, retry)",
      ["namespace", "cluster", "result"],
    ),
  };
}

export interface VerificationGauges {
  /** The newest conclusive verification of each cluster ("namespace/name"): true when it passed. */
  verified: Map<string, boolean>;
  /** The newest passed verification of each cluster, as Unix seconds. */
  lastVerified: Map<string, number>;
}

/**
 * The verification gauges from the objects alone, so they say the same after a restart. The
 * newest conclusive verification counts, by when it ended: a damaged backup keeps the gauge at 0
 * until a newer one is proven. Only existing clusters count.
 */
export function verificationBy(clusters: RqCluster[], backups: RqBackup[]): VerificationGauges {
  const known = new Set(clusters.map((c) => `${c.metadata!.namespace}/${c.metadata!.name}`));
  const newest = new Map<string, { at: number; ok: boolean }>();
  const lastVerified = new Map<string, number>();
  for (const b of backups) {
    const key = `${b.metadata!.namespace}/${b.spec?.cluster}`;
    const v = b.status?.verification;
    const at = v?.verifiedAt ? Date.parse(v.verifiedAt) / 1000 : NaN;
    if (!known.has(key) || !Number.isFinite(at) || (v?.result !== "Verified" && v?.result !== "Failed")) continue;
    const ok = v.result === "Verified";
    if (at >= (newest.get(key)?.at ?? -Infinity)) newest.set(key, { at, ok });
    if (ok && at > (lastVerified.get(key) ?? -Infinity)) lastVerified.set(key, at);
  }
  return { verified: new Map([...newest].map(([k, v]) => [k, v.ok])), lastVerified };
}

/**
 * The newest successful backup of each cluster ("namespace/name" -> Unix seconds): the cluster's
 * own status.backup.lastSuccessfulTime (auto-backup uploads and RqBackups, kept by the RqCluster
 * controller) or the newest Completed RqBackup, whichever is later. Only existing clusters count.
 */
export function lastSuccessBy(clusters: RqCluster[], backups: RqBackup[]): Map<string, number> {
  const out = new Map<string, number>();
  const consider = (key: string, time: string | undefined) => {
    const t = time ? Date.parse(time) / 1000 : NaN;
    if (Number.isFinite(t) && t > (out.get(key) ?? -Infinity)) out.set(key, t);
  };
  const known = new Set(clusters.map((c) => `${c.metadata!.namespace}/${c.metadata!.name}`));
  for (const c of clusters) {
    consider(`${c.metadata!.namespace}/${c.metadata!.name}`, c.status?.backup?.lastSuccessfulTime);
  }
  for (const b of backups) {
    const key = `${b.metadata!.namespace}/${b.spec?.cluster}`;
    if (b.status?.phase === "Completed" && known.has(key)) consider(key, b.status.completedAt);
  }
  return out;
}
