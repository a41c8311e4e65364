// status.backup, status.restore and the Restored condition. Pure. ../status.ts's computeStatus
// calls these and alone decides phase and Available: a cluster with spec.restore is never
// Available before its data is in (see restoreHolds).
import type { V1Pod } from "@kubernetes/client-node";
import type { Condition, RqClusterStatus } from "../../../shared/index.js";
import { RQLITE_CONTAINER } from "../../../shared/names.js";
import type { RestoreCounts } from "../../rqlite/client.js";
import { isPodReady } from "../../access/clusterView.js";
import { roleOf } from "../plan/facts.js";
import type { BackupReadings, Observed } from "../plan/types.js";
import type { ClusterView } from "../render/cluster.js";
import { loaderOutcome } from "./loader.js";
import { RESTORE_LOAD_FAILED, restoreOutcome, retainedCount } from "./plan.js";
import { isPvcRestore } from "./render.js";

/** What the last retention pass left, or why it failed. */
export interface RetentionOutcome {
  /** rqlite's uploads left after the pass; unset when it failed. */
  retained?: number;
  failure?: string;
}

export interface BackupStatusInputs {
  cluster: ClusterView;
  previous: RqClusterStatus | undefined;
  readings?: BackupReadings | undefined;
  /** The founding voters' auto-restore counters, while a restore is due. */
  restoreCounts?: ReadonlyMap<string, RestoreCounts> | undefined;
  /** The Raft leader's store.db_applied_index, read with the counters. */
  restoreLeaderData?: { leader: string; dbAppliedIndex: number } | undefined;
  /** Founding voters' PVCs older than the cluster: spec.restore is skipped (./plan.ts). */
  adoptedVolumes?: string[];
  retention?: RetentionOutcome | undefined;
  /** Why spec.restore could not be resolved. */
  restoreProblem?: string | undefined;
  /** The loader Pod of a restore from a claim (./loader.ts). */
  loader?: V1Pod;
  pods: readonly V1Pod[];
  now: Date;
}

/** Restarts of a voter still restoring before the restore counts as failing (rqlited exits on a failed download). */
export const RESTORE_RESTARTS_FAILING = 2;

const stamp = (d: Date) => d.toISOString().replace(/\.\d+Z$/, "Z");
const later = (a: string | undefined, b: string) => (a !== undefined && Date.parse(a) >= Date.parse(b) ? a : b);

export function backupStatus(inputs: BackupStatusInputs): RqClusterStatus["backup"] {
  const { cluster: c, previous, readings, now } = inputs;
  const prev = previous?.backup ?? {};
  const next: NonNullable<RqClusterStatus["backup"]> = { ...prev };
  if (!c.spec.backup) {
    // One-shot RqBackups still record their success here (the RqBackup controller writes it).
    delete next.uploader;
    delete next.retainedObjects;
  }
  const u = readings?.uploads;
  if (u) {
    const p = prev.uploader;
    // Counters start at zero with each rqlited process: a new node, or fewer than before, is a fresh count.
    const fresh = !p || p.node !== u.node || (p.ok ?? 0) > u.ok || (p.fail ?? 0) > u.fail;
    const okRise = fresh ? u.ok : u.ok - (p.ok ?? 0);
    const failRise = fresh ? u.fail : u.fail - (p.fail ?? 0);
    if (okRise > 0) next.lastSuccessfulTime = later(prev.lastSuccessfulTime, stamp(now));
    if (failRise > 0)
      next.lastFailure = {
        time: stamp(now),
        message: `rqlite's auto-backup upload failed on ${u.node} (${u.fail} failed, ${u.ok} done since it started); its log says why`,
      };
    next.uploader = { node: u.node, ok: u.ok, fail: u.fail };
  }
  if (readings?.rqBackupCompletedAt)
    next.lastSuccessfulTime = later(next.lastSuccessfulTime, stamp(new Date(readings.rqBackupCompletedAt)));
  const r = inputs.retention;
  if (r?.failure) next.lastFailure = { time: stamp(now), message: r.failure };
  else if (r?.retained !== undefined) next.retainedObjects = r.retained;
  return Object.keys(next).length > 0 ? next : undefined;
}

export type Cond = Omit<Condition, "lastTransitionTime">;

/** The Restored condition, for a cluster with spec.restore. */
export function restoredCondition(inputs: BackupStatusInputs): Cond | undefined {
  const { cluster: c, previous } = inputs;
  if (!c.spec.restore) return undefined;
  const before = previous?.conditions?.find((x) => x.type === "Restored");
  if (before?.status === "True") {
    const { lastTransitionTime: _t, ...kept } = before;
    return kept;
  }
  const adopted = inputs.adoptedVolumes ?? [];
  if (adopted.length > 0)
    return {
      type: "Restored",
      status: "False",
      reason: "RestoreSkipped",
      message: `not restored: the founding voters' PVCs ${adopted.join(", ")} are older than this RqCluster (kept by reclaimPolicy Retain and adopted) and hold their own data, which rqlite does not overwrite; the cluster runs on that data. Delete those PVCs before creating the RqCluster to restore`,
    };
  if (inputs.restoreProblem)
    return { type: "Restored", status: "False", reason: "RestoreSourceUnavailable", message: inputs.restoreProblem };
  const location = c.restore?.location ?? "the source";
  const source = `${location}${c.spec.restore.backup ? ` (RqBackup ${c.spec.restore.backup})` : ""}`;
  if (isPvcRestore(c.restore)) return loaderCondition(source, inputs.loader, before?.reason);
  const chosen = c.restore?.chosen ? `, ${c.restore.chosen}` : "";
  // rqlite's own counters say what happened: the first leader loads the file (or fails to), the
  // other founding voters skip it. Pod readiness alone cannot tell a load from no load.
  const outcome = restoreOutcome({
    counts: inputs.restoreCounts ?? new Map<string, RestoreCounts>(),
    leaderData: inputs.restoreLeaderData,
    previousReason: before?.reason,
  });
  switch (outcome.kind) {
    case "loaded":
      return { type: "Restored", status: "True", reason: "Restored", message: `restored from ${source}${chosen}` };
    case "loadedByData":
      return {
        type: "Restored",
        status: "True",
        reason: "Restored",
        message:
          `restored from ${source}${chosen}; rqlite's counters no longer show the load (they live in memory: the node ` +
          `that loaded it restarted, or status was lost), and the leader ${outcome.leader} has applied a database ` +
          `change at Raft index ${outcome.dbAppliedIndex} (store.db_applied_index), which before the restore is ` +
          `over only the load makes`,
      };
    case "loadFailed":
      return {
        type: "Restored",
        status: "False",
        reason: RESTORE_LOAD_FAILED,
        message: outcome.node
          ? `rqlite on ${outcome.node}, the first leader, downloaded ${location} but could not load it (store num_auto_restores_failed > 0); is it a binary SQLite backup? The node's log says why`
          : (before?.message ?? `rqlite could not load ${location}`),
      };
    case "pending":
      break;
  }
  const voters = inputs.pods.filter((p) => roleOf(p) === "voter");
  const failing = voters
    .map((p) => ({
      p,
      restarts: p.status?.containerStatuses?.find((s) => s.name === RQLITE_CONTAINER)?.restartCount ?? 0,
    }))
    .filter(({ p, restarts }) => !isPodReady(p) && restarts >= RESTORE_RESTARTS_FAILING);
  if (failing.length > 0) {
    const names = failing.map(({ p, restarts }) => `${p.metadata!.name} (${restarts} restarts)`).join(", ");
    return {
      type: "Restored",
      status: "False",
      reason: "RestoreFailing",
      message: `rqlited keeps exiting while it restores ${location}: ${names}. rqlite stops a node whose download fails: check that the object exists, is a binary SQLite backup, and that the credentials Secret is right; the node's log says which`,
    };
  }
  return {
    type: "Restored",
    status: "False",
    reason: "Restoring",
    message: `the founding voters load ${location} through rqlite's auto-restore`,
  };
}

/**
 * The Restored condition of a restore from a claim: the loader Pod's outcome. A failure is kept
 * once recorded: the failed Pod stays (with its log) until a person deletes it to try again.
 */
function loaderCondition(source: string, loader: V1Pod | undefined, previousReason: string | undefined): Cond {
  const outcome = loaderOutcome(loader);
  switch (outcome.kind) {
    case "loaded":
      return {
        type: "Restored",
        status: "True",
        reason: "Restored",
        message: `restored from ${source}: ${outcome.size} bytes with sha256 ${outcome.sha256} loaded into the leader`,
      };
    case "failed":
      return {
        type: "Restored",
        status: "False",
        reason: RESTORE_LOAD_FAILED,
        message: `${outcome.reason}. Fix the cause, then delete the Pod to try again`,
      };
    case "running":
      return {
        type: "Restored",
        status: "False",
        reason: outcome.waiting ? "RestoreLoaderWaiting" : "Restoring",
        message: outcome.waiting ?? `the loader Pod streams ${source} into the leader (POST /db/load)`,
      };
    case "none":
      return {
        type: "Restored",
        status: "False",
        reason: "Restoring",
        message:
          previousReason === RESTORE_LOAD_FAILED
            ? `the loader Pod was deleted after a failure; a new one loads ${source} once the founding voters have a leader`
            : `the founding voters form the cluster; then a loader Pod streams ${source} into the leader`,
      };
  }
}

/** What retention did this reconcile: the listing's outcome, unless a delete `apply` ran failed. */
export function retentionOutcome(o: Observed, deleteFailure: string | undefined): RetentionOutcome | undefined {
  const listing = o.retentionListing;
  if (!listing) return undefined;
  if ("failure" in listing) return { failure: listing.failure };
  if (deleteFailure) return { failure: deleteFailure };
  const retained = retainedCount(o);
  return retained === undefined ? {} : { retained };
}

/** status.restore: where the data came from, kept once the source can no longer be read. */
export function restoreStatus(inputs: BackupStatusInputs): RqClusterStatus["restore"] {
  const { cluster: c, previous, now } = inputs;
  if (c.restore) {
    const resolvedAt =
      previous?.restore?.location === c.restore.location && previous.restore.resolvedAt
        ? previous.restore.resolvedAt
        : stamp(now);
    return { location: c.restore.location, resolvedAt, ...(c.restore.chosen ? { chosen: c.restore.chosen } : {}) };
  }
  // Restored, and the source no longer readable: where the data came from stays on record.
  return c.spec.restore ? previous?.restore : undefined;
}

/**
 * While the restore is not done (neither Restored nor skipped for adopted volumes), the phase and
 * the Available condition computeStatus gives: Ready voters before the load would otherwise read
 * as an Available, empty cluster.
 */
export function restoreHolds(
  restored: Cond | undefined,
): { phase: "Failed" | "Creating"; available: Omit<Cond, "observedGeneration"> } | undefined {
  if (!restored || restored.status === "True" || restored.reason === "RestoreSkipped") return undefined;
  // A loader Pod waiting for its claim waits on a person or the scheduler, not on a failure.
  const failed = restored.reason !== "Restoring" && restored.reason !== "RestoreLoaderWaiting";
  return {
    phase: failed ? "Failed" : "Creating",
    available: {
      type: "Available",
      status: "False",
      reason: failed ? "RestoreFailed" : "Restoring",
      message: `not available until the restore is done: ${restored.message}`,
    },
  };
}
