// How the operator reaches one rqlite node: the way that node runs NOW (its Pod's arguments:
// HTTPS or not, -auth or not), not the way the spec asks for. Turning tls.http or auth on or
// off rolls the Pods one at a time; until a node has rolled it still speaks the old way, and
// the operator must keep reaching it to see the leader and to roll the rest safely.
import type { V1Pod } from "@kubernetes/client-node";
import { RQLITE_CONTAINER } from "../../shared/names.js";
import type { NodeAccess } from "../rqlite/adapter.js";
import type { Credentials } from "../rqcluster/auth.js";
import type { ClusterView } from "../rqcluster/render/cluster.js";
import { parseMemberName } from "../rqcluster/render/members.js";
import { HTTP_TLS_VOLUME } from "../rqcluster/render/pod.js";

export const rqliteArgs = (pod: V1Pod | undefined): string[] =>
  pod?.spec?.containers.find((ct) => ct.name === RQLITE_CONTAINER)?.args ?? [];

/** The Secret a Pod mounts for rqlite's HTTPS certificate. */
export const httpTlsSecretOf = (pod: V1Pod | undefined): string | undefined =>
  pod?.spec?.volumes?.find((v) => v.name === HTTP_TLS_VOLUME)?.secret?.secretName;

export const runsWithAuth = (pod: V1Pod | undefined): boolean => rqliteArgs(pod).some((a) => a.startsWith("-auth="));

/**
 * `pod` is the node's live Pod (undefined for a node without one: the spec decides). `cas` maps
 * tls.http Secret names to their ca.crt; `credentials` are the operator's, when it has any.
 */
export function nodeAccess(
  c: ClusterView,
  pod: V1Pod | undefined,
  address: string,
  cas: ReadonlyMap<string, string>,
  credentials: Credentials | undefined,
): NodeAccess {
  const args = rqliteArgs(pod);
  const https = pod ? args.some((a) => a.startsWith("-http-cert=")) : Boolean(c.spec.tls?.http?.secretName);
  const usesAuth = pod ? runsWithAuth(pod) : Boolean(c.spec.auth?.secretName);
  const ca = https ? cas.get(httpTlsSecretOf(pod) ?? c.spec.tls?.http?.secretName ?? "") : undefined;
  return {
    address,
    https,
    ...(ca ? { ca } : {}),
    ...(usesAuth && credentials ? { credentials } : {}),
  };
}

/**
 * Node ids come from rqlite's answers (/nodes, a follower naming its leader), which a node, or
 * whoever took its address, could fill with any name. Only ids that name one of this cluster's
 * own nodes are ever turned into an address to call.
 */
export function assertOwnNode(c: ClusterView, nodeId: string): void {
  if (parseMemberName(c.name, nodeId)) return;
  throw new Error(
    `rqlite named node ${JSON.stringify(nodeId)}, which is not a node of RqCluster ${c.namespace}/${c.name}; not contacting it`,
  );
}
