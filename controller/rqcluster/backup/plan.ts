// Pure decisions for backups and restores: the config Secret to keep in step, when retention is
// due and which uploads it deletes (as actions apply performs), which object "latest" means, what
// a restore source names. No I/O, no clock: the caller passes `now` and what was read.
import type { V1PersistentVolumeClaim } from "@kubernetes/client-node";
import {
  backupConfigSecretName,
  parsePvcLocation,
  pvcLocation,
  restoreFileProblem,
} from "../../../shared/backup-names.js";
import { DNS1123_SUBDOMAIN_PATTERN } from "../../../shared/k8s-names.js";
import { durationSeconds } from "../../../shared/backup-schema.js";
import { joinKey, LATEST_KEY, parseRfc3339, parseS3Location } from "../../../shared/index.js";
import { voterName, parseMemberName } from "../../../shared/names.js";
import type { ClusterRestoreSpec, RqBackup } from "../../../shared/types.generated.js";
import type { ClusterView } from "../render/cluster.js";
import type { StoredObject } from "../../access/s3.js";
import type { RestoreCounts } from "../../rqlite/client.js";
import type { Action, Need, Observed, Wait } from "../plan/types.js";
import { s3Connection, type S3Connection } from "../../access/s3Connection.js";
import {
  backupConnection,
  isPvcRestore,
  renderBackupConfigSecret,
  RESTORE_SOURCE_FILE,
  type PvcRestore,
} from "./render.js";

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
  const wanted = desired.data!;
  const current = Object.fromEntries(Object.entries(live.data).map(([k, v]) => [k, Buffer.from(v).toString("base64")]));
  // The write that fixes the restore source is where a choice the spec left to the operator
  // (a time, not an object) is told, once, as its Event.
  const chosen = o.cluster.restore?.chosen;
  const choosing = chosen !== undefined && wanted[RESTORE_SOURCE_FILE] !== current[RESTORE_SOURCE_FILE];
  const why = (done: string) =>
    choosing
      ? {
          reason: "RestoreSourceChosen",
          message: `chose ${o.cluster.restore!.location} to restore: ${chosen}; ${done}`,
        }
      : undefined;
  if (!live.exists) {
    return [
      {
        type: "create",
        object: desired,
        ...(why(`created Secret ${name}`) ?? { reason: "Created", message: `created Secret ${name}` }),
      },
    ];
  }
  const differs = Object.keys(wanted).some((k) => wanted[k] !== current[k]);
  if (!differs) return [];
  const done = `updated Secret ${name}: rqlite's auto-backup/auto-restore configuration`;
  return [{ type: "apply", object: desired, ...(why(done) ?? { reason: "Updated", message: done }) }];
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

const RETENTION_MIN_PERIOD_MS = 30_000;
const RETENTION_MAX_PERIOD_MS = 10 * 60_000;

/** How often retention lists the folder between uploads: the upload interval, within bounds. */
function retentionPeriodMs(interval: string): number {
  const ms = (durationSeconds(interval) ?? 3600) * 1000;
  return Math.min(Math.max(ms, RETENTION_MIN_PERIOD_MS), RETENTION_MAX_PERIOD_MS);
}

/**
 * How soon to look at a cluster with spec.backup again: rqlite's uploads bring no watch event,
 * so status.backup and retention follow them only by looking.
 */
export function backupRecheckMs(c: ClusterView): number | undefined {
  return c.spec.backup ? retentionPeriodMs(c.spec.backup.interval) : undefined;
}

/**
 * Retention is due after a new upload, or once a period. Paused clusters are only observed.
 * Without timestamps rqlite overwrites one object: nothing to retain.
 */
function retentionDue(o: Observed): boolean {
  const backup = o.cluster.spec.backup;
  if (!backup?.retention || !backup.timestamp || o.cluster.spec.paused) return false;
  const r = o.backupReadings ?? {};
  const u = r.uploads;
  const p = r.previousUploads;
  const uploaded = u !== undefined && (u.node !== p?.node || u.ok > p.ok);
  return uploaded || r.lastRetentionAt === undefined || o.now - r.lastRetentionAt >= retentionPeriodMs(backup.interval);
}

/**
 * The founding voters that run while spec.restore is not done and no founding volume was
 * adopted: rqlite's auto-restore counters on them say whether the load happened.
 */
export function restoreCountsFrom(o: Observed, bootstrapExpect: number): string[] {
  const c = o.cluster;
  // A claim's file is loaded by the loader Pod (./loader.ts), which reports the outcome itself.
  if (!c.spec.restore || o.restoreDone || isPvcRestore(c.restore)) return [];
  if (adoptedFoundingVolumes(c, o.pvcs, bootstrapExpect).length > 0) return [];
  return o.pods
    .filter((p) => p.status?.podIP && !p.metadata?.deletionTimestamp)
    .map((p) => p.metadata!.name!)
    .filter((name) => {
      const m = parseMemberName(c.name, name);
      return m?.role === "voter" && m.ordinal < bootstrapExpect;
    });
}

/** The Restored condition's reason once rqlite counted a failed load: it stays until a load is counted. */
export const RESTORE_LOAD_FAILED = "RestoreLoadFailed";

/** What settles spec.restore, from what was read this reconcile and what status recorded. */
export interface RestoreEvidence {
  /** The founding voters' auto-restore counters that answered. */
  counts: ReadonlyMap<string, RestoreCounts>;
  /** The Raft leader's store.db_applied_index. */
  leaderData?: { leader: string; dbAppliedIndex: number } | undefined;
  /** The Restored condition's reason as status last recorded it. */
  previousReason?: string | undefined;
}

export type RestoreOutcome =
  /** rqlite on `node` counted the load (store.num_auto_restores). */
  | { kind: "loaded"; node: string }
  /**
   * The counters are gone (the node that loaded restarted, or a status was lost), and the leader's
   * database has been changed through Raft: only the load does that before the cluster serves.
   */
  | { kind: "loadedByData"; leader: string; dbAppliedIndex: number }
  /** rqlite on `node` counted a failed load, now or (no `node`) as status recorded it. */
  | { kind: "loadFailed"; node?: string }
  | { kind: "pending" };

/**
 * Whether the founding voters' load of spec.restore happened. rqlite counts it in memory only
 * (the first leader loads, the others skip), so a leader that restarts before it is read answers
 * zeros and no counter can settle it again. The durable fact is the Raft log itself: the load is a
 * Raft command that changes the database, and each node rebuilds its db_applied_index from the
 * log and snapshots at start. While spec.restore is pending no founding voter is Ready before its
 * own restore attempt is over (rqlited holds readiness until then), so no Service sends a client
 * a node before the load, and on the leader a db_applied_index above 0 is the load. Not after a
 * counted failure, though: the Pods are Ready then, and a client's write would read as a load;
 * that failure is remembered for this reason.
 */
export function restoreOutcome(e: RestoreEvidence): RestoreOutcome {
  const counts = [...e.counts];
  const loaded = counts.find(([, n]) => n.restored > 0);
  if (loaded) return { kind: "loaded", node: loaded[0] };
  const failed = counts.find(([, n]) => n.failed > 0);
  if (failed) return { kind: "loadFailed", node: failed[0] };
  if (e.previousReason === RESTORE_LOAD_FAILED) return { kind: "loadFailed" };
  const data = e.leaderData;
  if (data && data.dbAppliedIndex > 0) return { kind: "loadedByData", ...data };
  return { kind: "pending" };
}

/**
 * A restore source that cannot be read holds every node back, unless the data is in already
 * (Restored) or the founding voters' volumes were adopted (no restore at all).
 */
export function restoreSourceHold(o: Observed, bootstrapExpect: number): Wait | undefined {
  if (!o.restoreProblem || o.restoreDone) return undefined;
  if (adoptedFoundingVolumes(o.cluster, o.pvcs, bootstrapExpect).length > 0) return undefined;
  return {
    reason: "RestoreSourceUnavailable",
    message: `cannot restore: ${o.restoreProblem}. No node is created until the source can be read`,
    warning: true,
  };
}

/** What spec.backup and spec.restore need read before the plan can decide, and was not read yet. */
export function backupNeeds(o: Observed, bootstrapExpect: number): Need[] {
  const needs: Need[] = [];
  const nodes = o.restoreCounts === undefined ? restoreCountsFrom(o, bootstrapExpect) : [];
  if (nodes.length > 0) needs.push({ type: "restoreCounts", nodes, ...(o.raft ? { leader: o.raft.leader } : {}) });
  if (o.retentionListing === undefined && retentionDue(o)) needs.push({ type: "retentionListing" });
  return needs;
}

/** The uploads retention deletes, one action each, oldest first, from the listing the plan asked for. */
export function planRetentionDeletes(o: Observed): Action[] {
  const backup = o.cluster.spec.backup;
  const listing = o.retentionListing;
  if (!backup?.retention || !listing || !("objects" in listing)) return [];
  const decision = planRetention(listing.objects, backup.s3.path, backup.retention, o.now);
  const connection = backupConnection(backup);
  return decision.remove.map((key) => ({
    type: "deleteBackupObject" as const,
    connection,
    key,
    reason: "BackupRetention",
    message: `retention deleted s3 object ${key}`,
  }));
}

/** rqlite's uploads retention keeps, once the deletes it plans are done. */
export function retainedCount(o: Observed): number | undefined {
  const backup = o.cluster.spec.backup;
  const listing = o.retentionListing;
  if (!backup?.retention || !listing || !("objects" in listing)) return undefined;
  return planRetention(listing.objects, backup.s3.path, backup.retention, o.now).keep.length;
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

/**
 * Where to look: one key, the newest object under a folder, or the newest backup in a folder taken
 * before a time (epoch ms; ./before.ts).
 */
export type RestoreTarget = S3Connection & { describe: string } & (
    { key: string } | { latestUnder: string } | { before: number; folder: string }
  );

/**
 * The target of spec.restore, or a problem a person must fix. `backup` is the RqBackup that
 * spec.restore.backup names, as read (undefined when it does not exist).
 */
export function restoreTarget(
  restore: ClusterRestoreSpec,
  namespace: string,
  backup: RqBackup | undefined,
): RestoreTarget | PvcRestore | { problem: string } {
  if (restore.pvc) {
    // Admission refused these; an object it never saw is refused here the same way.
    const { claimName, path } = restore.pvc;
    if (!new RegExp(DNS1123_SUBDOMAIN_PATTERN).test(claimName))
      return { problem: `spec.restore.pvc.claimName: "${claimName}" is not a claim's name` };
    const problem = restoreFileProblem(path);
    if (problem) return { problem: `spec.restore.pvc.path: "${path}" ${problem}` };
    return { location: pvcLocation(claimName, path), claimName, file: path };
  }
  if (restore.s3) {
    const s3 = restore.s3;
    const conn = s3Connection(s3);
    const joined = joinKey(s3.path ?? "");
    const folder = joined === "" ? "" : `${joined}/`;
    if (s3.before !== undefined) {
      // Admission refused any other spelling; an object it never saw is refused here the same way.
      const before = parseRfc3339(s3.before);
      if (before === undefined)
        return { problem: `spec.restore.s3.before: "${s3.before}" is not an RFC 3339 time with its offset` };
      return {
        ...conn,
        before,
        folder,
        describe: `the newest backup in s3://${s3.bucket}/${folder} taken before ${s3.before}`,
      };
    }
    if (s3.key === LATEST_KEY) {
      return { ...conn, latestUnder: folder, describe: `the newest object under s3://${s3.bucket}/${folder}` };
    }
    if (s3.key === undefined) return { problem: "spec.restore.s3 names no object: set key or before" };
    return { ...conn, key: s3.key, describe: `s3://${s3.bucket}/${s3.key}` };
  }
  const name = restore.backup;
  if (!name) return { problem: "spec.restore names no source: set backup or s3" };
  const where = `RqBackup ${namespace}/${name} (spec.restore.backup)`;
  if (!backup) return { problem: `${where} does not exist` };
  const phase = backup.status?.phase ?? "Pending";
  if (phase === "Failed")
    return { problem: `${where} Failed (${backup.status?.reason ?? "no reason given"}); name a Completed backup` };
  if (phase !== "Completed") return { problem: `${where} is ${phase}; the restore starts once it is Completed` };
  // Read back and found damaged (spec.verify): restoring it would load what the check refused.
  if (backup.status?.verification?.result === "Failed")
    return {
      problem: `${where} failed verification (${backup.status.verification.message ?? "no message"}); name a backup that restores`,
    };
  if ((backup.spec?.format ?? "binary") !== "binary")
    return {
      problem: `${where} has format ${backup.spec?.format}; only binary backups restore (rqlite's auto-restore loads an SQLite file)`,
    };
  const location = backup.status?.location;
  const inClaim = location ? parsePvcLocation(location) : undefined;
  if (backup.spec?.destination?.pvc && inClaim) {
    if (inClaim.claimName !== backup.spec.destination.pvc.claimName)
      return {
        problem: `${where} says it is at ${location}, not in its claim ${backup.spec.destination.pvc.claimName}; name another backup`,
      };
    const { size, sha256 } = backup.status ?? {};
    return {
      location: location!,
      ...inClaim,
      ...(typeof size === "number" && typeof sha256 === "string" ? { expect: { size, sha256 } } : {}),
    };
  }
  const dest = backup.spec?.destination?.s3;
  const at = location ? parseS3Location(location) : undefined;
  if (!dest || !at)
    return {
      problem: `${where} has no location the operator can restore from (${location ?? "unset"}); name a Completed S3 or pvc backup`,
    };
  return {
    ...s3Connection({ ...dest, bucket: at.bucket }),
    key: at.key,
    describe: `${backup.status!.location} (RqBackup ${name})`,
  };
}

/**
 * The founding voters' PVCs that are older than the cluster: kept (reclaimPolicy Retain) from an
 * earlier cluster of the same name and adopted. They hold that cluster's data and Raft state, and
 * rqlite loads no backup into a node with data, so such a cluster does not restore at all.
 */
export function adoptedFoundingVolumes(
  c: ClusterView,
  pvcs: readonly V1PersistentVolumeClaim[],
  bootstrapExpect: number,
): string[] {
  if (!c.createdAt) return [];
  const created = Date.parse(c.createdAt);
  const founding = new Set(Array.from({ length: bootstrapExpect }, (_, i) => voterName(c.name, i)));
  return pvcs
    .filter((p) => founding.has(p.metadata?.name ?? ""))
    .filter((p) => {
      const at = p.metadata?.creationTimestamp;
      // Timestamps have whole seconds: one made in the cluster's first second is its own.
      return at !== undefined && Date.parse(String(at instanceof Date ? at.toISOString() : at)) < created;
    })
    .map((p) => p.metadata!.name!)
    .sort();
}

/**
 * spec.restore is still to be loaded: it resolved, it is not done, and no founding volume was
 * adopted. Only then does a founding voter's new Pod start with -auto-restore.
 */
export function restorePending(
  c: ClusterView,
  restoreDone: boolean,
  pvcs: readonly V1PersistentVolumeClaim[],
  bootstrapExpect: number,
): boolean {
  return (
    c.spec.restore !== undefined &&
    c.restore !== undefined &&
    !restoreDone &&
    adoptedFoundingVolumes(c, pvcs, bootstrapExpect).length === 0
  );
}
