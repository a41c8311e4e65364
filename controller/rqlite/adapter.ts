// What the reconciler asks rqlite itself: who the members are, who leads, whether a node is
// caught up; and the two changes it makes through rqlite: removing a node from the Raft
// configuration and moving leadership. Kubernetes only knows Pods; only rqlite knows quorum.
import type { V1Pod } from "@kubernetes/client-node";
import { HTTP_PORT } from "../../shared/names.js";
import { RqliteClient, RqliteError, type RemoveOutcome, type RqliteNode, type TransferOutcome } from "./client.js";
import type { ClusterView } from "../rqcluster/render/cluster.js";
import { nodeAddress, type Addressing } from "../rqcluster/render/pod.js";
import type { Credentials } from "../rqcluster/auth.js";
import type { Member, RqliteView } from "../rqcluster/status.js";

/** Older rqlite releases have no leadership transfer endpoint; they step down on shutdown instead. */
export type TransferResult = TransferOutcome | "unsupported";

/** rqlite as one cluster's nodes answer, signed in as the operator's user when -auth is on. */
export interface ClusterRqlite {
  /** Members and leader as a reachable node reports them; undefined when no node answers. */
  observe(pods: V1Pod[]): Promise<RqliteView | undefined>;
  removeNode(leaderId: string, nodeId: string): Promise<RemoveOutcome>;
  transferLeadership(leaderId: string, toId: string): Promise<TransferResult>;
  /** True when the node has a leader and has applied everything it knows of (`/readyz?sync`). */
  isSynced(nodeId: string): Promise<boolean>;
}

export interface RqliteAccess {
  credentials?: Credentials;
  /** PEM CA bundle of the cluster's HTTPS API, when tls.http is on. */
  ca?: string;
}

export type RqliteOps = (c: ClusterView, access: RqliteAccess) => ClusterRqlite;

const CALL_TIMEOUT_MS = 3000;

export const makeRqliteOps =
  (addressing: Addressing): RqliteOps =>
  (c, access) => {
    const client = (nodeId: string) => {
      const scheme = c.spec.tls?.http?.secretName ? "https" : "http";
      return new RqliteClient(`${scheme}://${nodeAddress(c, nodeId, addressing)}:${HTTP_PORT}`, {
        nodeId,
        timeoutMs: CALL_TIMEOUT_MS,
        ...(access.credentials ? { auth: access.credentials } : {}),
        ...(access.ca ? { tls: { ca: access.ca } } : {}),
      });
    };
    const toMember = (n: RqliteNode): Member => ({
      id: n.id,
      voter: n.voter,
      ready: n.reachable,
      address: n.apiAddr ?? n.addr,
    });

    return {
      async observe(pods) {
        // Ask the nodes Kubernetes calls ready first; any answering node knows the membership.
        const ordered = [...pods].sort((a, b) => Number(isReady(b)) - Number(isReady(a)));
        for (const pod of ordered) {
          if (pod.metadata?.deletionTimestamp) continue;
          try {
            const nodes = await client(pod.metadata!.name!).nodes();
            const leader = nodes.find((n) => n.leader)?.id;
            return { ...(leader ? { leader } : {}), members: nodes.map(toMember) };
          } catch {
            // This node is down or not started yet; another may answer.
          }
        }
        return undefined;
      },
      removeNode: (leaderId, nodeId) => client(leaderId).removeNode(nodeId),
      async transferLeadership(leaderId, toId) {
        try {
          return await client(leaderId).transferLeadership(toId);
        } catch (err) {
          if (err instanceof RqliteError && err.status === 404) return "unsupported";
          throw err;
        }
      },
      async isSynced(nodeId) {
        return client(nodeId)
          .readyz({ sync: true })
          .then(
            (r) => r.ready,
            () => false,
          );
      },
    };
  };

function isReady(pod: V1Pod): boolean {
  return (pod.status?.conditions ?? []).some((x) => x.type === "Ready" && x.status === "True");
}
