// Pure decisions for backups and restores: the config Secret to keep in step, which uploads
// retention deletes, which object "latest" means. No I/O, no clock: the caller passes `now`.
import { backupConfigSecretName } from "../../../shared/backup-names.js";
import { durationSeconds } from "../../../shared/backup-schema.js";
import { SECRET } from "../ports.js";
import { renderBackupConfigSecret } from "../render/backup.js";
import type { Action, Observed } from "./types.js";
import type { RqBackup } from "../../../shared/types.generated.js";

/**
 * Creates the config Secret, or patches it to the rendered files. A Secret no longer needed
 * (backups turned off) stays, owned by the cluster, until the cluster goes: it holds no
 * credential, and the Pods that still mount it until they roll need it to start.
 */
export function planBackupSecret(o: Observed): Action[] {
  const desired = renderBackupConfigSecret(o.cluster);
  const live = o.backupConfig;
  if (!desired || !live) return [];
  const name = backupConfigSecretName(o.cluster.name);
  if (!live.exists) {
    return [{ type: "create", object: desired, reason: "Created", message: `created Secret ${name}` }];
  }
  const wanted = desired.data!;
  const current = Object.fromEntries(Object.entries(live.data).map(([k, v]) => [k, Buffer.from(v).toString("base64")]));
  const differs = Object.keys(wanted).some((k) => wanted[k] !== current[k]);
  if (!differs) return [];
  return [
    {
      type: "patch",
      target: { ...SECRET, name },
      patch: { data: wanted },
      reason: "Updated",
      message: `updated Secret ${name}: rqlite's auto-backup/auto-restore configuration`,
    },
  ];
}

/** One object in the bucket, as a listing gives it. */
export interface StoredObject {
  key: string;
  /** Epoch ms. */
  lastModified: number;
  size?: number;
}

/** rqlite's timestamped name: <dir>/<YYYYMMDDHHMMSS>_<name> for path <dir>/<name> (auto/aws TimestampedPath). */
export function timestampedKeyPattern(path: string): RegExp {
  const cut = path.lastIndexOf("/");
  const dir = cut >= 0 ? path.slice(0, cut + 1) : "";
  const base = path.slice(cut + 1);
  const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  return new RegExp(`^${esc(dir)}(\\d{14})_${esc(base)}$`);
}

/** The folder to list for a path's uploads. */
export function listPrefix(path: string): string {
  const cut = path.lastIndexOf("/");
  return cut >= 0 ? path.slice(0, cut + 1) : "";
}

/** Epoch ms of a YYYYMMDDHHMMSS UTC stamp. */
function stampMs(stamp: string): number {
  const [y, mo, d, h, mi, s] = [0, 4, 6, 8, 10, 12].map((i, n) => Number(stamp.slice(i, i + (n === 0 ? 4 : 2))));
  return Date.UTC(y!, mo! - 1, d, h, mi, s);
}

export interface RetentionPlan {
  /** Keys to delete, oldest first. */
  remove: string[];
  /** rqlite's uploads that stay, newest first. */
  keep: string[];
}

/**
 * Which of rqlite's timestamped uploads of `path` to delete: beyond the newest `keepLast`, and
 * older than `maxAge`; the newest upload is never deleted, whatever maxAge says, so a cluster
 * whose database stopped changing (rqlite then skips uploads) keeps its last backup. Objects
 * that are not rqlite's uploads of this path are never touched.
 */
export function planRetention(
  objects: readonly StoredObject[],
  path: string,
  retention: { keepLast?: number; maxAge?: string },
  now: number,
): RetentionPlan {
  const pattern = timestampedKeyPattern(path);
  const uploads = objects
    .map((o) => ({ o, m: pattern.exec(o.key) }))
    .filter((x): x is { o: StoredObject; m: RegExpExecArray } => x.m !== null)
    .map(({ o, m }) => ({ key: o.key, at: stampMs(m[1]!) }))
    .sort((a, b) => b.at - a.at || (a.key < b.key ? 1 : -1));
  const maxAgeMs = retention.maxAge !== undefined ? (durationSeconds(retention.maxAge) ?? Infinity) * 1000 : Infinity;
  const keepLast = retention.keepLast ?? Infinity;
  const keep: string[] = [];
  const remove: string[] = [];
  uploads.forEach((u, i) => {
    const tooMany = i >= keepLast;
    const tooOld = i > 0 && now - u.at > maxAgeMs;
    (tooMany || tooOld ? remove : keep).push(u.key);
  });
  return { remove: remove.reverse(), keep };
}

/** completedAt of the newest Completed RqBackup of `cluster`, for status.backup.lastSuccessfulTime. */
export function newestCompletedBackup(backups: readonly RqBackup[], cluster: string): string | undefined {
  return backups
    .filter((b) => b.spec?.cluster === cluster && b.status?.phase === "Completed" && b.status.completedAt)
    .map((b) => b.status!.completedAt!)
    .sort((a, b) => Date.parse(b) - Date.parse(a))[0];
}

/** The newest object under a prefix, by modification time (then key), for restore's "latest". */
export function latestObject(objects: readonly StoredObject[]): StoredObject | undefined {
  return [...objects]
    .filter((o) => !o.key.endsWith("/"))
    .sort((a, b) => b.lastModified - a.lastModified || (a.key < b.key ? 1 : -1))[0];
}
