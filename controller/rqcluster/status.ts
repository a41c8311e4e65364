// Computes RqCluster status from what the controller observed. Pure: the caller writes the
// result only when it differs from the live status, so a steady cluster causes no writes.
import type { V1Pod } from "@kubernetes/client-node";
import { LABEL_ROLE, scaleSelector } from "../../shared/names.js";
import type { ClusterView } from "./render/cluster.js";
import { SPEC_HASH_ANNOTATION } from "./render/pod.js";

export type Phase = "Pending" | "Creating" | "Running" | "Scaling" | "Upgrading" | "Degraded" | "Paused";

export interface Condition {
  type: "Available" | "Progressing" | "Degraded";
  status: "True" | "False" | "Unknown";
  observedGeneration?: number;
  lastTransitionTime: string;
  reason: string;
  message: string;
}

export interface Member {
  id: string;
  voter: boolean;
  ready: boolean;
  address: string;
}

export interface ClusterStatus {
  observedGeneration?: number;
  phase: Phase;
  replicas: number;
  readyReplicas: number;
  readReplicasReady: number;
  selector: string;
  leader?: string;
  currentImage?: string;
  members: Member[];
  conditions: Condition[];
}

/** What rqlite itself reports; absent when no node answered. */
export interface RqliteView {
  leader?: string;
  members: Member[];
}

export interface Observed {
  pods: V1Pod[];
  /** Pod name -> the spec hash it should have. */
  desiredHashes: Map<string, string>;
  rqlite?: RqliteView;
  /** The cluster has been Available before: later shortfalls are Degraded, not Creating. */
  wasAvailable: boolean;
}

export function isPodReady(pod: V1Pod): boolean {
  return (
    !pod.metadata?.deletionTimestamp &&
    (pod.status?.conditions ?? []).some((c) => c.type === "Ready" && c.status === "True")
  );
}

const rqliteImage = (pod: V1Pod) => pod.spec?.containers.find((c) => c.name === "rqlite")?.image;

export function computeStatus(
  c: ClusterView,
  obs: Observed,
  previous: Partial<ClusterStatus> | undefined,
  now: Date,
): ClusterStatus {
  const voters = obs.pods.filter((p) => p.metadata?.labels?.[LABEL_ROLE] === "voter");
  const readers = obs.pods.filter((p) => p.metadata?.labels?.[LABEL_ROLE] === "read-only");
  const readyVoters = voters.filter(isPodReady).length;
  const readyReaders = readers.filter(isPodReady).length;
  const desiredVoters = c.spec.replicas;
  const quorum = Math.floor(desiredVoters / 2) + 1;
  const outdated = obs.pods.filter((p) => {
    const want = obs.desiredHashes.get(p.metadata!.name!);
    return want !== undefined && p.metadata?.annotations?.[SPEC_HASH_ANNOTATION] !== want;
  });
  const countsMatch = voters.length === desiredVoters && readers.length === c.spec.readReplicas;
  const allReady = countsMatch && readyVoters === desiredVoters && readyReaders === c.spec.readReplicas;
  const available = readyVoters >= quorum && (obs.rqlite ? obs.rqlite.leader !== undefined : true);

  let phase: Phase;
  if (c.spec.paused) phase = "Paused";
  else if (obs.pods.length === 0) phase = "Pending";
  else if (!obs.wasAvailable && !available) phase = "Creating";
  else if (!countsMatch) phase = "Scaling";
  else if (outdated.length > 0) phase = "Upgrading";
  else if (!allReady) phase = "Degraded";
  else phase = "Running";

  const images = new Set(voters.map(rqliteImage).filter(Boolean));
  const members =
    obs.rqlite?.members ??
    obs.pods.map((p) => ({
      id: p.metadata!.name!,
      voter: p.metadata?.labels?.[LABEL_ROLE] === "voter",
      ready: isPodReady(p),
      address: `${p.metadata!.name}.${c.headlessService}.${c.namespace}`,
    }));
  members.sort((a, b) => a.id.localeCompare(b.id, "en", { numeric: true }));

  const progressing = phase === "Creating" || phase === "Scaling" || phase === "Upgrading";
  // While scaling or rolling, a node down is the plan, not a fault.
  const degraded = obs.wasAvailable && !allReady && !c.spec.paused && !progressing;
  const conditions: Array<Omit<Condition, "lastTransitionTime">> = [
    available
      ? {
          type: "Available",
          status: "True",
          reason: "QuorumReady",
          message: `${readyVoters} of ${desiredVoters} voters ready (quorum ${quorum})`,
        }
      : {
          type: "Available",
          status: "False",
          reason: "NoQuorum",
          message: `${readyVoters} of ${desiredVoters} voters ready; quorum needs ${quorum}`,
        },
    progressing
      ? {
          type: "Progressing",
          status: "True",
          reason: phase,
          message: `${phase.toLowerCase()}: ${voters.length}/${desiredVoters} voters, ${readers.length}/${c.spec.readReplicas} read replicas, ${outdated.length} outdated`,
        }
      : {
          type: "Progressing",
          status: "False",
          reason: c.spec.paused ? "Paused" : "Converged",
          message: c.spec.paused ? "spec.paused is true: the operator changes nothing" : "every node matches the spec",
        },
    degraded
      ? {
          type: "Degraded",
          status: "True",
          reason: "NodesNotReady",
          message: `${readyVoters + readyReaders} of ${desiredVoters + c.spec.readReplicas} nodes ready`,
        }
      : allReady
        ? { type: "Degraded", status: "False", reason: "AllNodesReady", message: "no node is missing or unready" }
        : {
            type: "Degraded",
            status: "False",
            reason: c.spec.paused ? "Paused" : "NotYetAvailable",
            message: c.spec.paused
              ? "spec.paused is true: not judged"
              : "the cluster has not been available yet; see Progressing",
          },
  ];

  return {
    observedGeneration: c.generation,
    phase,
    replicas: voters.length,
    readyReplicas: readyVoters,
    readReplicasReady: readyReaders,
    selector: scaleSelector(c.name),
    ...(obs.rqlite?.leader ? { leader: obs.rqlite.leader } : {}),
    ...(images.size === 1 ? { currentImage: [...images][0] } : {}),
    members,
    conditions: conditions.map((cond) =>
      withTransitionTime({ ...cond, observedGeneration: c.generation }, previous?.conditions, now),
    ),
  };
}

/** A condition keeps its lastTransitionTime until its status changes, as metav1 requires. */
function withTransitionTime(
  cond: Omit<Condition, "lastTransitionTime">,
  previous: Condition[] | undefined,
  now: Date,
): Condition {
  const before = previous?.find((p) => p.type === cond.type);
  const lastTransitionTime =
    before && before.status === cond.status ? before.lastTransitionTime : now.toISOString().replace(/\.\d+Z$/, "Z");
  return { ...cond, lastTransitionTime };
}
