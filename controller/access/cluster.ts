// How the operator reaches an RqCluster's rqlite nodes, for every controller: the CAs it verifies
// them with, its credentials, their addresses and the leader. A node is reached the way it runs
// NOW (its Pod's arguments: HTTPS or not, -auth or not), not the way the spec asks for. Turning
// tls.http or auth on or off rolls the Pods one at a time; until a node has rolled it still
// speaks the old way, and the operator must keep reaching it to see the leader and to roll the
// rest safely.
import type { V1Pod } from "@kubernetes/client-node";
import type { RqCluster } from "../../shared/index.js";
import {
  HTTP_PORT,
  OPERATOR_RQLITE_USER,
  operatorAuthSecretName,
  operatorCaSecretName,
  RQLITE_CONTAINER,
  parseMemberName,
  HTTP_TLS_VOLUME,
} from "../../shared/names.js";
import { clusterRqlite, type ClusterRqlite, type LeaderView, type NodeAccess } from "../rqlite/adapter.js";
import type { Writer } from "../runtime/writer.js";
import { caCopyOf, keptCas, type CaCopy } from "./caCopy.js";
import {
  clusterIdentity,
  isPodReady,
  nodeAddress,
  PASSWORD_KEY,
  type Addressing,
  type ClusterIdentity,
  type Credentials,
  type SecretProblem,
} from "./clusterView.js";

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
  c: ClusterIdentity,
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
export function assertOwnNode(c: ClusterIdentity, nodeId: string): void {
  if (parseMemberName(c.name, nodeId)) return;
  throw new Error(
    `rqlite named node ${JSON.stringify(nodeId)}, which is not a node of RqCluster ${c.namespace}/${c.name}; not contacting it`,
  );
}

/**
 * ca.crt of every tls.http Secret in use: the spec's and those the running Pods mount. A Secret
 * that is gone or has no ca.crt is reported, not fatal: the last ca.crt read from it still
 * verifies the nodes (they keep serving the certificate they mounted); without one, rqlite over
 * HTTPS cannot be verified and the operator acts on what the API server shows alone. `known`
 * holds the last ca.crt read from each Secret ("namespace/name"), for every controller of the
 * process: a Secret emptied mid-rotation degrades both the same way.
 */
export async function readCas(
  writer: Pick<Writer, "readSecret">,
  c: ClusterIdentity,
  pods: V1Pod[],
  known: Map<string, string> | undefined,
): Promise<{ cas: Map<string, string>; problems: SecretProblem[]; caCopy?: CaCopy }> {
  const names = new Set(
    [c.spec.tls?.http?.secretName, ...pods.map(httpTlsSecretOf)].filter((n): n is string => Boolean(n)),
  );
  const cas = new Map<string, string>();
  const problems: SecretProblem[] = [];
  if (names.size === 0) return { cas, problems };
  const copy = await writer.readSecret(c.self, operatorCaSecretName(c.name));
  const kept = keptCas(c, copy);
  for (const name of names) {
    const key = `${c.namespace}/${name}`;
    // Mid-rotation a Pod still mounts the Secret the spec named before: say which Pod names it.
    const mounter = name === c.spec.tls?.http?.secretName ? undefined : pods.find((p) => httpTlsSecretOf(p) === name);
    const field = mounter
      ? `mounted by Pod ${mounter.metadata?.name} for rqlite's HTTPS; spec.tls.http.secretName no longer names it`
      : "spec.tls.http.secretName";
    const secret = await writer.readSecret(c.self, name);
    const ca = secret?.data["ca.crt"];
    if (ca) {
      cas.set(name, ca);
      known?.set(key, ca);
      continue;
    }
    const before = known?.get(key) ?? kept.get(name);
    if (before) cas.set(name, before);
    problems.push({
      reason: "TLSCAUnavailable",
      message: `Secret ${key} (${field}) ${secret ? "has no key ca.crt" : "does not exist"}; ${
        before
          ? "the operator verifies rqlite's HTTPS API with the ca.crt it read from it before"
          : "the operator cannot verify rqlite's HTTPS API, so it reads no Raft state (no roll, scale-down or lost-node replacement) until the Secret has ca.crt again"
      }. New Pods mount that Secret and start once it is back`,
    });
  }
  const caCopy = caCopyOf(c, cas, copy);
  return { cas, problems, ...(caCopy ? { caCopy } : {}) };
}

/** The operator's credentials kept in its live Secret, for nodes that still run with -auth. */
export function keptCredentials(existing: Record<string, string> | undefined): Credentials | undefined {
  const password = existing?.[PASSWORD_KEY];
  return password ? { username: OPERATOR_RQLITE_USER, password } : undefined;
}

export interface ReachDeps {
  writer: Pick<Writer, "readSecret">;
  addressing: Addressing;
  /** See readCas. */
  knownCas?: Map<string, string>;
}

/** How to reach each node of a cluster, and what stood in the way of reading the CAs for it. */
export interface ClusterReach {
  rqlite: ClusterRqlite;
  accessOf(nodeId: string): NodeAccess;
  problems: SecretProblem[];
  caCopy?: CaCopy;
}

/**
 * Every node of `c` as its Pod in `pods` runs now, with the CAs in use and `credentials`. A node
 * id is turned into an address only when it names one of this cluster's nodes (assertOwnNode).
 */
export async function reachCluster(
  deps: ReachDeps,
  c: ClusterIdentity,
  pods: V1Pod[],
  credentials: Credentials | undefined,
): Promise<ClusterReach> {
  const { cas, problems, caCopy } = await readCas(deps.writer, c, pods, deps.knownCas);
  const byName = new Map(pods.map((p) => [p.metadata!.name!, p]));
  const accessOf = (nodeId: string): NodeAccess => {
    assertOwnNode(c, nodeId);
    return nodeAccess(
      c,
      byName.get(nodeId),
      `${nodeAddress(c, nodeId, deps.addressing)}:${HTTP_PORT}`,
      cas,
      credentials,
    );
  };
  return { rqlite: clusterRqlite(accessOf), accessOf, problems, ...(caCopy ? { caCopy } : {}) };
}

/**
 * The leader as it reports itself, asked through the nodes whose Pods run (Ready ones first);
 * only those have an address, and asking the others would only time out. A running node that
 * serves HTTPS with no CA to verify it is not called while a Secret problem explains why: that
 * problem is the answer, for every controller alike (SecretsReady says the same).
 */
export async function leaderOf(
  reach: ClusterReach,
  pods: V1Pod[],
): Promise<{ view?: LeaderView; problem?: string; unauthorized?: boolean }> {
  const running = pods
    .filter((p) => p.status?.podIP && !p.metadata?.deletionTimestamp)
    .sort((a, b) => Number(isPodReady(b)) - Number(isPodReady(a)))
    .map((p) => p.metadata!.name!);
  if (running.length === 0) return { problem: "no rqlite node runs yet" };
  const unverifiable = running.some((n) => {
    const a = reach.accessOf(n);
    return a.https && !a.ca;
  });
  if (unverifiable && reach.problems.length > 0) return { problem: reach.problems.map((p) => p.message).join("; ") };
  return reach.rqlite.leaderView(running);
}

export interface LeaderDeps extends ReachDeps {
  /** The cluster's Pods as the API server has them now. */
  pods(c: ClusterIdentity): Promise<V1Pod[]>;
}

/** The cluster's leader and how to reach it; the Secrets behind that access by name and key. */
export interface LeaderReach {
  leader: string;
  rqliteVersion?: string;
  access: NodeAccess;
  /** The Secret and key of the operator's password, when the leader runs with -auth. */
  password?: { secretName: string; key: string };
  /** The Secret whose ca.crt verifies the leader's HTTPS, when it serves HTTPS. */
  caSecret?: string;
}

/**
 * The cluster's leader, and how to reach it as its Pod runs now; or why it cannot be reached.
 * Only the operator's kept password is used: a reader of a cluster never writes its Secret.
 */
export async function reachLeader(deps: LeaderDeps, cluster: RqCluster): Promise<LeaderReach | { problem: string }> {
  const c = clusterIdentity(cluster);
  const pods = await deps.pods(c);
  const credentials = pods.some(runsWithAuth)
    ? keptCredentials((await deps.writer.readSecret(c.self, operatorAuthSecretName(c.name)))?.data)
    : undefined;
  const reach = await reachCluster(deps, c, pods, credentials);
  const { view, problem } = await leaderOf(reach, pods);
  if (!view) return { problem: `RqCluster ${c.namespace}/${c.name} has no rqlite leader: ${problem}` };
  const access = reach.accessOf(view.leader);
  return {
    leader: view.leader,
    ...(view.leaderVersion ? { rqliteVersion: view.leaderVersion } : {}),
    access,
    ...leaderSecrets(c, pods, view.leader, access),
  };
}

/**
 * The Secrets behind `access` to node `id`, by name and key, for a Pod that calls it with them
 * as env: the operator's password when the node runs with -auth, the CA when it serves HTTPS.
 */
export function leaderSecrets(
  c: ClusterIdentity,
  pods: readonly V1Pod[],
  id: string,
  access: NodeAccess,
): Pick<LeaderReach, "password" | "caSecret"> {
  const pod = pods.find((p) => p.metadata?.name === id);
  const caSecret = access.ca ? (httpTlsSecretOf(pod) ?? c.spec.tls?.http?.secretName) : undefined;
  return {
    ...(access.credentials ? { password: { secretName: operatorAuthSecretName(c.name), key: PASSWORD_KEY } } : {}),
    ...(caSecret ? { caSecret } : {}),
  };
}
