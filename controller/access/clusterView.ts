// An RqCluster as every kind sees it before it asks a node anything: the defaulted view its names,
// labels and owner reference come from, where each node answers, which Pods are Ready, and the
// shapes of the operator's credentials and of a Secret it cannot use. Pure, so that the plans of
// every kind may use it.
import type { KubernetesObject, V1OwnerReference, V1Pod } from "@kubernetes/client-node";
import { applyDefaults, type DefaultedRqClusterSpec, type RqCluster } from "../../shared/index.js";
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
} from "../../shared/names.js";

/** The spec after defaulting: every field docs/api.md gives a default is present. */
export type DefaultedSpec = DefaultedRqClusterSpec;

export interface ClusterIdentity {
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
}

export function clusterIdentity(obj: RqCluster): ClusterIdentity {
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

/**
 * How nodes name each other. In a cluster every node has a stable DNS name through the headless
 * Service and discovery resolves that Service. The local runtime has no cluster DNS, so it
 * passes each node's loopback address and an explicit join list instead.
 */
export type Addressing =
  | { kind: "dns"; clusterDomain: string }
  | { kind: "static"; addressOf: (namespace: string, podName: string) => string };

export function nodeAddress(c: ClusterIdentity, podName: string, addressing: Addressing): string {
  return addressing.kind === "dns"
    ? `${podName}.${c.headlessService}.${c.namespace}.svc.${addressing.clusterDomain}`
    : addressing.addressOf(c.namespace, podName);
}

export function isPodReady(pod: V1Pod): boolean {
  return (
    !pod.metadata?.deletionTimestamp &&
    (pod.status?.conditions ?? []).some((c) => c.type === "Ready" && c.status === "True")
  );
}

/** The key of the operator's password in its auth Secret, `<cluster>-operator-auth`. */
export const PASSWORD_KEY = "operator-password";

export interface Credentials {
  username: string;
  password: string;
}

/** A Secret the spec names that cannot be used: reason, and a message naming the Secret and key. */
export interface SecretProblem {
  reason: string;
  message: string;
}
