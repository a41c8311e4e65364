// Taking a node out of the Raft configuration through the leader, before its Pod goes, so the
// remaining voters never count a member that will not come back (I2, I3). Also the removal of
// "ghost" members: in the configuration, with no Pod, and not desired (I7).
import { isPodReady } from "../../access/clusterView.js";
import { podName, quorum, settledExcept, type Facts } from "./facts.js";
import type { Action, Observed, Wait } from "./types.js";

/** What a part of the plan decided for one node: act, wait, or nothing left to do. */
export type Step = { action: Action; also?: Action[] } | { wait: Wait } | { done: true };

export const wait = (reason: string, message: string, warning = false): Step => ({
  wait: { reason, message, warning },
});

/**
 * Removes `node` from the Raft configuration. Leadership moves off it first; a voter is removed
 * only when the voters that stay and that the leader reaches make a quorum of the smaller
 * configuration. `done` once the leader no longer lists it.
 */
export function leaveRaft(o: Observed, f: Facts, node: string, why: string): Step {
  if (!o.raft) {
    return wait(
      "WaitingForLeader",
      `not removing ${node} yet (${why}): no rqlite leader answered, so its removal from the Raft configuration cannot be confirmed${o.rqliteProblem ? ` (${o.rqliteProblem})` : ""}`,
      true,
    );
  }
  const member = o.raft.members.find((m) => m.id === node);
  if (!member) return { done: true };
  const staying = o.raft.members.filter((m) => m.voter && m.id !== node);
  // Leadership moves first where rqlite can hand it over; older versions remove the leader
  // itself through itself: Raft commits the smaller configuration, then the leader steps down.
  if (o.raft.leader === node && o.raft.canTransfer) {
    const target = staying.find(
      (m) => m.reachable && isPodReady(f.pods.get(m.id) ?? {}) && o.synced?.has(m.id) === true,
    );
    if (!target) {
      return wait(
        "NoLeadershipTarget",
        `not removing ${node} yet (${why}): it leads and no staying voter is Ready and caught up to take over`,
        true,
      );
    }
    return {
      action: {
        type: "transferLeadership",
        from: node,
        to: target.id,
        reason: "LeadershipTransferred",
        message: `moving rqlite leadership from ${node} to ${target.id} before removing ${node} (${why})`,
      },
    };
  }
  if (member.voter) {
    const reachable = staying.filter((m) => m.reachable).length;
    const need = quorum(staying.length);
    if (reachable < need) {
      return wait(
        "QuorumAtRisk",
        `not removing ${node} yet (${why}): only ${reachable} of the ${staying.length} voters that stay are reachable from the leader, below their quorum of ${need}`,
        true,
      );
    }
  }
  return {
    action: {
      type: "removeFromRaft",
      leader: o.raft.leader,
      node,
      reason: "RemovedFromRaft",
      message: `removed ${node} from the Raft configuration through leader ${o.raft.leader} (${why})`,
    },
  };
}

/**
 * Raft members that have no Pod and are not desired: left over from a removal that did not
 * finish, or from a node that was replaced under another name. One at a time, with the same
 * quorum check, and only while everything else is settled so that the removal cannot coincide
 * with another voter's absence.
 */
/** `held`: desired nodes that wait for a roll (see scale.ts): the removal does not wait for them. */
export function removeGhost(o: Observed, f: Facts, held: ReadonlySet<string>): Step | undefined {
  const ghosts = (o.raft?.members ?? []).filter((m) => !f.pods.has(m.id) && !f.desiredNames.has(m.id));
  // Unreachable ghosts first: they are the ones that weigh on quorum.
  const ghost = ghosts.find((m) => !m.reachable) ?? ghosts[0];
  if (!ghost) return undefined;
  // Other ghosts are unavailable by nature, and nodes a scale-down takes away (a crash-looping one
  // never settles) are going anyway: the quorum check in leaveRaft still counts them all.
  const terminating = o.pods.find((p) => p.metadata?.deletionTimestamp);
  const leaving = o.pods.map(podName).filter((n) => !f.desiredNames.has(n));
  const unsettled = terminating
    ? `Pod ${podName(terminating)} is still terminating`
    : settledExcept(o, f, new Set([...ghosts.map((m) => m.id), ...held, ...leaving]));
  if (unsettled)
    return wait("WaitingToRemoveGhost", `not removing the stale Raft member ${ghost.id} yet: ${unsettled}`);
  return leaveRaft(o, f, ghost.id, "a Raft member with no Pod that the spec does not ask for");
}

/** How long a new node may take to join before it counts as stranded. */
const JOIN_GRACE_MS = 120_000;

/**
 * A desired node whose Pod runs but is not in the Raft configuration, and has not joined for a
 * while: removed earlier (a scale-down undone before its Pod went) and still running, since
 * rqlite joins only at start. Its Pod is restarted so it joins again; behind the usual gate.
 */
export function restartStranded(o: Observed, f: Facts): Step | undefined {
  if (!o.raft) return undefined;
  const members = new Set(o.raft.members.map((m) => m.id));
  const stranded = f.desired.find((m) => {
    const pod = f.pods.get(m.name);
    const created = pod?.metadata?.creationTimestamp ? new Date(pod.metadata.creationTimestamp).getTime() : 0;
    return (
      pod &&
      !members.has(m.name) &&
      !isPodReady(pod) &&
      !pod.metadata?.deletionTimestamp &&
      o.now - created > JOIN_GRACE_MS
    );
  });
  if (!stranded) return undefined;
  // Not a member, so its restart weighs on no quorum; only one Pod goes at a time.
  const terminating = o.pods.find((p) => p.metadata?.deletionTimestamp);
  if (terminating) {
    return wait(
      "WaitingToRejoin",
      `restarting ${stranded.name} to rejoin waits for Pod ${terminating.metadata!.name} to go`,
    );
  }
  return {
    action: {
      type: "deletePod",
      name: stranded.name,
      reason: "Rejoin",
      message: `restarting ${stranded.name}: its Pod runs but the leader does not list it as a member, and rqlite joins only at start`,
    },
  };
}
