// The I/O of spec.backup and spec.restore in one reconcile. Before the plan: the live config
// Secret, the credentials Secret, and the restore source (resolved once, then read back from the
// config Secret). After the plan: the leader's upload counters, and retention in S3. The
// decisions are pure (plan/backup.ts, plan/restore.ts, backupStatus.ts).
import { backupConfigSecretName } from "../../shared/backup-names.js";
import { durationSeconds } from "../../shared/backup-schema.js";
import type { ClusterRqlite } from "../rqlite/adapter.js";
import type { RestoreCounts } from "../rqlite/client.js";
import { deriveFacts } from "./plan/facts.js";
import { parseMemberName } from "./render/members.js";
import { adoptedFoundingVolumes } from "./plan/restore.js";
import type { Writer } from "../runtime/writer.js";
import { listPrefix, newestCompletedBackup, planRetention } from "./plan/backup.js";
import type { Observed, SecretProblem, Wait } from "./plan/types.js";
import { parseResolvedRestore, RESTORE_SOURCE_FILE } from "./render/backup.js";
import { credentialsOf, s3Connection } from "../access/s3Connection.js";
import type { ClusterView } from "./render/cluster.js";
import { resolveRestore, type ListBackups, type ReadBackup } from "./restore.js";
import {
  connectionRefusal,
  deleteObject,
  describeS3Error,
  listObjects,
  s3ClientFor,
  type S3Gate,
} from "../access/s3.js";

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
 * `restored`: the cluster's Restored condition is True, or its founding volumes were adopted (no
 * restore at all). Its data is in, so a source that can no longer be read (the RqBackup deleted,
 * the config Secret too) holds nothing back: no Pod made from then on loads it.
 */
export async function observeBackup(
  deps: { writer: Writer; s3: S3Gate; readBackup?: ReadBackup },
  c: ClusterView,
  restored = false,
): Promise<BackupObservation> {
  const { backup, restore } = c.spec;
  if (!backup && !restore) return { cluster: c, holds: [], secretProblems: [] };
  const holds: Wait[] = [];
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
    const kept = parseResolvedRestore(live?.data[RESTORE_SOURCE_FILE]);
    const resolved = kept ? { resolved: kept } : await resolveRestore(deps, c);
    if ("resolved" in resolved) cluster = { ...c, restore: resolved.resolved };
    else if (!restored) {
      restoreProblem = resolved.problem;
      holds.push({
        reason: "RestoreSourceUnavailable",
        message: `cannot restore: ${resolved.problem}. No node is created until the source can be read`,
        warning: true,
      });
    }
  }
  return { cluster, backupConfig, holds, secretProblems, ...(restoreProblem ? { restoreProblem } : {}) };
}

/** The leader's auto-backup counters, as rqlite's /debug/vars gives them. */
export interface UploaderReading {
  node: string;
  ok: number;
  fail: number;
}

export interface RetentionOutcome {
  /** rqlite's uploads left after the pass; unset when it failed. */
  retained?: number;
  deleted: string[];
  failure?: string;
}

export interface BackupStepResult {
  uploads?: UploaderReading;
  /** The auto-restore counters of the founding voters that answered, while a restore is due. */
  restoreCounts?: Map<string, RestoreCounts>;
  /** Founding voters' PVCs older than the cluster: spec.restore is skipped (plan/restore.ts). */
  adoptedVolumes?: string[];
  retention?: RetentionOutcome;
  /** completedAt of the cluster's newest Completed RqBackup. */
  rqBackupCompletedAt?: string;
}

/** When retention last ran per cluster uid: a pass lists the folder, so it runs at most this often. */
const lastRetention = new Map<string, number>();
const RETENTION_MIN_PERIOD_MS = 30_000;
const RETENTION_MAX_PERIOD_MS = 10 * 60_000;

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
 * Reads the leader's counters and runs retention when it is due: after a new upload, or once a
 * period. Never throws: what fails is reported in the result, for status.backup.lastFailure.
 */
export async function backupStep(
  deps: { writer: Writer; s3: S3Gate; rqlite: ClusterRqlite; now: Date; listBackups?: ListBackups },
  o: Observed,
  previousUploads: UploaderReading | undefined,
): Promise<BackupStepResult> {
  const c = o.cluster;
  const oneShot = await newestRqBackup(deps.listBackups, c);
  const step = await scheduledStep(deps, c, o.raft?.leader, previousUploads);
  const adoptedVolumes = c.spec.restore ? adoptedFoundingVolumes(c, o.pvcs, deriveFacts(o).bootstrapExpect) : [];
  const restoreCounts = adoptedVolumes.length > 0 ? undefined : await readRestoreCounts(deps.rqlite, o);
  return {
    ...step,
    ...(adoptedVolumes.length > 0 ? { adoptedVolumes } : {}),
    ...(oneShot ? { rqBackupCompletedAt: oneShot } : {}),
    ...(restoreCounts ? { restoreCounts } : {}),
  };
}

/**
 * While spec.restore is not done: rqlite's own auto-restore counters of the founding voters that
 * run (the first leader counts the load, the others a skip). Counters start at zero with each
 * process, so they are asked until the Restored condition records the outcome.
 */
async function readRestoreCounts(rqlite: ClusterRqlite, o: Observed): Promise<Map<string, RestoreCounts> | undefined> {
  if (!o.cluster.spec.restore || o.restoreDone) return undefined;
  const { bootstrapExpect } = deriveFacts(o);
  const nodes = o.pods
    .filter((p) => p.status?.podIP && !p.metadata?.deletionTimestamp)
    .map((p) => p.metadata!.name!)
    .filter((name) => {
      const m = parseMemberName(o.cluster.name, name);
      return m?.role === "voter" && m.ordinal < bootstrapExpect;
    });
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

/** Drops what this module remembers of a cluster that is going away. */
export function forgetBackupState(uid: string): void {
  lastRetention.delete(uid);
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

async function scheduledStep(
  deps: { writer: Writer; s3: S3Gate; rqlite: ClusterRqlite; now: Date },
  c: ClusterView,
  leader: string | undefined,
  previousUploads: UploaderReading | undefined,
): Promise<BackupStepResult> {
  const backup = c.spec.backup;
  if (!backup) {
    lastRetention.delete(c.uid);
    return {};
  }
  let uploads: UploaderReading | undefined;
  if (leader) {
    try {
      const read = await deps.rqlite.nodeStats(leader, true);
      if (read.uploads) uploads = { node: leader, ...read.uploads };
    } catch {
      // The counters are read again next time; status keeps the last reading.
    }
  }
  // Paused: observe only. Without timestamps rqlite overwrites one object: nothing to retain.
  if (!backup.retention || !backup.timestamp || c.spec.paused) return uploads ? { uploads } : {};
  const now = deps.now.getTime();
  const uploaded = uploads !== undefined && (uploads.node !== previousUploads?.node || uploads.ok > previousUploads.ok);
  const last = lastRetention.get(c.uid);
  if (!uploaded && last !== undefined && now - last < retentionPeriodMs(backup.interval)) {
    return uploads ? { uploads } : {};
  }
  lastRetention.set(c.uid, now);
  const retention = await enforceRetention(deps.writer, deps.s3, c, now);
  return { ...(uploads ? { uploads } : {}), retention };
}

async function enforceRetention(writer: Writer, gate: S3Gate, c: ClusterView, now: number): Promise<RetentionOutcome> {
  const backup = c.spec.backup!;
  const conn = s3Connection(backup.s3);
  const where = `retention of s3://${conn.bucket}/${listPrefix(backup.s3.path)}`;
  let client;
  try {
    client = await s3ClientFor(writer, gate, c.self, conn, "spec.backup.s3.credentialsSecret");
  } catch (err) {
    return { deleted: [], failure: describeS3Error(err, where, conn.endpoint) };
  }
  const deleted: string[] = [];
  try {
    const objects = await listObjects(client, conn.bucket, listPrefix(backup.s3.path));
    const decision = planRetention(objects, backup.s3.path, backup.retention!, now);
    for (const key of decision.remove) {
      await deleteObject(client, conn.bucket, key);
      deleted.push(key);
    }
    return { retained: decision.keep.length, deleted };
  } catch (err) {
    return { deleted, failure: describeS3Error(err, where, conn.endpoint) };
  } finally {
    client.destroy();
  }
}
