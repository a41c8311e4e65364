// The StorageClasses of a scheduling control plane: both provision through kube-controller-
// manager's in-tree host-path provisioner (kubernetes.io/host-path, a folder under
// /tmp/hostpath_pv per PV), so the real PV controller binds every claim. One allows expansion and
// is the default (the operator's PVCs name no class unless the user sets one); the other does
// not, so the API server refuses to grow its claims, as with a fixed-size disk.
import { stringify } from "yaml";

export const EXPANDABLE_STORAGE_CLASS = "local-expandable";
export const FIXED_STORAGE_CLASS = "local-fixed";
export const HOSTPATH_PROVISIONER = "kubernetes.io/host-path";
/** Where the in-tree provisioner creates every PV's folder (hard-coded in Kubernetes). */
export const HOSTPATH_PV_ROOT = "/tmp/hostpath_pv/";

/** Both classes as one multi-document YAML, for `kubectl apply -f -`. */
export function storageClassManifests(): string {
  const cls = (name: string, annotations: Record<string, string>, allowVolumeExpansion?: boolean) => ({
    apiVersion: "storage.k8s.io/v1",
    kind: "StorageClass",
    metadata: { name, annotations },
    provisioner: HOSTPATH_PROVISIONER,
    reclaimPolicy: "Delete",
    // Bound at once: the host-path "disk" is reachable from every node, like a network volume.
    volumeBindingMode: "Immediate",
    ...(allowVolumeExpansion ? { allowVolumeExpansion } : {}),
  });
  return [
    cls(EXPANDABLE_STORAGE_CLASS, { "storageclass.kubernetes.io/is-default-class": "true" }, true),
    cls(FIXED_STORAGE_CLASS, {}),
  ]
    .map((c) => stringify(c))
    .join("---\n");
}
