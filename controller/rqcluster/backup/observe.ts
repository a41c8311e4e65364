// The I/O of spec.backup and spec.restore in one reconcile: the live config Secret, the
// credentials Secret, the restore source (resolved once, then read back from the config Secret),
// the leader's upload counters and the newest RqBackup; and, when the plan asks for them, the
// founding voters' restore counters and the listing retention judges. The decisions are pure
// (./plan.ts, ./status.ts); retention's deletes are actions ../apply.ts performs.
import type { V1PersistentVolumeClaim } from "@kubernetes/client-node";
import type { RqBackup } from "../../../shared/types.generated.js";
import { BACKUP_KIND, formatErrors, GROUP, s3Location, validateBackup } from "../../../shared/index.js";
import { backupConfigSecretName } from "../../../shared/backup-names.js";
import type { ClusterRqlite } from "../../rqlite/adapter.js";
import type { RestoreCounts } from "../../rqlite/client.js";
import type { Writer } from "../../runtime/writer.js";
import type { SecretProblem } from "../../access/clusterView.js";
import type { BackupReadings, Observed, Wait } from "../plan/types.js";
import type { ClusterView } from "../render/cluster.js";
import {
  connectionRefusal,
  describeS3Error,
  headObject,
  listObjects,
  s3ClientFor,
  type S3Gate,
  type StoredObject,
} from "../../access/s3.js";
import { latestObject, listPrefix, newestCompletedBackup, restoreTarget } from "./plan.js";
import { credentialsOf } from "../../access/s3Connection.js";
import { newestBefore } from "./before.js";
import { backupConnection, parseResolvedRestore, RESTORE_SOURCE_FILE, type ResolvedRestore } from "./render.js";

export type ReadBackup = (namespace: string, name: string) => Promise<RqBackup | undefined>;
export type ListBackups = (namespace: string) => Promise<RqBackup[]>;
export type ReadClaim = (namespace: string, name: string) => Promise<V1PersistentVolumeClaim | undefined>;

export interface BackupObservation {
  /** The cluster with spec.restore resolved, when it could be. */
  cluster: ClusterView;
  backupConfig?: Observed["backupConfig"];
  holds: Wait[];
  /** Why spec.restore cannot be resolved, for the Restored condition. */
  restoreProblem?: string;
  /** spec.backup's credentials Secret, when it is missing or lacks a key. */
  secretProblems: SecretProblem[];
}

/**
 * The config Secret, the credentials Secret, and spec.restore's source: resolved once, then read
 * back from the config Secret. Whether a source that cannot be read holds anything back is the
 * plan's to say (a restore done or skipped needs none).
 */
export async function observeBackup(
  deps: RestoreDeps & {
    restoreRetries?: RestoreRetries;
    now?: number;
    /** The object spec.restore must resolve to, when it is fixed already (a recovery's backup). */
    restoreLocation?: string;
  },
  c: ClusterView,
): Promise<BackupObservation> {
  const { backup, restore } = c.spec;
  if (!backup && !restore) return { cluster: c, holds: [], secretProblems: [] };
  const name = backupConfigSecretName(c.name);
  const live = await deps.writer.readSecret(c.self, name);
  if (live && !live.owners.includes(c.uid)) {
    const message = `Secret ${c.namespace}/${name} exists and is not owned by this RqCluster; the operator keeps rqlite's backup configuration there, so it leaves that Secret alone and waits: rename or delete it`;
    return { cluster: c, holds: [{ reason: "AdoptionConflict", message, warning: true }], secretProblems: [] };
  }
  const backupConfig = { exists: live !== undefined, data: live?.data ?? {} };

  // The webhook refused these already; an object it never saw (created before the policy, or
  // while the webhook was down) still renders nothing for rqlited to send anywhere.
  const refusal = backup && connectionRefusal(deps.s3, c.namespace, backup.s3, "spec.backup.s3");
  if (refusal) {
    return {
      cluster: c,
      holds: [{ reason: "BackupS3Refused", message: `${refusal}. No Pod changes until then`, warning: true }],
      secretProblems: [],
    };
  }

  // Missing credentials stop the uploads and retention only (the Pods take them as optional env,
  // so they start without them): Pods are still created, replaced and rolled.
  const secretProblems: SecretProblem[] = [];
  const ref = backup?.s3.credentialsSecret && credentialsOf(backup.s3.credentialsSecret);
  if (ref) {
    const secret = await deps.writer.readSecret(c.self, ref.name);
    const missing = [ref.accessKeyIdKey, ref.secretAccessKeyKey].filter((k) => !secret?.data[k]);
    if (!secret || missing.length > 0) {
      const what = !secret ? "does not exist" : `has no key ${missing.join(" or ")}`;
      secretProblems.push({
        reason: "BackupCredentialsMissing",
        message: `Secret ${c.namespace}/${ref.name} (spec.backup.s3.credentialsSecret) ${what}; scheduled backups and retention fail until it has keys ${ref.accessKeyIdKey} and ${ref.secretAccessKeyKey}`,
      });
    }
  }

  let cluster = c;
  let restoreProblem: string | undefined;
  if (restore) {
    const read = parseResolvedRestore(live?.data[RESTORE_SOURCE_FILE]);
    const kept =
      read && (deps.restoreLocation === undefined || read.location === deps.restoreLocation) ? read : undefined;
    const resolved = kept ? { resolved: kept } : await resolveRestoreWithRetries(deps, c, restore);
    if (
      "resolved" in resolved &&
      deps.restoreLocation !== undefined &&
      resolved.resolved.location !== deps.restoreLocation
    )
      restoreProblem = `RqBackup ${restore.backup} is at ${resolved.resolved.location} now, not at ${deps.restoreLocation} where the recovery chose it; ask for a new recovery`;
    else if ("resolved" in resolved) cluster = { ...c, restore: resolved.resolved };
    else restoreProblem = resolved.problem;
  }
  return { cluster, backupConfig, holds: [], secretProblems, ...(restoreProblem ? { restoreProblem } : {}) };
}

/**
 * A restore source that could not be resolved is asked again after a wait, not on every resync: a
 * source that fails (a listing that never ends, a server down, a missing key) costs an S3 round
 * of requests each time, and the operator must not hammer it. The wait starts at
 * RESTORE_RETRY_BASE_MS and doubles to RESTORE_RETRY_MAX_MS; a changed spec.restore asks at once.
 */
async function resolveRestoreWithRetries(
  deps: RestoreDeps & { restoreRetries?: RestoreRetries; now?: number },
  c: ClusterView,
  restore: object,
): Promise<{ resolved: ResolvedRestore } | { problem: string }> {
  const retries = deps.restoreRetries;
  const now = deps.now ?? Date.now();
  const source = JSON.stringify(restore);
  const waiting = retries?.waiting(c.uid, source, now);
  if (waiting) return { problem: waiting };
  const resolved = await resolveRestore(deps, c);
  if ("problem" in resolved) retries?.failed(c.uid, source, resolved.problem, now);
  else retries?.forget(c.uid);
  return resolved;
}

/** What resolving spec.restore reads: Secrets, S3, the RqBackup it names, the claim it names. */
export interface RestoreDeps {
  writer: Writer;
  s3: S3Gate;
  readBackup?: ReadBackup;
  readClaim?: ReadClaim;
}

export const RESTORE_RETRY_BASE_MS = 5_000;
export const RESTORE_RETRY_MAX_MS = 60_000;

/**
 * The restore sources that failed to resolve, by cluster uid, and when each is asked again. The
 * controller keeps one for the process and passes it in, with the clock.
 */
export class RestoreRetries {
  private readonly failures = new Map<string, { source: string; problem: string; count: number; retryAt: number }>();

  /**
   * The last problem while the same source waits, else undefined. Said as it was, with no
   * countdown, so the status it goes into does not change (and is not written) on every resync.
   */
  waiting(uid: string, source: string, now: number): string | undefined {
    const f = this.failures.get(uid);
    if (!f || f.source !== source || now >= f.retryAt) return undefined;
    return f.problem;
  }

  failed(uid: string, source: string, problem: string, now: number): void {
    const before = this.failures.get(uid);
    const count = before?.source === source ? before.count + 1 : 1;
    const wait = Math.min(RESTORE_RETRY_MAX_MS, RESTORE_RETRY_BASE_MS * 2 ** (count - 1));
    this.failures.set(uid, { source, problem, count, retryAt: now + wait });
  }

  forget(uid: string): void {
    this.failures.delete(uid);
  }
}

/**
 * When retention last listed each cluster's folder (epoch ms by cluster uid). A pass lists the
 * bucket, so ./plan.ts has it run at most once a period between uploads. The controller keeps one
 * for the process and passes it in: the state lives in an object the caller owns, never in a module.
 */
export class RetentionSchedule {
  private readonly last = new Map<string, number>();
  lastRun(uid: string): number | undefined {
    return this.last.get(uid);
  }
  record(uid: string, at: number): void {
    this.last.set(uid, at);
  }
  forget(uid: string): void {
    this.last.delete(uid);
  }
}

/**
 * What spec.backup's status follows, read every reconcile: the leader's upload counters (rqlite's
 * uploads bring no watch event) and the newest Completed RqBackup. Never throws: a reading that
 * fails is taken again next time, and status keeps what it has.
 */
export async function readBackupReadings(
  deps: { rqlite: ClusterRqlite; schedule: RetentionSchedule; listBackups?: ListBackups | undefined },
  c: ClusterView,
  leader: string | undefined,
  /** status.backup.uploader as last written. */
  previous: { node?: string; ok?: number; fail?: number } | undefined,
): Promise<BackupReadings> {
  const rqBackupCompletedAt = await newestRqBackup(deps.listBackups, c);
  const common = {
    ...(rqBackupCompletedAt ? { rqBackupCompletedAt } : {}),
    ...(previous?.node
      ? { previousUploads: { node: previous.node, ok: previous.ok ?? 0, fail: previous.fail ?? 0 } }
      : {}),
  };
  if (!c.spec.backup) {
    deps.schedule.forget(c.uid);
    return common;
  }
  const lastRetentionAt = deps.schedule.lastRun(c.uid);
  let uploads: BackupReadings["uploads"];
  if (leader) {
    try {
      const read = await deps.rqlite.nodeStats(leader, true);
      if (read.uploads) uploads = { node: leader, ...read.uploads };
    } catch {
      // The counters are read again next time; status keeps the last reading.
    }
  }
  return { ...common, ...(uploads ? { uploads } : {}), ...(lastRetentionAt !== undefined ? { lastRetentionAt } : {}) };
}

async function newestRqBackup(list: ListBackups | undefined, c: ClusterView): Promise<string | undefined> {
  if (!list) return undefined;
  try {
    return newestCompletedBackup(await list(c.namespace), c.name);
  } catch {
    // Read again next time; status keeps what it has.
    return undefined;
  }
}

/**
 * rqlite's own auto-restore counters of the founding voters the plan names (the first leader
 * counts the load, the others a skip). Counters start at zero with each process, so the plan asks
 * until the Restored condition records the outcome. A node that does not answer is left out.
 */
export async function readRestoreCounts(rqlite: ClusterRqlite, nodes: string[]): Promise<Map<string, RestoreCounts>> {
  const read = await Promise.all(
    nodes.map((n) =>
      rqlite.restoreCounts(n).then(
        (counts): [string, RestoreCounts] => [n, counts],
        // Still downloading (no HTTP server yet) or restarting: asked again next time.
        () => undefined,
      ),
    ),
  );
  return new Map(read.filter((r) => r !== undefined));
}

/**
 * The Raft leader's store.db_applied_index (/status), the durable half of the restore's evidence;
 * undefined when the leader does not answer or does not report it (asked again next time).
 */
export async function readLeaderData(
  rqlite: ClusterRqlite,
  leader: string,
): Promise<{ leader: string; dbAppliedIndex: number } | undefined> {
  try {
    const { stats } = await rqlite.nodeStats(leader, false);
    return stats.dbAppliedIndex === undefined ? undefined : { leader, dbAppliedIndex: stats.dbAppliedIndex };
  } catch {
    return undefined;
  }
}

/** spec.backup's folder as S3 lists it, for retention; what fails is said for status.backup.lastFailure. */
export async function listForRetention(
  deps: { writer: Writer; s3: S3Gate },
  c: ClusterView,
): Promise<NonNullable<Observed["retentionListing"]>> {
  const backup = c.spec.backup!;
  const conn = backupConnection(backup);
  const where = retentionWhere(c);
  let client;
  try {
    client = await s3ClientFor(deps.writer, deps.s3, c.self, conn, "spec.backup.s3.credentialsSecret");
  } catch (err) {
    return { failure: describeS3Error(err, where, conn.endpoint) };
  }
  try {
    const objects: StoredObject[] = await listObjects(client, conn.bucket, listPrefix(backup.s3.path));
    return { objects };
  } catch (err) {
    return { failure: describeS3Error(err, where, conn.endpoint) };
  } finally {
    client.destroy();
  }
}

/** What a retention failure is about, in status.backup.lastFailure. */
export const retentionWhere = (c: ClusterView) =>
  `retention of s3://${c.spec.backup!.s3.bucket}/${listPrefix(c.spec.backup!.s3.path)}`;

/**
 * spec.restore's source: reads the RqBackup it names, and checks with S3 that the object is there
 * and readable with the given credentials, before any Pod is created. "latest" is resolved here,
 * once: the result is kept in the backup config Secret, so the founding voters all load the same
 * object and later reconciles render the same Pods.
 */
export async function resolveRestore(
  deps: RestoreDeps,
  c: ClusterView,
): Promise<{ resolved: ResolvedRestore } | { problem: string }> {
  const spec = c.spec.restore!;
  let backup: RqBackup | undefined;
  if (spec.backup) {
    if (!deps.readBackup) return { problem: "this controller cannot read RqBackups" };
    try {
      backup = await deps.readBackup(c.namespace, spec.backup);
    } catch (err) {
      return { problem: `reading RqBackup ${c.namespace}/${spec.backup}: ${(err as Error).message}` };
    }
    // The RqBackup's own names are read next (its credentials Secret): judged first, as its webhook does.
    const invalid = backup ? validateBackup(backup, deps.s3.policy).errors : [];
    if (invalid.length > 0)
      return {
        problem: `spec.restore.backup names an invalid ${formatErrors(`${BACKUP_KIND}.${GROUP}`, spec.backup, invalid)}`,
      };
  }
  const target = restoreTarget(spec, c.namespace, backup);
  if ("problem" in target) return target;
  if ("claimName" in target) {
    // The file itself is read by the loader Pod, which says when it is missing or damaged.
    const where = `PersistentVolumeClaim ${c.namespace}/${target.claimName} (${spec.backup ? `RqBackup ${spec.backup}'s claim` : "spec.restore.pvc.claimName"})`;
    if (!deps.readClaim) return { problem: "this controller cannot read PersistentVolumeClaims" };
    const claim = await deps.readClaim(c.namespace, target.claimName).catch((err: Error) => err);
    if (claim instanceof Error) return { problem: `reading ${where}: ${claim.message}` };
    if (!claim) return { problem: `${where} does not exist` };
    if (claim.metadata?.deletionTimestamp) return { problem: `${where} is being deleted` };
    return { resolved: target };
  }
  const field = spec.backup
    ? `RqBackup ${spec.backup}'s destination.s3.credentialsSecret`
    : "spec.restore.s3.credentialsSecret";
  let client;
  try {
    client = await s3ClientFor(deps.writer, deps.s3, c.self, target, field);
  } catch (err) {
    return { problem: describeS3Error(err, `restore source ${target.describe}`, target.endpoint) };
  }
  try {
    let key: string;
    let chosen: string | undefined;
    if ("latestUnder" in target) {
      const newest = latestObject(await listObjects(client, target.bucket, target.latestUnder));
      if (!newest) return { problem: `restore source ${target.describe}: there is no object there` };
      key = newest.key;
    } else if ("before" in target) {
      const objects = await listObjects(client, target.bucket, target.folder);
      const choice = newestBefore(objects, target.folder, target.before, `s3://${target.bucket}/${target.folder}`);
      if ("problem" in choice) return { problem: `restore source ${target.describe}: ${choice.problem}` };
      key = choice.chosen.key;
      chosen = choice.why;
    } else {
      key = target.key;
    }
    await headObject(client, target.bucket, key);
    const { bucket, endpoint, region, forcePathStyle, credentialsSecret } = target;
    return {
      resolved: {
        bucket,
        ...(endpoint ? { endpoint } : {}),
        region,
        forcePathStyle,
        ...(credentialsSecret ? { credentialsSecret } : {}),
        key,
        location: s3Location(bucket, key),
        ...(chosen ? { chosen } : {}),
      },
    };
  } catch (err) {
    return { problem: describeS3Error(err, `restore source ${target.describe}`, target.endpoint) };
  } finally {
    client.destroy();
  }
}
