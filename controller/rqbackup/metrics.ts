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
  };
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
