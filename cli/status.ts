// What `kubectl rqlite status` shows, gathered in two rounds: the RqCluster, its Pods, PVCs,
// Events and RqBackups together, then one /status per node through the pod proxy, all nodes at once.
import type { V1Pod } from "@kubernetes/client-node";
import type { RqliteStatus } from "../controller/rqlite/shapes.js";
import { applyDefaults } from "../shared/defaults.js";
import { s3Location } from "../shared/backup-names.js";
import { LABEL_ROLE } from "../shared/names.js";
import type { RqBackup, RqCluster } from "../shared/types.generated.js";
import { clusterBackups } from "./backups.js";
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
  backup: BackupView;
}

/** The cluster's backups: the schedule of spec.backup, what status.backup says, its RqBackups, the restore. */
export interface BackupView {
  /** spec.backup, defaulted: rqlite's own scheduled uploads. */
  schedule?: {
    destination: string;
    endpoint?: string;
    interval: string;
    timestamp: boolean;
    retention?: { keepLast?: number; maxAge?: string };
  };
  lastSuccessfulTime?: string;
  lastFailure?: { time?: string; message?: string };
  /** Objects under the backup path after the operator's last retention pass. */
  retainedObjects?: number;
  /** The RqBackups of this cluster, oldest first. */
  backups: Array<{
    name: string;
    phase: string;
    format: string;
    size?: number;
    created?: string;
    completedAt?: string;
    location?: string;
    reason?: string;
  }>;
  /** Why the RqBackups could not be listed (e.g. RBAC); the rest of the screen stands. */
  backupsError?: string;
  /** The Restored condition, on a cluster created from a backup. */
  restored?: { status: string; reason?: string; message?: string; time?: string; location?: string };
}

const NODE_TIMEOUT_MS = 3000;

interface NodeAnswer {
  pod: V1Pod;
  status?: RqliteStatus;
  error?: string;
}
const EVENTS_SHOWN = 8;

export async function clusterStatus(kube: Kube, name: string): Promise<ClusterStatusView> {
  const rq = await getCluster(kube, name);
  const [pods, pvcs, events, backups] = await Promise.all([
    clusterPods(kube, rq),
    clusterPvcs(kube, name),
    clusterEvents(kube, name),
    clusterBackups(kube, name),
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
    backup: backupView(rq, backups.items, backups.error),
  };
}

export function backupView(rq: RqCluster, backups: RqBackup[], error?: string): BackupView {
  const spec = rq.spec?.backup ? applyDefaults(rq).spec.backup : undefined;
  const status = rq.status?.backup;
  const restored = rq.status?.conditions?.find((c) => c.type === "Restored");
  return {
    ...(spec
      ? {
          schedule: {
            destination: s3Location(spec.s3.bucket, spec.s3.path),
            ...(spec.s3.endpoint ? { endpoint: spec.s3.endpoint } : {}),
            interval: spec.interval,
            timestamp: spec.timestamp,
            ...(spec.retention ? { retention: spec.retention } : {}),
          },
        }
      : {}),
    ...(status?.lastSuccessfulTime ? { lastSuccessfulTime: status.lastSuccessfulTime } : {}),
    ...(status?.lastFailure ? { lastFailure: status.lastFailure } : {}),
    ...(status?.retainedObjects !== undefined ? { retainedObjects: status.retainedObjects } : {}),
    backups: backups.map((b) => {
      const st = b.status ?? {};
      return {
        name: b.metadata!.name!,
        phase: st.phase ?? "Pending",
        format: b.spec?.format ?? "binary",
        ...(st.size !== undefined ? { size: st.size } : {}),
        ...(b.metadata?.creationTimestamp ? { created: String(b.metadata.creationTimestamp) } : {}),
        ...(st.completedAt ? { completedAt: st.completedAt } : {}),
        ...(st.location ? { location: st.location } : {}),
        ...(st.reason ? { reason: st.reason } : {}),
      };
    }),
    ...(error ? { backupsError: error } : {}),
    ...(restored
      ? {
          restored: {
            status: restored.status,
            ...(restored.reason ? { reason: restored.reason } : {}),
            ...(restored.message ? { message: restored.message } : {}),
            ...(restored.lastTransitionTime ? { time: restored.lastTransitionTime } : {}),
            ...(rq.status?.restore?.location ? { location: rq.status.restore.location } : {}),
          },
        }
      : {}),
  };
}

/** True when the cluster has anything about backups to show. */
export const hasBackupState = (b: BackupView): boolean =>
  Boolean(b.schedule || b.lastSuccessfulTime || b.lastFailure || b.backups.length || b.backupsError || b.restored);

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
