// What the reconciler asks rqlite itself: who the members are, who leads, whether a node is
// caught up; and the two changes it makes through rqlite: removing a node from the Raft
// configuration and moving leadership. Kubernetes only knows Pods; only rqlite knows quorum.
import type { V1Pod } from "@kubernetes/client-node";
import { HTTP_PORT } from "../../shared/names.js";
import { RqliteClient, RqliteError, type RemoveOutcome, type RqliteNode, type TransferOutcome } from "../rqlite/client.js";
import type { ClusterView } from "../render/cluster.js";
import { nodeAddress, type Addressing } from "../render/pod.js";
import type { Member, RqliteView } from "./status.js";

/** Older rqlite releases have no leadership transfer endpoint; they step down on shutdown instead. */
export type TransferResult = TransferOutcome | "unsupported";

export interface RqliteOps {
  /** Members and leader as a reachable node reports them; undefined when no node answers. */
  observe(c: ClusterView, pods: V1Pod[]): Promise<RqliteView | undefined>;
  removeNode(c: ClusterView, leaderId: string, nodeId: string): Promise<RemoveOutcome>;
  transferLeadership(c: ClusterView, leaderId: string, toId: string): Promise<TransferResult>;
  /** True when the node has a leader and has applied everything it knows of (`/readyz?sync`). */
  isSynced(c: ClusterView, nodeId: string): Promise<boolean>;
}

const CALL_TIMEOUT_MS = 3000;

export function makeRqliteOps(addressing: Addressing): RqliteOps {
  const client = (c: ClusterView, nodeId: string) => {
    const scheme = c.spec.tls?.http?.secretName ? "https" : "http";
    return new RqliteClient(`${scheme}://${nodeAddress(c, nodeId, addressing)}:${HTTP_PORT}`, { nodeId, timeoutMs: CALL_TIMEOUT_MS });
  };
  const toMember = (n: RqliteNode): Member => ({ id: n.id, voter: n.voter, ready: n.reachable, address: n.apiAddr ?? n.addr });

  return {
    async observe(c, pods) {
      // Ask the nodes Kubernetes calls ready first; any answering node knows the membership.
      const ordered = [...pods].sort((a, b) => Number(isReady(b)) - Number(isReady(a)));
      for (const pod of ordered) {
        if (pod.metadata?.deletionTimestamp) continue;
        try {
          const nodes = await client(c, pod.metadata!.name!).nodes();
          const leader = nodes.find((n) => n.leader)?.id;
          return { ...(leader ? { leader } : {}), members: nodes.map(toMember) };
        } catch {
          // This node is down or not started yet; another may answer.
        }
      }
      return undefined;
    },
    removeNode: (c, leaderId, nodeId) => client(c, leaderId).removeNode(nodeId),
    async transferLeadership(c, leaderId, toId) {
      try {
        return await client(c, leaderId).transferLeadership(toId);
      } catch (err) {
        if (err instanceof RqliteError && err.status === 404) return "unsupported";
        throw err;
      }
    },
    async isSynced(c, nodeId) {
      return client(c, nodeId).readyz({ sync: true }).then((r) => r.ready, () => false);
    },
  };
}

function isReady(pod: V1Pod): boolean {
  return (pod.status?.conditions ?? []).some((x) => x.type === "Ready" && x.status === "True");
}
