// The RqCluster's status and Events as kubectl shows them to a user.
import type { ControlPlane } from "../../testenv/controlplane.js";
import { eventually } from "../../testenv/eventually.js";

export interface ClusterStatus {
  observedGeneration?: number;
  phase?: string;
  leader?: string;
  replicas?: number;
  readyReplicas?: number;
  currentImage?: string;
  members?: Array<{ id: string; voter: boolean; ready: boolean }>;
  conditions?: Array<{ type: string; status: string }>;
}

export interface ClusterState {
  generation: number;
  status: ClusterStatus;
}

export async function readCluster(cp: ControlPlane, namespace: string, cluster: string): Promise<ClusterState> {
  const rq = JSON.parse(await cp.kubectlOk(["get", "rqc", cluster, "-n", namespace, "-o", "json"])) as {
    metadata: { generation: number };
    status?: ClusterStatus;
  };
  return { generation: rq.metadata.generation, status: rq.status ?? {} };
}

export const isAvailable = (s: ClusterStatus) =>
  s.conditions?.some((c) => c.type === "Available" && c.status === "True") ?? false;

/**
 * The status describes the latest spec (not the one before an edit) and says Running: exactly
 * `voters` ready members, a leader, no outdated Pod.
 */
export const isConverged = ({ generation, status: s }: ClusterState, voters: number) =>
  s.observedGeneration === generation &&
  s.phase === "Running" &&
  s.readyReplicas === voters &&
  s.members?.length === voters &&
  s.members.every((m) => m.ready) &&
  Boolean(s.leader);

export const memberIds = (s: ClusterStatus) => s.members?.map((m) => m.id).sort() ?? [];

/** "Type: message" of the namespace's Events with this reason, oldest first. */
export async function eventMessages(cp: ControlPlane, namespace: string, reason: string): Promise<string[]> {
  const list = JSON.parse(
    await cp.kubectlOk(["get", "events", "-n", namespace, "--field-selector", `reason=${reason}`, "-o", "json"]),
  ) as { items: Array<{ metadata: { name: string }; message?: string; type?: string; firstTimestamp?: string }> };
  // Timestamps have whole seconds; the names end in a hex timestamp in microseconds (events.ts).
  const order = (e: (typeof list.items)[number]) => `${e.firstTimestamp ?? ""} ${e.metadata.name}`;
  return list.items.sort((a, b) => order(a).localeCompare(order(b))).map((e) => `${e.type ?? ""}: ${e.message ?? ""}`);
}

/**
 * Waits until the cluster is converged on `voters` (isConverged) and `also` holds, showing the
 * last status read when it times out.
 */
export async function waitConverged(
  cp: ControlPlane,
  namespace: string,
  name: string,
  voters: number,
  also: () => Promise<boolean> = () => Promise.resolve(true),
): Promise<void> {
  let last: unknown;
  await eventually(
    `${name}: ${voters} ready members on the latest spec`,
    async () => {
      const state = await readCluster(cp, namespace, name);
      last = state.status;
      return isConverged(state, voters) && (await also());
    },
    300_000,
    { intervalMs: 500, state: () => last },
  );
}
