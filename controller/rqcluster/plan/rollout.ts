// RollingUpdate replaces one outdated Pod at a time: read replicas first, then followers, highest
// ordinal first, the leader last (I4) after leadership moved to an updated follower where the
// rqlite version can hand it over (older versions step down as they stop). A step is taken only
// with the leader's view of the Raft configuration, when every desired Pod exists, is Ready and
// has caught up (`/readyz?sync`) and no voter is unavailable (I1), and only when no scale step is
// in flight (I5).
//
// Two exceptions keep every change finishing:
// - An outdated Pod that is not Ready goes first, whatever the leader's view: it serves nothing,
//   so replacing it takes nothing down, and it may be the way back from a failed upgrade (an
//   image that never gets Ready, set back by the user) that would otherwise wait for itself.
// - With 1 or 2 voters no step keeps quorum, and the operator's budget (at quorum) allows no
//   eviction, so a step deletes the voter's Pod instead, with a Warning: the cluster is unwritable
//   until it is back. Under spec.maintenance the budget allows one, and the step is evicted again,
//   in line with a drain.
import type { V1Pod } from "@kubernetes/client-node";
import { RQLITE_CONTAINER } from "../../../shared/names.js";
import { formatVersion } from "../../../shared/rqlite-versions.js";
import { maintenanceOpensBudget, SMALLEST_QUORUM_SAFE_VOTERS } from "../render/children.js";
import { SPEC_HASH_ANNOTATION } from "../render/pod.js";
import { otherBudgetsOver } from "./eviction.js";
import { isPodReady } from "../../access/clusterView.js";
import { returningPod } from "./scale.js";
import {
  isTerminating,
  ordinalOf,
  podName,
  podImage,
  refusedStep,
  roleOf,
  settledExcept,
  type Facts,
} from "./facts.js";
import { wait, type Step } from "./raftRemoval.js";
import type { Observed, Wait } from "./types.js";

/** The roll of a 1- or 2-voter cluster: shown in Progressing while it runs. */
export const ROLL_WITHOUT_QUORUM = "RollingWithoutQuorum";
/** spec.image is a version step rqlite does not take from a version some Pod runs. */
export const UPGRADE_REFUSED = "UpgradeRefused";

/** Voters that count for the roll: the leader's configuration, or the voter Pods without one. */
function voterCount(o: Observed, f: Facts): number {
  return f.raftVoters?.length ?? o.pods.filter((p) => roleOf(p) === "voter").length;
}

/** While a 1- or 2-voter cluster rolls, the Progressing condition says what each step costs. */
export function smallRollWait(o: Observed, f: Facts): Wait | undefined {
  if (o.cluster.spec.updateStrategy.type !== "RollingUpdate" || f.outdated.length === 0) return undefined;
  const voters = voterCount(o, f);
  if (voters >= SMALLEST_QUORUM_SAFE_VOTERS) return undefined;
  return {
    reason: ROLL_WITHOUT_QUORUM,
    message: `with ${voters} voter${voters === 1 ? "" : "s"} no step of a roll keeps quorum: the cluster is unwritable while each voter is replaced, one at a time`,
    warning: false,
  };
}

/**
 * spec.image judged against the version of every Pod that runs, not against the spec the roll
 * started from: mid-roll from 8.x to 9.x, a 10.x would take the remaining 8.x Pods two majors up.
 * Meanwhile Pods made anew run an image the cluster runs (facts.ts podImage).
 */
export function versionStepWait(o: Observed): Wait | undefined {
  const refused = refusedStep(o);
  if (!refused) return undefined;
  return {
    reason: UPGRADE_REFUSED,
    message: `spec.image ${o.cluster.spec.image} cannot replace rqlite ${formatVersion(refused.version)}, which ${refused.where} runs: ${refused.problem}; set spec.image to a version every Pod can step to. Pods made meanwhile run ${podImage(o)}`,
    warning: true,
  };
}

/** `held`: desired nodes that wait for this roll to finish (see scale.ts), so it does not wait for them. */
export function planRollout(o: Observed, f: Facts, held: ReadonlySet<string>): Step | undefined {
  if (o.cluster.spec.updateStrategy.type !== "RollingUpdate" || f.outdated.length === 0) return undefined;
  if (versionStepWait(o)) return undefined;
  // Nodes that refuse the operator's credentials (its own auth Secret was lost and made anew) will
  // never show it a view until they run the new users file, which only this roll gives them: then,
  // and only then, the roll goes on by readiness alone, one Ready-gated step at a time.
  const byReadiness = !o.raft && o.rqliteUnauthorized === true;
  if (!o.raft && !byReadiness)
    return wait(
      "WaitingToRoll",
      `rolling update waits for the leader's view of the Raft configuration: ${o.rqliteProblem ?? "no leader answered"}`,
    );
  const unsettled = settledExcept(o, f, held);
  if (unsettled) return wait("WaitingToRoll", `rolling update waits: ${unsettled}`);
  const leader = o.raft?.leader;
  const order = (p: V1Pod) =>
    (roleOf(p) === "voter" ? 1000 : 0) + (podName(p) === leader ? 10_000 : 0) - ordinalOf(o, podName(p));
  const next = [...f.outdated].sort((a, b) => order(a) - order(b))[0]!;
  const name = podName(next);
  if (o.raft && name === leader && o.raft.canTransfer) {
    const updated = (id: string) => !f.outdated.some((p) => podName(p) === id);
    const candidates = o.raft.members.filter(
      (m) =>
        m.voter && m.reachable && m.id !== name && isPodReady(f.pods.get(m.id) ?? {}) && o.synced?.has(m.id) === true,
    );
    const target = candidates.find((m) => updated(m.id)) ?? candidates[0];
    if (target) {
      return {
        action: {
          type: "transferLeadership",
          from: name,
          to: target.id,
          reason: "LeadershipTransferred",
          message: `moving rqlite leadership from ${name} to ${target.id} before updating ${name}`,
        },
      };
    }
  }
  const how =
    name !== leader
      ? ""
      : o.raft?.canTransfer
        ? "; no other voter could take over leadership, so it steps down as it stops"
        : "; its rqlite version cannot hand leadership over, so it steps down as it stops";
  const voters = voterCount(o, f);
  const voter = roleOf(next) === "voter";
  // Evicted where the budget can allow it, so that a drain and the roll serialize on it.
  const evict = !voter || voters >= SMALLEST_QUORUM_SAFE_VOTERS || maintenanceOpensBudget(o.cluster, voters);
  if (evict && otherBudgetsOver([next], o.otherPdbs ?? []).length > 0) return undefined;
  const unwritable =
    voter && voters < SMALLEST_QUORUM_SAFE_VOTERS
      ? `; with ${voters} voter${voters === 1 ? "" : "s"} no roll keeps quorum, so the cluster is unwritable until ${name} is back`
      : "";
  return {
    action: {
      type: "deletePod",
      name,
      evict,
      reason: "RollingUpdate",
      message: `${evict ? "evicted" : "deleted"} outdated Pod ${name} to recreate it with the new spec (${f.outdated.length} outdated${how}${unwritable})`,
      ...(unwritable ? { warning: true } : {}),
    },
  };
}

/**
 * The rqlite container of the Pod does not run and has restarted: it crash-loops (CrashLoopBackOff,
 * or terminated between two back-offs). Such a Pod serves nothing and holds no vote that answers.
 */
export function isCrashLooping(pod: V1Pod): boolean {
  const c = pod.status?.containerStatuses?.find((s) => s.name === RQLITE_CONTAINER);
  return c !== undefined && !c.state?.running && (c.restartCount ?? 0) > 0;
}

/**
 * Before anything else that waits for every Pod to settle (a ghost's removal, a scale step, the
 * roll): an outdated Pod whose rqlite crash-loops is replaced, when spec.image is a version step
 * every running Pod can take. It takes nothing down, so it waits only for no other Pod to be
 * going. Without it, a failed upgrade that took voters below quorum (or a broken read replica,
 * or a joiner that never joined) waits for itself: every other step waits for it to be Ready.
 * Not one on an unreachable Kubernetes node (its status is stale; lost nodes are judged apart).
 */
export function replaceCrashLooping(o: Observed, f: Facts): Step | undefined {
  if (o.cluster.spec.updateStrategy.type !== "RollingUpdate" || versionStepWait(o)) return undefined;
  const broken = [...f.outdated, ...outdatedLeaving(o, f)].find(
    (p) =>
      isCrashLooping(p) &&
      !isPodReady(p) &&
      !isTerminating(p) &&
      podName(p) !== o.raft?.leader &&
      // The leader reaches its rqlite: it runs again (the Pod's status lags), and holds a vote.
      !o.raft?.members.some((m) => m.id === podName(p) && m.reachable) &&
      !(p.spec?.nodeName && o.unreachableSince.has(p.spec.nodeName)),
  );
  if (!broken) return undefined;
  const name = podName(broken);
  const terminating = o.pods.find(isTerminating);
  if (terminating)
    return wait("WaitingToRoll", `replacing crash-looping ${name} waits for Pod ${podName(terminating)} to go`);
  return {
    action: {
      type: "deletePod",
      name,
      reason: "RollingUpdate",
      message: `deleted outdated Pod ${name}, whose rqlite crash-loops, to recreate it with the new spec (${f.outdated.length} outdated)`,
    },
  };
}

/**
 * While no leader answers, the Pods of members a scale-down is to remove that would come back
 * (returningPod) with another spec. A broken spec set back together with a scale-down leaves
 * them crash-looping on the broken one: without a leader they cannot leave the Raft
 * configuration, and without them the remaining voters may have no quorum to elect one.
 */
function outdatedLeaving(o: Observed, f: Facts): V1Pod[] {
  if (o.raft) return [];
  const hashOf = (p: V1Pod | undefined) => p?.metadata?.annotations?.[SPEC_HASH_ANNOTATION];
  return o.pods.filter((p) => {
    const back = !f.desiredNames.has(podName(p)) && returningPod(o, f, podName(p));
    return back && hashOf(back) !== hashOf(p);
  });
}

/**
 * The first step of every change, before a scale step too (a broken Pod never becomes Ready, and
 * scale and roll wait for every Pod to be): an outdated Pod that is not Ready is replaced, when
 * spec.image is a version step every running Pod can take. Not one on an unreachable Kubernetes
 * node (its rqlite may run on; lost nodes are judged apart), nor the leader (whatever its Pod
 * says, it answered as leader, and goes last, I4).
 */
export function rollBackBroken(o: Observed, f: Facts, held: ReadonlySet<string>): Step | undefined {
  if (o.cluster.spec.updateStrategy.type !== "RollingUpdate" || versionStepWait(o)) return undefined;
  // Only a Pod newer than every Ready one and every up-to-date one: the step a failed roll took
  // last. An older Pod that is down for a while (a crash) waits for the roll as usual; replacing
  // it from a spec that may be the bad one would spread it. Nor one older than the roll's latest
  // step: in a 1- or 2-voter cluster the voter not yet replaced loses its leader while the new one
  // starts, and is NotReady only until that one joins it. The newest first.
  const created = (p: V1Pod) => new Date(p.metadata?.creationTimestamp ?? 0).getTime();
  const outdated = new Set(f.outdated);
  const newestReady = Math.max(
    -Infinity,
    ...o.pods.filter((p) => isPodReady(p) || (f.desiredNames.has(podName(p)) && !outdated.has(p))).map(created),
  );
  const broken = f.outdated
    .filter(
      (p) =>
        created(p) > newestReady &&
        !isPodReady(p) &&
        !isTerminating(p) &&
        podName(p) !== o.raft?.leader &&
        !(p.spec?.nodeName && o.unreachableSince.has(p.spec.nodeName)),
    )
    .sort((a, b) => created(b) - created(a))[0];
  if (!broken) return undefined;
  // Without the leader's view, the members the last status recorded stand in for a scale check.
  if (!o.raft && (o.lastMembers ?? []).some((id) => !f.desiredNames.has(id))) return undefined;
  return replaceBroken(o, f, held, podName(broken));
}

/**
 * An outdated Pod that is not Ready: replaced first, by a plain delete (it holds no budget's
 * disruption), once everything else is settled. Without the leader's view (the broken Pod may be
 * the only voter), the Raft members the last status recorded stand in for the scale check.
 */
function replaceBroken(o: Observed, f: Facts, held: ReadonlySet<string>, name: string): Step {
  // While no voter is Ready nothing serves (a 1- or 2-voter cluster with one voter broken has no
  // leader): the others cannot become Ready first, and replacing this one takes nothing down.
  const serving = o.pods.some((p) => roleOf(p) === "voter" && isPodReady(p));
  // With 3 or more voters, none Ready is an election (a leader just died) or lost quorum, not a
  // broken Pod: replacing one then would take a voter down that is about to serve.
  if (!serving && voterCount(o, f) >= SMALLEST_QUORUM_SAFE_VOTERS)
    return wait(
      "WaitingToRoll",
      `rolling update waits: no voter is Ready (an election, or quorum lost), so ${name} is not replaced yet`,
    );
  const terminating = o.pods.find(isTerminating);
  const unsettled = serving
    ? settledExcept(o, f, new Set([...held, name]))
    : terminating && `Pod ${podName(terminating)} is still terminating`;
  if (unsettled) return wait("WaitingToRoll", `rolling update waits: ${unsettled}`);
  return {
    action: {
      type: "deletePod",
      name,
      reason: "RollingUpdate",
      message: `deleted outdated Pod ${name}, which is not Ready, to recreate it with the new spec (${f.outdated.length} outdated)`,
    },
  };
}
