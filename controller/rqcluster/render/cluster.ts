// One defaulted, read-only view of an RqCluster that every render function takes, so that
// names, labels and the owner reference are derived in one place.
import type { KubernetesObject, V1OwnerReference } from "@kubernetes/client-node";
import { applyDefaults, type DefaultedRqClusterSpec, type RqCluster } from "../../../shared/index.js";
import {
  API_VERSION,
  clientServiceName,
  clusterLabels,
  headlessServiceName,
  KIND,
  LABEL_PART_OF,
  podDisruptionBudgetName,
  readServiceName,
  selectorLabels,
} from "../../../shared/names.js";
import type { ResolvedRestore } from "../backup/render.js";

/** The spec after defaulting: every field docs/api.md gives a default is present. */
export type DefaultedSpec = DefaultedRqClusterSpec;

export interface ClusterView {
  name: string;
  namespace: string;
  uid: string;
  generation?: number;
  /** metadata.creationTimestamp: volumes older than the cluster were adopted, not made for it. */
  createdAt?: string;
  spec: DefaultedSpec;
  /** On every child: the selector's and the recommended descriptive labels. */
  labels: Record<string, string>;
  /** What selects the children; a subset of labels that never changes. */
  selector: Record<string, string>;
  headlessService: string;
  clientService: string;
  readService: string;
  pdbName: string;
  ownerReference: V1OwnerReference;
  /** The RqCluster as the owner of the Secrets and ConfigMaps it names: they are read in its namespace. */
  self: KubernetesObject;
  /**
   * spec.restore resolved to one object (observe reads it back from the backup config Secret), so
   * the founding voters' Pods render the same on every reconcile. Unset until resolved.
   */
  restore?: ResolvedRestore;
}

export function clusterView(obj: RqCluster): ClusterView {
  const defaulted = applyDefaults(obj);
  const { name, namespace, uid, generation, creationTimestamp, labels } = obj.metadata as {
    name: string;
    namespace: string;
    uid: string;
    generation?: number;
    creationTimestamp?: string | Date;
    labels?: Record<string, string>;
  };
  return {
    name,
    namespace,
    uid,
    generation,
    ...(creationTimestamp ? { createdAt: new Date(creationTimestamp).toISOString() } : {}),
    spec: defaulted.spec,
    labels: clusterLabels(name, defaulted.spec.image, labels?.[LABEL_PART_OF]),
    selector: selectorLabels(name),
    headlessService: headlessServiceName(name),
    clientService: clientServiceName(name),
    readService: readServiceName(name),
    pdbName: podDisruptionBudgetName(name),
    ownerReference: { apiVersion: API_VERSION, kind: KIND, name, uid, controller: true, blockOwnerDeletion: true },
    self: { apiVersion: API_VERSION, kind: KIND, metadata: { name, namespace, uid } },
  };
}
