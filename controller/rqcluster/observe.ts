// The I/O half of a reconcile's first step: everything plan() needs, read from the caches, the
// user's Secrets and ConfigMaps, and rqlite. rqlite is reached per node the way that node runs
// now (its Pod's arguments: HTTPS or not, -auth or not), not the way the spec asks for, so that
// turning TLS or auth on or off never locks the operator out of nodes that have not rolled yet.
import type { KubernetesObject, V1Pod, V1PodDisruptionBudget } from "@kubernetes/client-node";
import { HTTP_PORT, operatorAuthSecretName, operatorCaSecretName } from "../../shared/names.js";
import { assertOwnNode, httpTlsSecretOf, nodeAccess, runsWithAuth } from "./access.js";
import type { Writer } from "../runtime/writer.js";
import { canTransferLeadership, clusterRqlite, type ClusterRqlite, type NodeAccess } from "../rqlite/adapter.js";
import { AuthSecretError, authSecretCurrent, keptAuthHash, keptCredentials, planAuth } from "./auth.js";
import { deriveFacts, needsDisruption } from "./plan/index.js";
import { bootstrapExpectOf, isPodReady } from "./plan/facts.js";
import { adoptedFoundingVolumes } from "./plan/restore.js";
import { caCopyOf, keptCas } from "./caCopy.js";
import type { Observed, SecretProblem } from "./plan/types.js";
import type { Children } from "./ports.js";
import { readPodTemplate, type TemplateRead } from "./podTemplate.js";
import type { ClusterView } from "./render/cluster.js";
import { nodeAddress, type Addressing } from "./render/pod.js";
import { observeBackup } from "./backup.js";
import type { ReadBackup } from "./restore.js";
import type { S3Gate } from "./s3.js";

export interface ObserveDeps {
  writer: Writer;
  s3: S3Gate;
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
  /**
   * The last ca.crt read from each tls.http Secret ("namespace/name"), kept across reconciles: a
   * Secret deleted or emptied mid-rotation does not stop the operator from verifying nodes that
   * still serve the certificate it signed.
   */
  knownCas?: Map<string, string>;
}

export interface Observation {
  observed: Observed;
  rqlite: ClusterRqlite;
  /** Why spec.restore cannot be resolved, when it cannot. */
  restoreProblem?: string;
}

export async function observe(deps: ObserveDeps, c: ClusterView, owned: Children): Promise<Observation> {
  const secretProblems: SecretProblem[] = [];
  let authRead: Awaited<ReturnType<typeof planAuth>>;
  let authUnusable: string | undefined;
  try {
    authRead = await planAuth(deps.writer, c);
  } catch (err) {
    // The user's Secret is gone or malformed: the Pods keep the users file they run with, and
    // the operator its own user, until it is fixed. Everything else goes on.
    if (!(err instanceof AuthSecretError)) throw err;
    authUnusable = err.message;
    secretProblems.push({
      reason: "AuthSecretUnusable",
      message: `${err.message}. Until then the operator keeps the users the nodes run with (no user change applies)`,
    });
  }
  const auth = authRead && "state" in authRead ? authRead : undefined;
  const authConflict = authRead && "conflict" in authRead ? authRead.conflict : undefined;
  const keptAuth = authRead ? undefined : await runningAuth(deps.writer, c, owned.pods);
  const credentials = auth?.state.credentials ?? keptAuth?.credentials;
  const { cas, problems: caProblems, caCopy } = await httpCas(deps.writer, c, owned.pods, deps.knownCas);
  secretProblems.push(...caProblems);
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
  const { view, problem, unauthorized } =
    running.length > 0 ? await rqlite.leaderView(running) : { problem: "no rqlite node runs yet" };

  const template = await readPodTemplate(deps.writer, c);
  // Adopted founding volumes skip the restore, so an unreadable source holds nothing back then.
  const skipsRestore =
    adoptedFoundingVolumes(c, owned.pvcs, bootstrapExpectOf(owned.pods, owned.pvcs, c.spec.replicas)).length > 0;
  const backup = await observeBackup(
    { writer: deps.writer, s3: deps.s3, readBackup: deps.readBackup },
    c,
    deps.restored === true || skipsRestore,
  );
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
      // A cluster that never had a users file has none to keep: its Pods wait for the Secret.
      ...(authUnusable && !keptAuth?.hash
        ? [{ reason: "AuthSecretUnusable", message: `${authUnusable}; no Pod is created until then`, warning: true }]
        : []),
      ...backup.holds,
    ],
    ...(backup.backupConfig ? { backupConfig: backup.backupConfig } : {}),
    ...(deps.restored ? { restoreDone: true } : {}),
    ...(secretProblems.length + backup.secretProblems.length > 0
      ? { secretProblems: [...secretProblems, ...backup.secretProblems] }
      : {}),
    ...(caCopy ? { caCopy } : {}),
    lastMembers: deps.lastMembers,
    refusedGrowth: deps.refusedGrowth,
    ...(!auth && c.spec.auth?.secretName && keptAuth?.hash ? { authHash: keptAuth.hash } : {}),
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
      : { rqliteProblem: problem, ...(unauthorized ? { rqliteUnauthorized: true } : {}) }),
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

/**
 * The operator's credentials and users-file digest as its live Secret holds them, when nodes run
 * with -auth: after auth was turned off (until they roll), or while the user's Secret is unusable
 * (so the Pods, and a lost node's replacement, keep the file they have).
 */
async function runningAuth(writer: Writer, c: ClusterView, pods: V1Pod[]) {
  if (!pods.some(runsWithAuth) && !c.spec.auth?.secretName) return undefined;
  const live = (await writer.readSecret(c.self, operatorAuthSecretName(c.name)))?.data;
  return { credentials: keptCredentials(live), hash: keptAuthHash(live) };
}

/**
 * ca.crt of every tls.http Secret in use: the spec's and those the running Pods mount. A Secret
 * that is gone or has no ca.crt is reported, not fatal: the last ca.crt read from it still
 * verifies the nodes (they keep serving the certificate they mounted), from memory or from the
 * operator's own copy, which outlives a restart (./caCopy.ts); without one, rqlite over HTTPS
 * cannot be verified and the operator acts on what the API server shows alone.
 */
async function httpCas(
  writer: Writer,
  c: ClusterView,
  pods: V1Pod[],
  known: Map<string, string> | undefined,
): Promise<{ cas: Map<string, string>; problems: SecretProblem[]; caCopy?: Observed["caCopy"] }> {
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
      message: `Secret ${key} (spec.tls.http.secretName) ${secret ? "has no key ca.crt" : "does not exist"}; ${
        before
          ? "the operator verifies rqlite's HTTPS API with the ca.crt it read from it before"
          : "the operator cannot verify rqlite's HTTPS API, so it reads no Raft state (no roll, scale-down or lost-node replacement) until the Secret has ca.crt again"
      }. New Pods mount that Secret and start once it is back`,
    });
  }
  const caCopy = caCopyOf(c, cas, copy);
  return { cas, problems, ...(caCopy ? { caCopy } : {}) };
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
