// Bringing the number of nodes to the spec. Scale-down: one node at a time, highest ordinal
// first (read replicas before voters), each removed from the Raft configuration through the
// leader before its Pod is deleted (I3). Scale-up: the founding voters start together, as rqlite
// needs `-bootstrap-expect` of them to elect a leader; any later node joins once every node
// before it is Ready, one voter at a time.
import type { V1Pod } from "@kubernetes/client-node";
import { joinProblem } from "../../../shared/rqlite-versions.js";
import { isPodReady } from "../../access/clusterView.js";
import {
  isTerminating,
  ordinalOf,
  podName,
  roleOf,
  podImage,
  runningVersions,
  settledExcept,
  versionOfImage,
  type Facts,
} from "./facts.js";
import { leaveRaft, wait, type Step } from "./raftRemoval.js";
import type { Action, Observed, Wait } from "./types.js";
import { parseMemberName } from "../../../shared/names.js";
import type { DesiredNode } from "../render/members.js";
import { renderPod } from "../render/pod.js";

export interface ScalePlan {
  /** Pods to create (not disruptive: a new node only adds capacity). */
  creates: Action[];
  /** The scale-down step, when one is due. */
  step?: Step;
  /** True while Pods or Raft members differ from the desired nodes: the roll must wait (I5). */
  busy: boolean;
  /** New nodes held back until the roll finished, and why (see heldJoiners). */
  held: { names: ReadonlySet<string>; wait?: Wait };
}

export const SCALE_UP_HELD = "ScaleUpHeldForUpgrade";

export function planScale(o: Observed, f: Facts): ScalePlan {
  const extras = o.pods
    .filter((p) => !f.desiredNames.has(podName(p)))
    .sort((a, b) => removalOrder(o, a) - removalOrder(o, b));
  const missing = f.desired.filter((m) => !f.pods.has(m.name) && !o.conflicts.includes(m.name));
  const held = heldJoiners(o, f, missing);
  // Held nodes wait for the roll, so the roll must not wait for them.
  const busy = extras.length > 0 || missing.some((m) => !held.names.has(m.name));
  return {
    creates: planCreates(o, f, held.names),
    step: extras.length > 0 ? scaleDown(o, f, extras, held.names) : undefined,
    busy,
    held,
  };
}

/**
 * New nodes (not founding voters, not members coming back) that could not join the running
 * ones: rqlite 10 nodes join no cluster with 9.x members (shared/rqlite-versions.ts). They wait
 * until the roll has brought every node to the new version; members coming back restart on
 * their own data and are no joiners.
 */
function heldJoiners(o: Observed, f: Facts, missing: DesiredNode[]): ScalePlan["held"] {
  // Judged with the image the new Pods get: while spec.image is refused, one the cluster runs.
  const image = podImage(o);
  const target = versionOfImage(image);
  if (!target) return { names: new Set() };
  const problem = joinProblem(
    target,
    runningVersions(o).map((r) => r.version),
  );
  if (!problem) return { names: new Set() };
  const members = new Set(o.raft ? o.raft.members.map((m) => m.id) : (o.lastMembers ?? []));
  const joiners = missing.filter((m) => !members.has(m.name) && !(m.role === "voter" && m.ordinal < f.bootstrapExpect));
  if (joiners.length === 0) return { names: new Set() };
  return {
    names: new Set(joiners.map((m) => m.name)),
    wait: {
      reason: SCALE_UP_HELD,
      message: `not adding ${joiners.map((m) => m.name).join(", ")} until every node runs ${image}: ${problem}`,
      warning: false,
    },
  };
}

/**
 * Read replicas go before voters, and within a role the highest ordinal first, except that a node
 * whose Pod is not Ready goes first: removing a voter that is down only helps quorum, and one that
 * never gets Ready (a broken image) would otherwise hold the others' removal up for good.
 */
function removalOrder(o: Observed, pod: V1Pod): number {
  return (roleOf(pod) === "voter" ? 1000 : 0) - (isPodReady(pod) ? 0 : 100) - ordinalOf(o, podName(pod));
}

/** `held`: new nodes that wait for a roll to rqlite 10 (heldJoiners): the scale-down does not wait for them. */
function scaleDown(o: Observed, f: Facts, extras: V1Pod[], held: ReadonlySet<string>): Step {
  // Only once the last step finished: the previous victim is gone and every other node is fine.
  if (extras.some(isTerminating)) {
    return wait("WaitingForPodDeletion", `scale-down waits for Pod ${podName(extras.find(isTerminating)!)} to go`);
  }
  const victim = podName(extras[0]!);
  const role = roleOf(extras[0]!) === "voter" ? "voters" : "read replicas";
  const target = role === "voters" ? o.cluster.spec.replicas : o.cluster.spec.readReplicas;
  const why = `scaling ${role} down to ${target}`;
  if (!o.raft) return leaveRaft(o, f, victim, why);
  // The other nodes this scale-down takes away are no reason to wait: one that never gets Ready (a
  // broken image) would hold the removal up for good. Not-Ready voters go first (removalOrder),
  // and the quorum check in leaveRaft counts every voter.
  const unsettled = settledExcept(o, f, new Set([...extras.map(podName), ...held]));
  if (unsettled) return wait("WaitingToScaleDown", `not removing ${victim} yet (${why}): ${unsettled}`);
  const left = leaveRaft(o, f, victim, why);
  if (!("done" in left)) return left;
  return {
    action: {
      type: "deletePod",
      name: victim,
      reason: "ScalingDown",
      message: `deleted Pod ${victim} (${why}); the leader no longer lists it as a member`,
    },
  };
}

/** Missing desired Pods that may be created now. */
function planCreates(o: Observed, f: Facts, held: ReadonlySet<string>): Action[] {
  const missing = f.desired.filter((m) => !f.pods.has(m.name) && !o.conflicts.includes(m.name) && !held.has(m.name));
  // A replaced node starts on its own volume: wait while its PVC is still being deleted.
  const ready = missing.filter((m) => !o.pvcs.some((p) => p.metadata?.name === m.name && p.metadata.deletionTimestamp));
  // Founding voters, and members that are coming back (a rolled or deleted Pod), are recreated
  // at once: the cluster counts on them for quorum and cannot settle without them.
  const members = new Set(o.raft ? o.raft.members.map((m) => m.id) : (o.lastMembers ?? []));
  const atOnce = ready.filter((m) => (m.role === "voter" && m.ordinal < f.bootstrapExpect) || members.has(m.name));
  const joining = ready.filter((m) => !atOnce.includes(m));
  // Read replicas hold no quorum: they join at once, and do not hold up voters.
  const voters = o.pods.filter((p) => roleOf(p) === "voter");
  const settled = voters.every((p) => !isTerminating(p) && isPodReady(p));
  // New nodes join when everything else is up; voters one at a time, read replicas together.
  const nextVoter = joining.find((m) => m.role === "voter");
  const batch = [
    ...atOnce,
    ...(settled && nextVoter && !atOnce.some((m) => m.role === "voter") ? [nextVoter] : []),
    ...joining.filter((m) => m.role === "read-only"),
  ];
  const scalingUp = o.pods.length > 0;
  return [...batch.map((m) => f.rendered.get(m.name)!), ...returningExtras(o, f)].map((pod) => ({
    type: "create",
    object: pod,
    reason: scalingUp ? "ScalingUp" : "Created",
    message: `created Pod ${pod.metadata!.name}`,
  }));
}

/**
 * With no leader, members that are no longer desired but whose Pods went (evicted, deleted by
 * hand) come back on their own volumes: the cluster may need them for quorum, and only with a
 * leader can they then leave the Raft configuration properly.
 */
function returningExtras(o: Observed, f: Facts): V1Pod[] {
  if (o.raft) return [];
  return (o.lastMembers ?? []).flatMap((name) => {
    const pod = f.pods.has(name) ? undefined : returningPod(o, f, name);
    return pod ? [pod] : [];
  });
}

/**
 * The Pod a member that is no longer desired comes back with while no leader answers (see
 * returningExtras): only one the last status lists, whose volume is kept.
 */
export function returningPod(o: Observed, f: Facts, name: string): V1Pod | undefined {
  if (o.raft || !(o.lastMembers ?? []).includes(name)) return undefined;
  const member = parseMemberName(o.cluster.name, name);
  const pvc = o.pvcs.find((p) => p.metadata?.name === name);
  if (!member || f.desiredNames.has(name) || !pvc || pvc.metadata?.deletionTimestamp) return undefined;
  const inputs = {
    member,
    bootstrapExpect: f.bootstrapExpect,
    template: o.template,
    addressing: o.addressing,
    restorePending: f.restorePending,
  };
  // With the image every other new Pod gets: never a refused step beside the running versions.
  return renderPod(f.podView, { ...inputs, ...(f.auth.hash ? { authHash: f.auth.hash } : {}) });
}
