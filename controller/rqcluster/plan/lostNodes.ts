// A Pod on a Kubernetes node that has been unreachable past the timeout never comes back by
// itself: its kubelet cannot confirm a deletion. Such a node is replaced only when rqlite agrees
// it is gone (I6): the leader cannot reach it either. Then it leaves the Raft configuration, its
// Pod is force-deleted and its PVC deleted, and the scale step recreates it on fresh storage,
// where it joins and copies the data from the leader. One node at a time, never below quorum.
import { ordinalOf, podName, type Facts } from "./facts.js";
import { leaveRaft, wait, type Step } from "./raftRemoval.js";
import type { Observed } from "./types.js";
import { PVC } from "../ports.js";

export interface LostNodes {
  step?: Step;
  /** Warnings for Pods on unreachable nodes whose rqlite is still healthy. */
  partitioned: Step[];
  /** Wake up when the first pending timeout expires, not at the next resync. */
  recheckAfterMs?: number;
}

export function planLostNodes(o: Observed, f: Facts): LostNodes {
  const out: LostNodes = { partitioned: [] };
  const candidates = o.pods
    .filter((p) => p.spec?.nodeName && o.unreachableSince.has(p.spec.nodeName))
    .sort((a, b) => ordinalOf(o, podName(b)) - ordinalOf(o, podName(a)));
  for (const pod of candidates) {
    const name = podName(pod);
    const nodeName = pod.spec!.nodeName!;
    const lostMs = o.now - o.unreachableSince.get(nodeName)!;
    if (lostMs <= o.nodeFailureTimeoutMs) {
      const left = o.nodeFailureTimeoutMs - lostMs + 1;
      out.recheckAfterMs = Math.min(out.recheckAfterMs ?? left, left);
      continue;
    }
    const member = o.raft?.members.find((m) => m.id === name);
    if (!o.raft) {
      out.step ??= wait(
        "WaitingForLeader",
        `not replacing ${name} on unreachable Kubernetes node ${nodeName} yet: no rqlite leader answered to confirm that ${name} is gone${o.rqliteProblem ? ` (${o.rqliteProblem})` : ""}`,
        true,
      );
      continue;
    }
    if (member?.reachable) {
      out.partitioned.push(
        wait(
          "NodePartitioned",
          `Kubernetes node ${nodeName} of ${name} has been unreachable for ${Math.round(lostMs / 1000)} s, but the rqlite leader still reaches ${name}: leaving it in place`,
          true,
        ),
      );
      continue;
    }
    if (out.step) continue;
    const why = `its Kubernetes node ${nodeName} has been unreachable for ${Math.round(lostMs / 1000)} s and the rqlite leader cannot reach it`;
    const left = leaveRaft(o, f, name, why);
    if (!("done" in left)) {
      out.step = left;
      continue;
    }
    if (pod.metadata?.deletionTimestamp && pod.spec?.nodeName === nodeName && isForceDeleted(pod)) continue;
    const pvc = o.pvcs.find((p) => p.metadata?.name === name && !p.metadata.deletionTimestamp);
    out.step = {
      action: {
        type: "deletePod",
        name,
        force: true,
        warning: true,
        reason: "NodeLost",
        message: `replacing ${name}: ${why}; force-deleted its Pod`,
      },
      // In the same step: the scale step must not recreate the Pod on the old volume.
      also: pvc
        ? [
            {
              type: "delete",
              target: { ...PVC, name },
              reason: "NodeLost",
              message: `deleted PVC ${name} of the lost node; the replacement starts on fresh storage`,
            },
          ]
        : [],
    };
  }
  return out;
}

/** After a force delete the Pod is gone from the API; a lingering one still needs it. */
const isForceDeleted = (pod: { metadata?: { deletionGracePeriodSeconds?: number } }) =>
  pod.metadata?.deletionGracePeriodSeconds === 0;
