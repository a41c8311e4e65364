// The I/O half of a reconcile's first step: everything plan() needs, read from the caches, the
// user's Secrets and ConfigMaps, and rqlite. rqlite is reached per node the way that node runs
// now (its Pod's arguments: HTTPS or not, -auth or not), not the way the spec asks for, so that
// turning TLS or auth on or off never locks the operator out of nodes that have not rolled yet.
import type { KubernetesObject, V1Pod, V1PodDisruptionBudget } from "@kubernetes/client-node";
import { HTTP_PORT, operatorAuthSecretName } from "../../shared/names.js";
import { assertOwnNode, httpTlsSecretOf, nodeAccess, runsWithAuth } from "./access.js";
import type { Writer } from "../runtime/writer.js";
import { canTransferLeadership, clusterRqlite, type ClusterRqlite, type NodeAccess } from "../rqlite/adapter.js";
import { authSecretCurrent, keptCredentials, planAuth } from "./auth.js";
import { deriveFacts, needsDisruption } from "./plan/index.js";
import { isPodReady } from "./plan/facts.js";
import type { Observed } from "./plan/types.js";
import type { Children } from "./ports.js";
import { readPodTemplate, type TemplateRead } from "./podTemplate.js";
import type { ClusterView } from "./render/cluster.js";
import { nodeAddress, type Addressing } from "./render/pod.js";
import { observeBackup } from "./backup.js";
import type { ReadBackup } from "./restore.js";

export interface ObserveDeps {
  writer: Writer;
  addressing: Addressing;
  operatorNamespace: string;
  /** Kubernetes node name -> epoch ms since it has been unreachable. */
  unreachableSince: ReadonlyMap<string, number>;
  nodeFailureTimeoutMs: number;
  /** Names of the cluster's would-be children that exist in the caches with another owner. */
  conflicts: string[];
  /** PodDisruptionBudgets of the namespace that are not the cluster's own (see Observed.otherPdbs). */
  otherPdbs?: V1PodDisruptionBudget[];
  refusedGrowth: ReadonlyMap<string, { size: string; message: string }>;
  /** Member ids of the cluster's last written status. */
  lastMembers: string[];
  now: number;
  /** Reads the RqBackup spec.restore.backup names. */
  readBackup?: ReadBackup;
  /** The cluster's Restored condition is True (spec.restore is done). */
  restored?: boolean;
}

export interface Observation {
  observed: Observed;
  rqlite: ClusterRqlite;
  /** Why spec.restore cannot be resolved, when it cannot. */
  restoreProblem?: string;
}

export async function observe(deps: ObserveDeps, c: ClusterView, owned: Children): Promise<Observation> {
  const authRead = await planAuth(deps.writer, c);
  const auth = authRead && "state" in authRead ? authRead : undefined;
  const authConflict = authRead && "conflict" in authRead ? authRead.conflict : undefined;
  const kept = authRead ? undefined : await runningAuth(deps.writer, c, owned.pods);
  const credentials = auth?.state.credentials ?? kept;
  const cas = await httpCas(deps.writer, c, owned.pods);
  const pods = new Map(owned.pods.map((p) => [p.metadata!.name!, p]));
  const accessOf = (nodeId: string): NodeAccess => {
    assertOwnNode(c, nodeId);
    return nodeAccess(c, pods.get(nodeId), `${nodeAddress(c, nodeId, deps.addressing)}:${HTTP_PORT}`, cas, credentials);
  };
  const rqlite = clusterRqlite(accessOf);
  // Only Pods that run (have an address) can answer; asking the others would only time out.
  const running = owned.pods
    .filter((p) => p.status?.podIP && !p.metadata?.deletionTimestamp)
    .sort((a, b) => Number(isPodReady(b)) - Number(isPodReady(a)))
    .map((p) => p.metadata!.name!);
  const { view, problem } =
    running.length > 0 ? await rqlite.leaderView(running) : { problem: "no rqlite node runs yet" };

  const template = await readPodTemplate(deps.writer, c);
  const backup = await observeBackup({ writer: deps.writer, readBackup: deps.readBackup }, c, deps.restored);
  const observed: Observed = {
    // With spec.restore resolved, which the founding voters' Pods render from.
    cluster: backup.cluster,
    addressing: deps.addressing,
    operatorNamespace: deps.operatorNamespace,
    pods: owned.pods,
    pvcs: owned.pvcs,
    services: owned.services,
    pdbs: owned.pdbs,
    networkPolicies: owned.networkPolicies,
    conflicts: deps.conflicts,
    ...(deps.otherPdbs ? { otherPdbs: deps.otherPdbs } : {}),
    ...templateOf(template),
    holds: [
      ...(template.problem !== undefined
        ? [{ reason: "PodTemplateRefused", message: template.problem, warning: true }]
        : []),
      ...(authConflict ? [{ reason: "AdoptionConflict", message: authConflict, warning: true }] : []),
      ...backup.holds,
    ],
    ...(backup.backupConfig ? { backupConfig: backup.backupConfig } : {}),
    lastMembers: deps.lastMembers,
    refusedGrowth: deps.refusedGrowth,
    ...(auth
      ? {
          authHash: auth.state.hash,
          authSecret: {
            desired: auth.secret,
            current: authSecretCurrent(auth.existing, auth.secret),
            exists: auth.existing !== undefined,
          },
        }
      : {}),
    ...(view
      ? { raft: { leader: view.leader, members: view.members, canTransfer: canTransferLeadership(view.leaderVersion) } }
      : { rqliteProblem: problem }),
    synced: new Set(),
    unreachableSince: deps.unreachableSince,
    nodeFailureTimeoutMs: deps.nodeFailureTimeoutMs,
    now: deps.now,
  };
  // Catching up is asked only while a disruptive step may be due: a steady cluster costs nothing.
  if (!c.spec.paused && needsDisruption(observed, deriveFacts(observed))) {
    observed.synced = await rqlite.synced(owned.pods.filter(isPodReady).map((p) => p.metadata!.name!));
  }
  return { observed, rqlite, ...(backup.restoreProblem ? { restoreProblem: backup.restoreProblem } : {}) };
}

/** Nodes may still run with -auth after auth was turned off: the operator keeps its user until they roll. */
async function runningAuth(writer: Writer, c: ClusterView, pods: V1Pod[]) {
  if (!pods.some(runsWithAuth)) return undefined;
  return keptCredentials((await writer.readSecret(c.namespace, operatorAuthSecretName(c.name)))?.data);
}

/** ca.crt of every tls.http Secret in use: the spec's and those the running Pods mount. */
async function httpCas(writer: Writer, c: ClusterView, pods: V1Pod[]): Promise<Map<string, string>> {
  const names = new Set(
    [c.spec.tls?.http?.secretName, ...pods.map(httpTlsSecretOf)].filter((n): n is string => Boolean(n)),
  );
  const out = new Map<string, string>();
  for (const name of names) {
    const data = (await writer.readSecret(c.namespace, name))?.data;
    if (!data?.["ca.crt"]) {
      throw new Error(
        `Secret ${c.namespace}/${name} (spec.tls.http.secretName) has no ca.crt; the operator needs it to verify rqlite's HTTPS API`,
      );
    }
    out.set(name, data["ca.crt"]);
  }
  return out;
}

const templateOf = (read: TemplateRead): Pick<Observed, "template"> =>
  read.problem === undefined && read.template ? { template: read.template } : {};

/** Children with this cluster's names that exist with another owner (see ../shared names). */
export function conflictsOf(uid: string, names: string[], lookup: (name: string) => KubernetesObject[]): string[] {
  return names.filter((name) =>
    lookup(name).some((o) => {
      const refs = o.metadata?.ownerReferences ?? [];
      return refs.length > 0 && !refs.some((r) => r.uid === uid);
    }),
  );
}
