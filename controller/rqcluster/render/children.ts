// The cluster's children other than Pods: both Services, the PVC of each node, the PDB, the
// NetworkPolicy.
import type {
  V1NetworkPolicy,
  V1NetworkPolicyIngressRule,
  V1NetworkPolicyPeer,
  V1PersistentVolumeClaim,
  V1PodDisruptionBudget,
  V1Service,
} from "@kubernetes/client-node";
import { LABEL_BACKUP_OF } from "../../../shared/backup-names.js";
import { HTTP_PORT, LABEL_ROLE, RAFT_PORT } from "../../../shared/names.js";
import type { ServiceSpec } from "../../../shared/types.generated.js";
import type { ClusterView } from "./cluster.js";
import type { DesiredNode } from "./members.js";
import { BOOTSTRAP_EXPECT_ANNOTATION } from "./pod.js";

function metadata(c: ClusterView, name: string, labels = c.labels) {
  return { name, namespace: c.namespace, labels, ownerReferences: [c.ownerReference] };
}

/**
 * A Service the user may shape through spec.service or spec.readService: the type and load
 * balancer fields as asked, the user's labels under the operator's, the user's annotations.
 */
function exposedService(
  c: ClusterView,
  name: string,
  shape: ServiceSpec | undefined,
  selector: Record<string, string>,
): V1Service {
  const meta = metadata(c, name, { ...shape?.labels, ...c.labels });
  return {
    apiVersion: "v1",
    kind: "Service",
    metadata: shape?.annotations ? { ...meta, annotations: shape.annotations } : meta,
    spec: {
      type: shape?.type ?? "ClusterIP",
      selector,
      ports: [httpPort],
      ...(shape?.loadBalancerSourceRanges?.length
        ? { loadBalancerSourceRanges: shape.loadBalancerSourceRanges.map((r) => r.trim()) }
        : {}),
      ...(shape?.externalTrafficPolicy ? { externalTrafficPolicy: shape.externalTrafficPolicy } : {}),
    },
  };
}

const httpPort = { name: "http", port: HTTP_PORT, targetPort: "http", protocol: "TCP" };
const raftPort = { name: "raft", port: RAFT_PORT, targetPort: "raft", protocol: "TCP" };

/** Gives every node a DNS name, ready or not, which rqlite's DNS discovery needs to bootstrap. */
export function renderHeadlessService(c: ClusterView): V1Service {
  return {
    apiVersion: "v1",
    kind: "Service",
    metadata: metadata(c, c.headlessService),
    spec: { clusterIP: "None", publishNotReadyAddresses: true, selector: c.selector, ports: [httpPort, raftPort] },
  };
}

/** Clients reach any ready node; rqlite forwards writes to the leader itself. */
export function renderClientService(c: ClusterView): V1Service {
  return exposedService(c, c.clientService, c.spec.service, c.selector);
}

/**
 * Reads spread over the read replicas, which take no part in Raft, so a read-heavy client never
 * loads the voters; with no read replicas, over every node, so the name always answers. Reads
 * through it should ask for level none or weak: a read replica is never the leader.
 */
export function renderReadService(c: ClusterView): V1Service {
  const selector = c.spec.readReplicas > 0 ? { ...c.selector, [LABEL_ROLE]: "read-only" } : c.selector;
  return exposedService(c, c.readService, c.spec.readService, selector);
}

/**
 * With reclaimPolicy Retain a PVC carries no owner reference: the garbage collector (and a
 * foreground delete of the cluster) must have nothing to act on. It is still found by its labels.
 * It also keeps the cluster's `-bootstrap-expect`, which must never change (I8) and would be
 * lost with the Pods if every Pod went at once.
 */
export function renderPvc(c: ClusterView, member: DesiredNode, bootstrapExpect: number): V1PersistentVolumeClaim {
  const { storageClassName, size, reclaimPolicy } = c.spec.storage;
  const meta = metadata(c, member.name, { ...c.labels, [LABEL_ROLE]: member.role });
  return {
    apiVersion: "v1",
    kind: "PersistentVolumeClaim",
    metadata: {
      ...meta,
      annotations: { [BOOTSTRAP_EXPECT_ANNOTATION]: String(bootstrapExpect) },
      ownerReferences: reclaimPolicy === "Delete" ? meta.ownerReferences : [],
    },
    spec: {
      accessModes: ["ReadWriteOnce"],
      ...(storageClassName !== undefined ? { storageClassName } : {}),
      resources: { requests: { storage: String(size) } },
    },
  };
}

/**
 * Covers voters only: read replicas hold no quorum, so evicting them never risks the cluster.
 * Rendered as minAvailable over the voters that count now (the Raft configuration, or more Pods
 * while a scale-down is in flight): with maxUnavailable the disruption controller would count
 * against the scale subresource's replicas, and during 5→3 allow three of five voters to go.
 * Never below the quorum of those voters, except for 1 or 2 voters under spec.maintenance: no
 * eviction keeps their quorum, so a budget at quorum would refuse every drain for good; during a
 * declared maintenance it allows one voter to go, and the cluster is unwritable meanwhile.
 */
export function renderPdb(c: ClusterView, voters: number): V1PodDisruptionBudget | undefined {
  const maxUnavailable = c.spec.podDisruptionBudget.maxUnavailable;
  if (maxUnavailable === 0) return undefined;
  const floor = maintenanceOpensBudget(c, voters) ? voters - 1 : Math.floor(voters / 2) + 1;
  const minAvailable = Math.max(voters - maxUnavailable, floor);
  return {
    apiVersion: "policy/v1",
    kind: "PodDisruptionBudget",
    metadata: metadata(c, c.pdbName),
    spec: { minAvailable, selector: { matchLabels: { ...c.selector, [LABEL_ROLE]: "voter" } } },
  };
}

/** Fewer voters than this cannot lose one and keep quorum: neither a roll step nor a drain can. */
export const SMALLEST_QUORUM_SAFE_VOTERS = 3;

/** spec.maintenance.inProgress lets the budget of a 1- or 2-voter cluster allow one disruption. */
export function maintenanceOpensBudget(c: ClusterView, voters: number): boolean {
  return c.spec.maintenance.inProgress && voters < SMALLEST_QUORUM_SAFE_VOTERS;
}

/**
 * Fences rqlite's ports: Raft (4002) only from this cluster's own Pods, so no other Pod in any
 * namespace can join or speak to its Raft; the HTTP API (4001) from them (joins, forwarded
 * writes), from the operator's namespace, and from spec.network.clientSelector (by default the
 * RqCluster's namespace). Only where the network plugin enforces NetworkPolicies; kubelet
 * probes come from the node, which plugins admit whatever the policy says.
 */
export function renderNetworkPolicy(c: ClusterView, operatorNamespace: string): V1NetworkPolicy | undefined {
  if (!c.spec.network.policy) return undefined;
  const ownPods: V1NetworkPolicyPeer = { podSelector: { matchLabels: c.selector } };
  const operator: V1NetworkPolicyPeer = {
    namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": operatorNamespace } },
  };
  const { namespaceSelector, podSelector } = c.spec.network.clientSelector ?? {};
  // A peer needs a selector: with neither, every Pod of the RqCluster's namespace.
  const clients: V1NetworkPolicyPeer = {
    ...(namespaceSelector ? { namespaceSelector } : {}),
    ...(podSelector || !namespaceSelector ? { podSelector: podSelector ?? {} } : {}),
  };
  const backupJobs: V1NetworkPolicyPeer = { podSelector: { matchLabels: { [LABEL_BACKUP_OF]: c.name } } };
  const port = (p: number) => ({ protocol: "TCP", port: p });
  return {
    apiVersion: "networking.k8s.io/v1",
    kind: "NetworkPolicy",
    metadata: metadata(c, c.name),
    spec: {
      podSelector: { matchLabels: c.selector },
      policyTypes: ["Ingress"],
      // The API calls the field `from`; client-node's model names it `_from` and renames it only
      // in its own serializer, which the writer does not use.
      ingress: [
        { from: [ownPods], ports: [port(HTTP_PORT), port(RAFT_PORT)] },
        { from: [operator, backupJobs, clients], ports: [port(HTTP_PORT)] },
      ] as unknown as V1NetworkPolicyIngressRule[],
    },
  };
}
