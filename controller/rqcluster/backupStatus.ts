// status.backup, status.restore and the Restored condition, folded into the status computeStatus
// made. Pure. A cluster with spec.restore is never Available before its data is in: until every
// founding voter is Ready after loading, Available stays False and the phase says why.
import type { V1Pod } from "@kubernetes/client-node";
import type { Condition, RqClusterStatus } from "../../shared/index.js";
import { RQLITE_CONTAINER } from "../../shared/names.js";
import type { RestoreCounts } from "../rqlite/client.js";
import type { BackupStepResult } from "./backup.js";
import { isPodReady, roleOf } from "./plan/facts.js";
import { readyCondition } from "./status.js";
import type { ClusterView } from "./render/cluster.js";

export interface BackupStatusInputs {
  cluster: ClusterView;
  previous: RqClusterStatus | undefined;
  step: BackupStepResult;
  /** Why spec.restore could not be resolved. */
  restoreProblem?: string;
  pods: readonly V1Pod[];
  now: Date;
}

/** Restarts of a voter still restoring before the restore counts as failing (rqlited exits on a failed download). */
export const RESTORE_RESTARTS_FAILING = 2;

const stamp = (d: Date) => d.toISOString().replace(/\.\d+Z$/, "Z");
const later = (a: string | undefined, b: string) => (a !== undefined && Date.parse(a) >= Date.parse(b) ? a : b);

export function backupStatus(inputs: BackupStatusInputs): RqClusterStatus["backup"] {
  const { cluster: c, previous, step, now } = inputs;
  const prev = previous?.backup ?? {};
  const next: NonNullable<RqClusterStatus["backup"]> = { ...prev };
  if (!c.spec.backup) {
    // One-shot RqBackups still record their success here (the RqBackup controller writes it).
    delete next.uploader;
    delete next.retainedObjects;
  }
  const u = step.uploads;
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
  if (step.rqBackupCompletedAt)
    next.lastSuccessfulTime = later(next.lastSuccessfulTime, stamp(new Date(step.rqBackupCompletedAt)));
  const r = step.retention;
  if (r?.failure) next.lastFailure = { time: stamp(now), message: r.failure };
  else if (r?.retained !== undefined) next.retainedObjects = r.retained;
  return Object.keys(next).length > 0 ? next : undefined;
}

type Cond = Omit<Condition, "lastTransitionTime">;

function restoredCondition(inputs: BackupStatusInputs): Cond | undefined {
  const { cluster: c, previous } = inputs;
  if (!c.spec.restore) return undefined;
  const before = previous?.conditions?.find((x) => x.type === "Restored");
  if (before?.status === "True") {
    const { lastTransitionTime: _t, ...kept } = before;
    return kept;
  }
  const adopted = inputs.step.adoptedVolumes ?? [];
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
  // rqlite's own counters say what happened: the first leader loads the file (or fails to), the
  // other founding voters skip it. Pod readiness alone cannot tell a load from no load.
  const counts = [...(inputs.step.restoreCounts ?? new Map<string, RestoreCounts>())];
  const loadedOn = counts.find(([, n]) => n.restored > 0)?.[0];
  if (loadedOn) {
    return {
      type: "Restored",
      status: "True",
      reason: "Restored",
      message: `restored from ${location}${c.spec.restore.backup ? ` (RqBackup ${c.spec.restore.backup})` : ""}`,
    };
  }
  const failedOn = counts.find(([, n]) => n.failed > 0)?.[0];
  if (failedOn) {
    return {
      type: "Restored",
      status: "False",
      reason: "RestoreFailing",
      message: `rqlite on ${failedOn}, the first leader, downloaded ${location} but could not load it (store num_auto_restores_failed > 0); is it a binary SQLite backup? The node's log says why`,
    };
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

function withTime(cond: Cond, previous: Condition[] | undefined, now: Date): Condition {
  const before = previous?.find((p) => p.type === cond.type);
  return {
    ...cond,
    lastTransitionTime: before && before.status === cond.status ? before.lastTransitionTime : stamp(now),
  };
}

/** The status with backup, restore and Restored folded in; the input is not changed. */
export function withBackupStatus(status: RqClusterStatus, inputs: BackupStatusInputs): RqClusterStatus {
  const { cluster: c, previous, now } = inputs;
  const out: RqClusterStatus = { ...status };
  const backup = backupStatus(inputs);
  if (backup) out.backup = backup;
  if (c.restore) {
    const resolvedAt =
      previous?.restore?.location === c.restore.location && previous.restore.resolvedAt
        ? previous.restore.resolvedAt
        : stamp(now);
    out.restore = { location: c.restore.location, resolvedAt };
  } else if (c.spec.restore && previous?.restore) {
    // Restored, and the source no longer readable: where the data came from stays on record.
    out.restore = previous.restore;
  }
  const restored = restoredCondition(inputs);
  if (!restored) return out;
  const conditions = (status.conditions ?? []).filter((x) => x.type !== "Restored");
  // Skipped: the cluster runs on its adopted volumes' data, so its availability is its own.
  if (restored.status !== "True" && restored.reason !== "RestoreSkipped") {
    const failed = restored.reason !== "Restoring";
    if (!c.spec.paused) out.phase = failed ? "Failed" : "Creating";
    // Ready voters before the load is done would otherwise read as an Available, empty cluster.
    const i = conditions.findIndex((x) => x.type === "Available");
    const available: Cond = {
      type: "Available",
      status: "False",
      reason: failed ? "RestoreFailed" : "Restoring",
      message: `not available until the restore is done: ${restored.message}`,
      observedGeneration: c.generation,
    };
    if (i >= 0) conditions[i] = withTime(available, previous?.conditions, now);
    else conditions.push(withTime(available, previous?.conditions, now));
    const r = conditions.findIndex((x) => x.type === "Ready");
    const ready = { ...readyCondition(c, conditions), observedGeneration: c.generation };
    if (r >= 0) conditions[r] = withTime(ready, previous?.conditions, now);
  }
  conditions.push(withTime({ ...restored, observedGeneration: c.generation }, previous?.conditions, now));
  out.conditions = conditions;
  return out;
}
