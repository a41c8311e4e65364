// What `kubectl rqlite status` shows, gathered in two rounds: the RqCluster, its Pods, PVCs and
// Events together, then one /status per node through the pod proxy, all nodes at once.
import type { V1Pod } from "@kubernetes/client-node";
import type { RqliteStatus } from "../controller/rqlite/shapes.js";
import { LABEL_ROLE } from "../shared/names.js";
import { clusterEvents, clusterPods, clusterPvcs, eventTime, getCluster, isPodReady } from "./cluster.js";
import type { Kube } from "./kube.js";
import { NodeProxy } from "./rqlite.js";

export interface MemberStatus {
  name: string;
  role: "leader" | "voter" | "read-only" | "candidate" | "unknown";
  ready: boolean;
  phase: string;
  version?: string;
  appliedIndex?: number;
  /** Raft entries this node has yet to apply, against the leader's applied index. */
  lag?: number;
  /** Why the node's /status could not be read. */
  error?: string;
}

export interface ClusterStatusView {
  name: string;
  namespace: string;
  phase: string;
  replicas: { voters: number; readReplicas: number; readyVoters: number; readyReadReplicas: number };
  leader?: string;
  image?: string;
  paused: boolean;
  conditions: Array<{ type: string; status: string; reason?: string; message?: string }>;
  members: MemberStatus[];
  pvcs: Array<{ name: string; phase: string; capacity?: string; requested?: string }>;
  events: Array<{ time: string; type: string; reason: string; object: string; message: string }>;
}

const NODE_TIMEOUT_MS = 3000;

interface NodeAnswer {
  pod: V1Pod;
  status?: RqliteStatus;
  error?: string;
}
const EVENTS_SHOWN = 8;

export async function clusterStatus(kube: Kube, name: string): Promise<ClusterStatusView> {
  const [rq, pods, pvcs, events] = await Promise.all([
    getCluster(kube, name),
    clusterPods(kube, name),
    clusterPvcs(kube, name),
    clusterEvents(kube, name),
  ]);
  const nodes = await Promise.all(
    pods.map((p) =>
      new NodeProxy(kube, p, NODE_TIMEOUT_MS).status().then(
        (s): NodeAnswer => ({ pod: p, status: s }),
        (err: Error): NodeAnswer => ({ pod: p, error: err.message }),
      ),
    ),
  );
  const leader = nodes.find((n) => n.status?.raftState === "Leader")?.status;
  const s = rq.status ?? {};
  return {
    name,
    namespace: kube.namespace,
    phase: s.phase ?? "Pending",
    replicas: {
      voters: rq.spec?.replicas ?? 0,
      readReplicas: rq.spec?.readReplicas ?? 0,
      readyVoters: s.readyReplicas ?? 0,
      readyReadReplicas: s.readReplicasReady ?? 0,
    },
    ...(s.leader ? { leader: s.leader } : {}),
    ...(s.currentImage ? { image: s.currentImage } : {}),
    paused: rq.spec?.paused ?? false,
    conditions: (s.conditions ?? []).map((c) => ({
      type: c.type,
      status: c.status,
      ...(c.reason ? { reason: c.reason } : {}),
      ...(c.message ? { message: c.message } : {}),
    })),
    members: nodes.map((n) => member(n.pod, n.status, leader, n.error)),
    pvcs: pvcs.map((p) => ({
      name: p.metadata!.name!,
      phase: p.status?.phase ?? "Pending",
      ...(p.status?.capacity?.storage ? { capacity: p.status.capacity.storage } : {}),
      ...(p.spec?.resources?.requests?.storage ? { requested: p.spec.resources.requests.storage } : {}),
    })),
    events: events.slice(-EVENTS_SHOWN).map((e) => ({
      time: new Date(eventTime(e)).toISOString(),
      type: e.type ?? "Normal",
      reason: e.reason ?? "",
      object: `${e.involvedObject.kind}/${e.involvedObject.name}`,
      message: e.message ?? "",
    })),
  };
}

function member(
  pod: V1Pod,
  status: RqliteStatus | undefined,
  leader: RqliteStatus | undefined,
  error: string | undefined,
): MemberStatus {
  const base = {
    name: pod.metadata!.name!,
    ready: isPodReady(pod),
    phase: pod.metadata?.deletionTimestamp ? "Terminating" : (pod.status?.phase ?? "Pending"),
  };
  if (!status) {
    const label = pod.metadata?.labels?.[LABEL_ROLE];
    return { ...base, role: label === "read-only" ? "read-only" : "unknown", ...(error ? { error } : {}) };
  }
  const role =
    status.raftState === "Leader"
      ? "leader"
      : status.raftState === "Candidate"
        ? "candidate"
        : status.voter
          ? "voter"
          : "read-only";
  return {
    ...base,
    role,
    version: status.version,
    appliedIndex: status.appliedIndex,
    ...(leader ? { lag: Math.max(0, leader.appliedIndex - status.appliedIndex) } : {}),
  };
}
