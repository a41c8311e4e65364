// One reconcile's decisions for one RqCluster, from what it observed. Non-disruptive actions
// (children, new Pods) may be many; disruptive ones (deleting a node's Pod, changing the Raft
// configuration, moving leadership) at most one, by priority: a lost node, a crash-looping outdated
// Pod (it takes nothing down, and every other step waits for it), a stale Raft member,
// a stranded or unschedulable Pod, a scale-down step, a rolling update step. Scale and roll
// never overlap (I5): the roll waits while the Pods or the Raft configuration differ from the
// desired nodes.
import {
  planAuthSecret,
  planCaCopy,
  planNetworkPolicy,
  planPdb,
  planPodMetadata,
  planPvcs,
  planReleasedPvcs,
  planServices,
  refusedGrowthWaits,
} from "./children.js";
import { backupNeeds, planBackupSecret, planRetentionDeletes, restoreSourceHold } from "../backup/plan.js";
import { isPodReady } from "../../access/clusterView.js";
import { planLoader } from "../backup/loader.js";
import { deriveFacts, needsDisruption, podName, type Facts } from "./facts.js";
import { planHibernation } from "./hibernate.js";
import { planLostNodes } from "./lostNodes.js";
import { planRecovery } from "./recovery.js";
import { removeGhost, restartStranded, type Step } from "./raftRemoval.js";
import { BUDGET_CONFLICT, otherBudgetsWait } from "./eviction.js";
import {
  planRollout,
  replaceCrashLooping,
  rollBackBroken,
  ROLL_WITHOUT_QUORUM,
  smallRollWait,
  UPGRADE_REFUSED,
  versionStepWait,
} from "./rollout.js";
import { planScale, SCALE_UP_HELD } from "./scale.js";
import { replaceUnschedulable, UNSCHEDULABLE, unplacedJoiners, unschedulableWaits } from "./scheduling.js";
import type { Action, Need, Observed, Plan, Wait } from "./types.js";

/** How soon to look again while waiting on rqlite, which sends no watch events. */
const RQLITE_POLL_MS = 2000;

export { deriveFacts, needsDisruption, withReadings } from "./facts.js";
export { planFinalize } from "./finalize.js";

/** Waits the roll itself ends, shown in the Progressing condition while it runs. */
export const HOLDS: ReadonlySet<string> = new Set([SCALE_UP_HELD, ROLL_WITHOUT_QUORUM]);

/** Waits on a person, not on rqlite: shown in status, and woken by the person's edit. */
export const PROBLEMS: ReadonlySet<string> = new Set([
  "NameConflict",
  "StorageResizeRefused",
  "PodTemplateRefused",
  "AdoptionConflict",
  "AuthSecretUnusable",
  // spec.backup.s3 names an endpoint or credentials the administrator's policy refuses.
  "BackupS3Refused",
  // spec.restore's source cannot be read.
  "RestoreSourceUnavailable",
  // The operator's image, which the loader of a restore from a claim runs, is unknown.
  "RestoreLoaderImageUnknown",
  // Kubernetes nodes, affinity or the template must change; the Pod's scheduling brings an event.
  UNSCHEDULABLE,
  // A user's PodDisruptionBudget over the Pods; its removal brings a watch event.
  BUDGET_CONFLICT,
  // spec.image skips a major version, or downgrades where rqlite cannot, for a Pod that runs.
  UPGRADE_REFUSED,
]);

/**
 * How soon a hold is looked at again: fixing a ConfigMap or a Secret brings no watch event (the
 * controller watches neither), fixing the RqCluster does.
 */
export const HOLD_RECHECK_MS = 30_000;

/**
 * The readings this observation lacks for a decision: the reconcile takes them and plans again.
 * Each is asked only when it can change the outcome, so a steady cluster makes no extra call.
 */
function needsOf(o: Observed, f: Facts): Need[] {
  const needs = backupNeeds(o, f.bootstrapExpect);
  if (o.synced === undefined && !o.cluster.spec.paused && needsDisruption(o, f)) {
    needs.push({ type: "synced", nodes: o.pods.filter(isPodReady).map(podName) });
  }
  return needs;
}

export function plan(o: Observed): Plan {
  const f = deriveFacts(o);
  const needs = needsOf(o, f);
  if (needs.length > 0) return { actions: [], waits: [], needs };
  const waits: Wait[] = [];
  if (o.conflicts.length > 0) {
    waits.push({
      reason: "NameConflict",
      message: `${o.conflicts.join(", ")} already exist and belong to another owner (another RqCluster whose names overlap?); not touching them`,
      warning: true,
    });
  }
  if (o.cluster.spec.paused) return { actions: [], waits };
  const scale = planScale(o, f);
  const loader = planLoader(o, f.bootstrapExpect);
  if (loader.wait) waits.push(loader.wait);
  // The children no node's data or process depends on.
  const shared: Action[] = [
    ...planAuthSecret(o, f),
    ...planCaCopy(o),
    ...planBackupSecret(o),
    ...planRetentionDeletes(o),
    ...loader.actions,
    ...planServices(o),
    ...planPdb(o, f, scale.held.names),
    ...planNetworkPolicy(o),
  ];
  // No Pod is created, patched, replaced or removed while a hold stands: the Pods keep running
  // as they are until the person fixes what it names.
  const lost = planLostNodes(o, f);
  // A user's budget and a partitioned node are still reported: a person has them to know too.
  const reported = [otherBudgetsWait(o, o.cluster.pdbName), ...lost.partitioned.flatMap(waitOf)];
  const recovery = o.recovery && planRecovery(o, o.recovery, new Date(o.now).toISOString().replace(/\.\d+Z$/, "Z"));
  // While the recovery owns the Pods, nothing else creates, deletes or rolls one.
  if (recovery?.ownsPods)
    return {
      actions: [...shared, ...planPvcs(o, f), ...recovery.actions],
      waits,
      recovery,
      requeueAfterMs: RQLITE_POLL_MS,
    };
  const withRecovery = (p: Plan): Plan => (recovery ? { ...p, recovery } : p);
  // Hibernation comes before holds: deleting Pods needs nothing a person must fix first.
  if (o.cluster.spec.hibernate) {
    const hibernation = planHibernation(o);
    return withRecovery({
      actions: [...shared, ...planPvcs(o, f), ...hibernation],
      waits,
      // Pod deletions bring watch events; the status turns Hibernated once the last one is gone.
      ...(hibernation.length > 0 ? { requeueAfterMs: RQLITE_POLL_MS } : {}),
    });
  }
  const restoreHold = restoreSourceHold(o, f.bootstrapExpect);
  const holds = [...(f.auth.hold ? [f.auth.hold] : []), ...(o.holds ?? []), ...(restoreHold ? [restoreHold] : [])];
  if (holds.length) {
    waits.push(...holds, ...reported.filter((w) => w !== undefined));
    return withRecovery({ actions: shared, waits, requeueAfterMs: HOLD_RECHECK_MS });
  }

  const actions: Action[] = [...shared, ...planPvcs(o, f), ...planPodMetadata(o, f), ...planReleasedPvcs(o, f)];
  actions.push(...scale.creates);
  if (scale.held.wait) waits.push(scale.held.wait);
  waits.push(...refusedGrowthWaits(o, f), ...unschedulableWaits(o));
  for (const w of [...reported, versionStepWait(o), smallRollWait(o, f)]) if (w) waits.push(w);

  // Neither held joiners nor Pods that cannot be placed hold the roll up; it may be what places them.
  const rollHeld = new Set([...scale.held.names, ...unplacedJoiners(o)]);
  const step =
    lost.step ??
    replaceCrashLooping(o, f) ??
    removeGhost(o, f, rollHeld) ??
    restartStranded(o, f) ??
    replaceUnschedulable(o, f) ??
    rollBackBroken(o, f, rollHeld) ??
    scale.step ??
    (rollMayStart(o, f, scale.busy, rollHeld) ? planRollout(o, f, rollHeld) : undefined);
  let requeueAfterMs = lost.recheckAfterMs;
  if (step && "action" in step) {
    actions.push(step.action, ...(step.also ?? []));
    // rqlite changes bring no watch event; Pod deletions do, but look again soon either way.
    requeueAfterMs = Math.min(requeueAfterMs ?? RQLITE_POLL_MS, RQLITE_POLL_MS);
  } else if (step && "wait" in step) {
    waits.push(step.wait);
  }
  // A name conflict waits on a person, who brings a watch event; the others wait on rqlite.
  // So does a cluster whose leader did not answer while a Pod is Ready: an election is under
  // way, and the status's leader is wrong until someone asks again. Only a Pod with an address
  // was asked (observe.ts); one without (no kubelet has reported it yet) brings an event when it
  // gets one, and polling it every 2 s would only cost a steady fleet its CPU.
  const electing = !o.raft && [...f.pods.values()].some((p) => isPodReady(p) && p.status?.podIP);
  if (electing || waits.some((w) => !PROBLEMS.has(w.reason)))
    requeueAfterMs = Math.min(requeueAfterMs ?? RQLITE_POLL_MS, RQLITE_POLL_MS);
  // A recovery still waiting to judge looks again soon: its evidence comes from rqlite.
  if (recovery) requeueAfterMs = Math.min(requeueAfterMs ?? RQLITE_POLL_MS, RQLITE_POLL_MS);
  return withRecovery({ actions, waits, ...(requeueAfterMs !== undefined ? { requeueAfterMs } : {}) });
}

const waitOf = (s: Step): Wait[] => ("wait" in s ? [s.wait] : []);

/** The roll starts only when the Pods and the Raft configuration are exactly the desired nodes. */
function rollMayStart(o: Observed, f: Facts, scaleBusy: boolean, held: ReadonlySet<string>): boolean {
  if (scaleBusy) return false;
  if (o.pods.some((p) => !f.desiredNames.has(podName(p)))) return false;
  // Without the leader's view only a broken Pod is replaced (see rollout.ts); the members the
  // last status recorded stand in for the configuration.
  if (!o.raft) return (o.lastMembers ?? []).every((id) => f.desiredNames.has(id));
  const members = new Set(o.raft.members.map((m) => m.id));
  return (
    o.raft.members.every((m) => f.desiredNames.has(m.id)) &&
    f.desired.every((m) => members.has(m.name) || held.has(m.name))
  );
}
