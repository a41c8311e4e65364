// A Pod the scheduler cannot place stays Pending, and no retry of the operator's changes that: a
// person must (add Kubernetes nodes, relax spec.affinity, fix a nodeSelector or a toleration in
// the pod template). The scheduler says why in the Pod's PodScheduled condition; the cluster
// repeats it in its Progressing condition and a Warning Event, where `kubectl describe rqc` shows
// it, instead of leaving the user to find the one Pending Pod among the children.
import type { V1Pod } from "@kubernetes/client-node";
import { isTerminating, podName, type Facts } from "./facts.js";
import type { Step } from "./raftRemoval.js";
import type { Observed, Wait } from "./types.js";

export const UNSCHEDULABLE = "Unschedulable";

/** Not placed, and the scheduler said it cannot be: it never ran, so it holds no data and serves nothing. */
function isUnschedulable(pod: V1Pod): boolean {
  if (pod.spec?.nodeName || pod.status?.podIP || isTerminating(pod)) return false;
  const scheduled = pod.status?.conditions?.find((c) => c.type === "PodScheduled");
  return scheduled?.status === "False" && scheduled.reason === UNSCHEDULABLE;
}

/**
 * The fix for an unschedulable Pod is usually a spec change (Preferred instead of Required
 * anti-affinity, another nodeSelector), but the scale and roll steps wait for every desired Pod
 * to be Ready first, and this one never will be: it would keep its old spec forever. It is
 * recreated from the new spec at once instead. Taking it away takes nothing down (it never ran),
 * so no gate applies beyond one Pod going at a time.
 */
export function replaceUnschedulable(o: Observed, f: Facts): Step | undefined {
  const pod = f.outdated.find(isUnschedulable);
  if (!pod || o.pods.some(isTerminating)) return undefined;
  return {
    action: {
      type: "deletePod",
      name: podName(pod),
      reason: "RecreatingUnschedulable",
      message: `deleted Pod ${podName(pod)}, which no Kubernetes node could run, to recreate it with the new spec`,
    },
  };
}

/**
 * Desired Pods the scheduler cannot place and that are no Raft member: a roll need not wait for
 * them to become Ready. They hold no data and count for no quorum, and they may become placeable
 * only once the roll has brought the other Pods to the new spec: from Required to Preferred
 * anti-affinity, the old Pods' Required terms keep repelling the new one until they are replaced.
 */
export function unplacedJoiners(o: Observed): Set<string> {
  const members = new Set(o.raft ? o.raft.members.map((m) => m.id) : (o.lastMembers ?? []));
  return new Set(o.pods.filter((p) => isUnschedulable(p) && !members.has(podName(p))).map(podName));
}

/**
 * How long a new Pod may wait for its volume before its scheduling is reported. A PVC created
 * with its Pod is bound (or provisioned) a moment later, and until then the scheduler calls the
 * Pod unschedulable ("unbound immediate PersistentVolumeClaims"): every new cluster would raise
 * a false Warning.
 */
export const VOLUME_BINDING_GRACE_MS = 60_000;

/**
 * The Pod is young and waits for its volume: a claim of its is not Bound yet, or was not when the
 * scheduler last looked (it says so; the caches may already show the claim Bound). The PV
 * controller's turn, and the scheduler's to try again, not a problem yet.
 */
function waitsForVolume(o: Observed, pod: V1Pod, message: string): boolean {
  const created = pod.metadata?.creationTimestamp ? new Date(pod.metadata.creationTimestamp).getTime() : o.now;
  if (o.now - created >= VOLUME_BINDING_GRACE_MS) return false;
  if (/unbound .*PersistentVolumeClaim/i.test(message)) return true;
  const claims = (pod.spec?.volumes ?? []).flatMap((v) =>
    v.persistentVolumeClaim ? [v.persistentVolumeClaim.claimName] : [],
  );
  return claims.some((name) => o.pvcs.find((c) => c.metadata?.name === name)?.status?.phase !== "Bound");
}

export function unschedulableWaits(o: Observed): Wait[] {
  const affinity = o.cluster.spec.affinity;
  return o.pods.filter(isUnschedulable).flatMap((pod): Wait[] => {
    const scheduled = pod.status!.conditions!.find((c) => c.type === "PodScheduled")!;
    const why = scheduled.message?.trim() || "the scheduler gave no reason";
    if (waitsForVolume(o, pod, why)) return [];
    // The operator's own rule is the likeliest cause: say which setting to change.
    const hint =
      affinity.podAntiAffinity === "Required" && /anti-affinity/i.test(why)
        ? `; spec.affinity.podAntiAffinity is Required, so each node of the cluster needs a ${affinity.topologyKey} of its own: add Kubernetes nodes with another ${affinity.topologyKey}, or set it to Preferred`
        : "";
    return [
      { reason: UNSCHEDULABLE, message: `Pod ${podName(pod)} cannot be scheduled: ${why}${hint}`, warning: true },
    ];
  });
}
