// Deleting an RqCluster honours storage.reclaimPolicy: Delete deletes the PVCs, Retain keeps
// them with no owner reference, so that neither the garbage collector nor a foreground delete
// can take the data. The finalizer goes last.
import { PVC } from "../ports.js";
import type { Action, Observed } from "./types.js";

export function planFinalize(o: Pick<Observed, "cluster" | "pvcs">): Action[] {
  const c = o.cluster;
  return o.pvcs.flatMap((pvc): Action[] => {
    const name = pvc.metadata!.name!;
    if (c.spec.storage.reclaimPolicy === "Delete") {
      if (pvc.metadata?.deletionTimestamp) return [];
      return [
        {
          type: "delete",
          target: { ...PVC, name },
          reason: "PVCDeleted",
          message: `deleted PVC ${name} (storage.reclaimPolicy=Delete)`,
        },
      ];
    }
    const refs = pvc.metadata?.ownerReferences ?? [];
    if (!refs.some((r) => r.uid === c.uid)) return [];
    return [
      {
        type: "patch",
        target: { ...PVC, name },
        patch: { metadata: { ownerReferences: refs.filter((r) => r.uid !== c.uid) } },
        reason: "PVCRetained",
        message: `kept PVC ${name} (storage.reclaimPolicy=Retain): it no longer belongs to the cluster and outlives it`,
      },
    ];
  });
}
