// Taking a node out of the Raft configuration through the leader, before its Pod goes, so the
// remaining voters never count a member that will not come back (I2, I3). Also the removal of
// "ghost" members: in the configuration, with no Pod, and not desired (I7).
import { isPodReady, quorum, settledExcept, type Facts } from "./facts.js";
import type { Action, Observed, Wait } from "./types.js";

/** What a part of the plan decided for one node: act, wait, or nothing left to do. */
export type Step = { action: Action; also?: Action[] } | { wait: Wait } | { done: true };

export const wait = (reason: string, message: string, warning = false): Step => ({ wait: { reason, message, warning } });

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
  if (o.raft.leader === node) {
    const target = staying.find((m) => m.reachable && isPodReady(f.pods.get(m.id) ?? {}) && o.synced.has(m.id));
    if (!o.raft.canTransfer) {
      return wait(
        "NoLeadershipTransfer",
        `not removing ${node} yet (${why}): it leads and its rqlite version cannot hand leadership to another node; upgrade rqlite (8.41 or later) or delete Pod ${node} to make it step down`,
        true,
      );
    }
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
export function removeGhost(o: Observed, f: Facts): Step | undefined {
  const ghost = o.raft?.members.find((m) => !f.pods.has(m.id) && !f.desiredNames.has(m.id));
  if (!ghost) return undefined;
  const unsettled = settledExcept(o, f, ghost.id);
  if (unsettled) return wait("WaitingToRemoveGhost", `not removing the stale Raft member ${ghost.id} yet: ${unsettled}`);
  return leaveRaft(o, f, ghost.id, "a Raft member with no Pod that the spec does not ask for");
}
