// Volumes on the local runtime's nodes. A Pod's claim is bound by the real PV controller to a PV
// that kube-controller-manager's in-tree host-path provisioner made (a folder under
// /tmp/hostpath_pv), and the runtime mounts that folder as the Pod's data folder.
//
// Expansion: the in-tree host-path plugin cannot expand, so Kubernetes 1.34's expand controller
// only records "waiting for an external controller to expand this PVC" (ExternalExpanding) and
// leaves the claim to an external resizer. The runtime plays that resizer and the kubelet's
// part: it grows the PV's capacity first, then reports the claim's new capacity, in that order,
// as a CSI resizer and then the kubelet's filesystem resize would. A folder has no size, so the
// step that would grow a filesystem has nothing to do.
import type { V1PersistentVolume, V1PersistentVolumeClaim } from "@kubernetes/client-node";
import { compareQuantities, parseQuantity } from "../shared/quantity.js";

export const HOSTPATH_PROVISIONER = "kubernetes.io/host-path";

/** The data folder of a bound claim's PV, or why the Pod must wait for it. */
export function boundFolder(
  pvc: V1PersistentVolumeClaim,
  pv: V1PersistentVolume | undefined,
): { folder: string } | { waiting: string } {
  const name = `${pvc.metadata!.namespace}/${pvc.metadata!.name}`;
  const volumeName = pvc.spec?.volumeName;
  if (!volumeName || pvc.status?.phase !== "Bound") return { waiting: `waiting for PVC ${name} to be bound` };
  if (!pv) return { waiting: `waiting for PV ${volumeName} of PVC ${name}` };
  if (pv.spec?.claimRef?.uid !== pvc.metadata!.uid)
    return { waiting: `PV ${volumeName} is not bound to PVC ${name} (uid ${pvc.metadata!.uid})` };
  const folder = pv.spec?.hostPath?.path;
  if (!folder)
    return { waiting: `PV ${volumeName} of PVC ${name} is not a hostPath volume; the local runtime mounts only those` };
  return { folder };
}

/** The next write of an expansion, or undefined when there is nothing to do. */
export type ResizeStep = { pvCapacity: string } | { pvcCapacity: string } | undefined;

/**
 * Decides one step of expanding a host-path claim: PV first, then the claim's status. Only for
 * PVs the host-path provisioner made (the annotation it sets) and bound to this very claim.
 */
export function resizeStep(pvc: V1PersistentVolumeClaim, pv: V1PersistentVolume | undefined): ResizeStep {
  if (!pv || pvc.status?.phase !== "Bound" || pv.spec?.claimRef?.uid !== pvc.metadata?.uid) return undefined;
  if (pv.metadata?.annotations?.["pv.kubernetes.io/provisioned-by"] !== HOSTPATH_PROVISIONER) return undefined;
  const wantText = pvc.spec?.resources?.requests?.storage;
  const want = parseQuantity(wantText);
  const pvHas = parseQuantity(pv.spec?.capacity?.storage);
  const pvcHas = parseQuantity(pvc.status?.capacity?.storage);
  if (!want || !pvHas || !wantText) return undefined;
  if (compareQuantities(want, pvHas) > 0) return { pvCapacity: wantText };
  if (!pvcHas || compareQuantities(want, pvcHas) > 0) return { pvcCapacity: pv.spec!.capacity!.storage! };
  return undefined;
}
