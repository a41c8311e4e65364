// Level-based reconcile of one RqCluster: read the cluster and its children from the caches,
// make one step towards the spec, write status when it changed. Every write is guarded by a
// comparison, so running it on a converged cluster writes nothing.
import type { KubernetesObject, V1PersistentVolumeClaim, V1Pod } from "@kubernetes/client-node";
import type { RqCluster } from "../../shared/index.js";
import { compareQuantities, parseQuantity } from "../../shared/quantity.js";
import { API_VERSION, DEFAULT_POD_TEMPLATE_KEY, FINALIZER, KIND, LABEL_ROLE } from "../../shared/names.js";
import { renderClientService, renderHeadlessService, renderPdb, renderPvc } from "./render/children.js";
import { clusterView, type ClusterView } from "./render/cluster.js";
import { desiredMembers, parseMemberName, type Member } from "./render/members.js";
import { BOOTSTRAP_EXPECT_ANNOTATION, renderPod, SPEC_HASH_ANNOTATION, type Addressing } from "./render/pod.js";
import { driftPatch, isSubset } from "./drift.js";
import { PDB, POD, PVC, SECRET, SERVICE, type Children } from "./ports.js";
import { refOf, type Json, type TypeMeta, type Writer } from "../runtime/writer.js";
import type { EventSink } from "../runtime/events.js";
import { authSecretCurrent, planAuth } from "./auth.js";
import type { ClusterRqlite, RqliteOps } from "../rqlite/adapter.js";
import { computeStatus, isPodReady, type ClusterStatus, type RqliteView } from "./status.js";

export interface ReconcileDeps {
  writer: Writer;
  events: EventSink;
  addressing: Addressing;
  rqlite: RqliteOps;
  /** Epoch ms since a Kubernetes node has been unreachable, or undefined while it is not. */
  unreachableSince?: (nodeName: string) => number | undefined;
  nodeFailureTimeoutMs?: number;
  now?: () => Date;
}

export interface ReconcileResult {
  /** What the step did, for logs; empty when the cluster was already converged. */
  actions: string[];
  /** Look again after this long: the step waits on rqlite, which sends no watch events. */
  requeueAfterMs?: number;
}

/** How soon to look again while waiting on rqlite (a leader, a removal, a node catching up). */
const RQLITE_POLL_MS = 2000;

const CLUSTER: TypeMeta = { apiVersion: API_VERSION, kind: KIND };

export async function reconcileCluster(
  deps: ReconcileDeps,
  cluster: RqCluster,
  children: Children,
): Promise<ReconcileResult> {
  const actions: string[] = [];
  const step = new Step(deps, actions);
  const result: ReconcileResult = { actions };
  const c = clusterView(cluster);
  const owned = ownedBy(c.uid, children);

  if (cluster.metadata?.deletionTimestamp) {
    await finalize(step, cluster, c, owned);
    return result;
  }
  const finalizers = cluster.metadata?.finalizers ?? [];
  if (!finalizers.includes(FINALIZER)) {
    await step.patch(
      CLUSTER,
      cluster as KubernetesObject,
      { metadata: { finalizers: [...finalizers, FINALIZER], resourceVersion: cluster.metadata?.resourceVersion } },
      "FinalizerAdded",
      `added finalizer ${FINALIZER} to honour storage.reclaimPolicy=${c.spec.storage.reclaimPolicy} on delete`,
    );
  }

  const desiredHashes = new Map<string, string>();
  const auth = await planAuth(deps.writer, c);
  step.rq = deps.rqlite(c, { credentials: auth?.state.credentials, ca: await httpCa(deps.writer, c) });
  // Only Pods that run (have an address) can answer; asking the others would only time out.
  const running = owned.pods.filter((p) => p.status?.podIP);
  const view = running.length > 0 ? await step.rq.observe(running) : undefined;
  if (!c.spec.paused) {
    if (auth && !authSecretCurrent(auth.existing, auth.secret)) {
      if (auth.existing)
        await step.patch(
          SECRET,
          auth.secret,
          { data: auth.secret.data },
          "Updated",
          `updated Secret ${auth.secret.metadata!.name}: users from ${c.spec.auth!.secretName} plus the operator's own`,
        );
      else await step.create(auth.secret);
    }
    const template = await podTemplate(deps.writer, c);
    const wait = await converge(step, c, owned, children, template, desiredHashes, view, auth?.state.hash);
    if (wait) result.requeueAfterMs = RQLITE_POLL_MS;
  }
  // The caches do not show children this step created yet, so a status now would be stale and
  // rewritten at once; their watch events bring the next reconcile, which writes it.
  if (!step.created) await writeStatus(deps, cluster, c, owned, desiredHashes, view);
  return result;
}

/** Children whose owner is this cluster, plus same-named ones with no owner (adopted by drift). */
function ownedBy(uid: string, children: Children): Children {
  const mine = <T extends KubernetesObject>(o: T) => {
    const refs = o.metadata?.ownerReferences ?? [];
    return refs.length === 0 || refs.some((r) => r.uid === uid);
  };
  return {
    pods: children.pods.filter(mine),
    pvcs: children.pvcs.filter(mine),
    services: children.services.filter(mine),
    pdbs: children.pdbs.filter(mine),
  };
}

/** Writes with an event each, so `kubectl describe rqc` tells the story. */
class Step {
  constructor(
    private readonly deps: ReconcileDeps,
    private readonly actions: string[],
  ) {}

  record(reason: string, message: string) {
    this.actions.push(message);
    this.deps.events.normal(reason, message);
  }

  /** Children created by this step. */
  created = 0;

  async create(obj: KubernetesObject, reason = "Created") {
    await this.deps.writer.create(obj);
    this.created++;
    this.record(reason, `created ${obj.kind} ${obj.metadata!.name}`);
  }

  async patch(type: TypeMeta, obj: KubernetesObject, patch: Json, reason: string, message: string) {
    await this.deps.writer.patch(refOf(type, obj), patch);
    this.record(reason, message);
  }

  async delete(
    type: TypeMeta,
    obj: KubernetesObject,
    reason: string,
    message: string,
    opts?: { gracePeriodSeconds?: number },
  ) {
    await this.deps.writer.delete(refOf(type, obj), opts);
    this.record(reason, message);
  }

  get addressing(): Addressing {
    return this.deps.addressing;
  }

  /** rqlite of the cluster being reconciled, set once its credentials are known. */
  rq!: ClusterRqlite;

  /** How long the Pod's Kubernetes node has been unreachable, in ms (0 when it is fine). */
  lostFor(pod: V1Pod): number {
    const since = pod.spec?.nodeName ? this.deps.unreachableSince?.(pod.spec.nodeName) : undefined;
    return since === undefined ? 0 : (this.deps.now?.() ?? new Date()).getTime() - since;
  }

  get nodeFailureTimeoutMs(): number {
    return this.deps.nodeFailureTimeoutMs ?? 300_000;
  }

  /** Says what the step is waiting for, once per reconcile, as a Warning when it is a problem. */
  waiting(reason: string, message: string, warning = false): true {
    this.actions.push(message);
    if (warning) this.deps.events.warning(reason, message);
    return true;
  }

  warn(reason: string, message: string) {
    this.actions.push(message);
    this.deps.events.warning(reason, message);
  }
}

async function finalize(step: Step, cluster: RqCluster, c: ClusterView, owned: Children) {
  const finalizers = cluster.metadata?.finalizers ?? [];
  if (!finalizers.includes(FINALIZER)) return;
  for (const pvc of owned.pvcs) {
    if (c.spec.storage.reclaimPolicy === "Delete") {
      if (!pvc.metadata?.deletionTimestamp) {
        await step.delete(PVC, pvc, "PVCDeleted", `deleted PVC ${pvc.metadata!.name} (storage.reclaimPolicy=Delete)`);
      }
    } else if ((pvc.metadata?.ownerReferences ?? []).some((r) => r.uid === c.uid)) {
      // Without this the garbage collector would delete the data along with the cluster.
      const others = (pvc.metadata!.ownerReferences ?? []).filter((r) => r.uid !== c.uid);
      await step.patch(
        PVC,
        pvc,
        { metadata: { ownerReferences: others } },
        "PVCRetained",
        `kept PVC ${pvc.metadata!.name} (storage.reclaimPolicy=Retain): it no longer belongs to the cluster and outlives it`,
      );
    }
  }
  await step.patch(
    CLUSTER,
    cluster as KubernetesObject,
    {
      metadata: {
        finalizers: finalizers.filter((f) => f !== FINALIZER),
        resourceVersion: cluster.metadata?.resourceVersion,
      },
    },
    "FinalizerRemoved",
    `removed finalizer ${FINALIZER}`,
  );
}

/** The CA that signed the nodes' HTTPS certificate (ca.crt of tls.http's Secret). */
async function httpCa(writer: Writer, c: ClusterView): Promise<string | undefined> {
  const name = c.spec.tls?.http?.secretName;
  if (!name) return undefined;
  const data = await writer.readSecret(c.namespace, name);
  if (!data?.["ca.crt"])
    throw new Error(
      `Secret ${c.namespace}/${name} (spec.tls.http.secretName) has no ca.crt; the operator needs it to verify rqlite's HTTPS API`,
    );
  return data["ca.crt"];
}

async function podTemplate(writer: Writer, c: ClusterView): Promise<Json | undefined> {
  if (c.spec.podTemplate) return c.spec.podTemplate;
  const ref = c.spec.podTemplateConfigMap;
  if (!ref) return undefined;
  const key = ref.key ?? DEFAULT_POD_TEMPLATE_KEY;
  const data = await writer.readConfigMap(c.namespace, ref.name);
  const where = `ConfigMap ${c.namespace}/${ref.name} key ${key} (spec.podTemplateConfigMap)`;
  if (data === undefined) throw new Error(`${where} does not exist; create it or remove spec.podTemplateConfigMap`);
  const text = data[key];
  if (text === undefined) throw new Error(`${where} is missing; add the key or set spec.podTemplateConfigMap.key`);
  try {
    return JSON.parse(text) as Json;
  } catch (err) {
    throw new Error(`${where} is not valid JSON (${(err as Error).message}); fix the template`);
  }
}

/** Creates a child that is missing, or restores one that drifted. */
async function ensure(
  step: Step,
  type: TypeMeta,
  desired: KubernetesObject,
  live: KubernetesObject | undefined,
  exact: string[][] = [],
) {
  if (!live) return step.create(desired);
  const { apiVersion: _a, kind: _k, ...wanted } = desired as Json;
  const patch = driftPatch(wanted, live as Json, exact);
  if (patch)
    await step.patch(type, live, patch, "Updated", `restored ${desired.kind} ${desired.metadata!.name} to its spec`);
}

const byName = <T extends KubernetesObject>(list: T[], name: string) => list.find((o) => o.metadata?.name === name);

/** Returns true when it is waiting on rqlite and should look again soon. */
async function converge(
  step: Step,
  c: ClusterView,
  owned: Children,
  all: Children,
  template: Json | undefined,
  desiredHashes: Map<string, string>,
  view: RqliteView | undefined,
  authHash: string | undefined,
): Promise<boolean> {
  const selectorExact = [["spec", "selector"]];
  for (const svc of [renderHeadlessService(c), renderClientService(c)]) {
    await ensure(step, SERVICE, svc, byName(owned.services, svc.metadata!.name!), selectorExact);
  }
  const pdb = renderPdb(c);
  const livePdb = byName(owned.pdbs, c.pdbName);
  if (pdb) await ensure(step, PDB, pdb, livePdb, [["spec", "selector", "matchLabels"]]);
  else if (livePdb)
    await step.delete(
      PDB,
      livePdb,
      "Deleted",
      `deleted PodDisruptionBudget ${c.pdbName} (podDisruptionBudget.maxUnavailable=0)`,
    );

  const pods = owned.pods;
  const bootstrapExpect = Number(
    pods.map((p) => p.metadata?.annotations?.[BOOTSTRAP_EXPECT_ANNOTATION]).find((v) => v && Number(v) > 0) ??
      c.spec.replicas,
  );
  const desired = desiredMembers(c.name, c.spec.replicas, c.spec.readReplicas);
  const rendered = new Map(
    desired.map((m) => [
      m.name,
      renderPod(c, { member: m, bootstrapExpect, template, addressing: step.addressing, authHash }),
    ]),
  );
  for (const [name, pod] of rendered) desiredHashes.set(name, pod.metadata!.annotations![SPEC_HASH_ANNOTATION]!);

  // Restore labels, annotations and owner of live pods; their spec is replaced by rolling.
  for (const live of pods) {
    const want = rendered.get(live.metadata!.name!);
    if (!want || live.metadata?.deletionTimestamp) continue;
    const meta = { labels: want.metadata!.labels, ownerReferences: want.metadata!.ownerReferences };
    if (!isSubset(meta, live.metadata)) {
      await step.patch(
        POD,
        live,
        { metadata: meta },
        "Updated",
        `restored labels and owner of Pod ${live.metadata!.name}`,
      );
    }
  }

  let waiting = await replaceLostNodes(step, c, pods, owned.pvcs, view);
  for (const role of ["voter", "read-only"] as const) {
    waiting =
      (await scaleRole(
        step,
        c,
        role,
        desired.filter((m) => m.role === role),
        pods,
        owned.pvcs,
        all.pvcs,
        rendered,
        bootstrapExpect,
        view,
      )) || waiting;
  }
  return (await rollOutdated(step, c, pods, desiredHashes, view)) || waiting;
}

/**
 * Brings one role's Pods and PVCs to the desired members, one node at a time except for the
 * first bootstrap, where rqlite needs all `bootstrapExpect` voters at once to elect a leader.
 */
async function scaleRole(
  step: Step,
  c: ClusterView,
  role: Member["role"],
  wanted: Member[],
  allPods: V1Pod[],
  pvcs: V1PersistentVolumeClaim[],
  anyPvcs: V1PersistentVolumeClaim[],
  rendered: Map<string, V1Pod>,
  bootstrapExpect: number,
  view: RqliteView | undefined,
): Promise<boolean> {
  const pods = allPods.filter((p) => p.metadata?.labels?.[LABEL_ROLE] === role);
  const wantedNames = new Set(wanted.map((m) => m.name));
  const terminating = pods.some((p) => p.metadata?.deletionTimestamp);
  const settled = !terminating && pods.every(isPodReady);

  // PVCs first, for every node that will have a Pod; a PVC is never recreated under a live Pod.
  for (const m of wanted) {
    const desiredPvc = renderPvc(c, m);
    const live = byName(pvcs, m.name);
    if (!live && byName(anyPvcs, m.name)) {
      step.warn("AdoptionConflict", `PVC ${m.name} exists and belongs to another owner; not touching it`);
      continue;
    }
    if (!live) {
      await step.create(desiredPvc);
      continue;
    }
    await ensurePvc(step, desiredPvc, live);
  }

  // Extra nodes leave highest ordinal first, one at a time, each after the last is gone.
  const extras = pods.filter((p) => !wantedNames.has(p.metadata!.name!)).sort((a, b) => ordinal(c, b) - ordinal(c, a));
  if (extras.length > 0) {
    if (terminating) return false;
    const victim = extras[0]!;
    if (await leaveRaft(step, c, victim.metadata!.name!, wantedNames, view)) return true;
    await step.delete(
      POD,
      victim,
      "ScalingDown",
      `deleted Pod ${victim.metadata!.name} to scale ${role === "voter" ? "voters" : "read replicas"} down to ${wanted.length}`,
    );
    return false;
  }
  await releasePvcs(step, c, role, wantedNames, pods, pvcs);

  const missing = wanted.filter((m) => !byName(pods, m.name));
  if (missing.length === 0) return false;
  const bootstrapping = role === "voter" ? missing.filter((m) => m.ordinal < bootstrapExpect) : [];
  // Founding voters start together; any other node joins once every node before it is ready.
  const batch =
    bootstrapping.length > 0 ? bootstrapping : settled ? missing.slice(0, role === "voter" ? 1 : missing.length) : [];
  for (const m of batch) {
    // A replaced node starts on fresh storage: its old PVC must be gone first.
    if (byName(pvcs, m.name)?.metadata?.deletionTimestamp) continue;
    await step.create(rendered.get(m.name)!, pods.length === 0 ? "Created" : "ScalingUp");
  }
  return false;
}

/**
 * A Pod whose Kubernetes node has been unreachable longer than the timeout never comes back by
 * itself (its kubelet cannot confirm the deletion). The node leaves the Raft configuration,
 * then its Pod is force-deleted and its PVC deleted, and the usual scale step recreates it on
 * fresh storage, where it joins again and copies the data from the leader.
 */
async function replaceLostNodes(
  step: Step,
  c: ClusterView,
  pods: V1Pod[],
  pvcs: V1PersistentVolumeClaim[],
  view: RqliteView | undefined,
): Promise<boolean> {
  let waiting = false;
  for (const pod of pods) {
    const lostMs = step.lostFor(pod);
    if (lostMs <= step.nodeFailureTimeoutMs) continue;
    const name = pod.metadata!.name!;
    const staying = new Set(pods.map((p) => p.metadata!.name!).filter((n) => n !== name));
    if (await leaveRaft(step, c, name, staying, view)) {
      waiting = true;
      continue;
    }
    step.warn(
      "NodeLost",
      `replacing ${name}: its Kubernetes node ${pod.spec!.nodeName} has been unreachable for ${Math.round(lostMs / 1000)} s`,
    );
    await step.delete(POD, pod, "NodeLost", `force-deleted Pod ${name} from unreachable node ${pod.spec!.nodeName}`, {
      gracePeriodSeconds: 0,
    });
    const pvc = byName(pvcs, name);
    if (pvc && !pvc.metadata?.deletionTimestamp)
      await step.delete(
        PVC,
        pvc,
        "NodeLost",
        `deleted PVC ${name} of the lost node; the replacement starts on fresh storage`,
      );
  }
  return waiting;
}

/**
 * Takes a node out of the Raft configuration through the leader before its Pod goes, so that
 * the remaining voters never count a member that will not come back. Returns true while it
 * must wait: no leader is known, the node leads (leadership moves first), or removing it
 * would leave fewer reachable voters than the smaller configuration's quorum.
 */
async function leaveRaft(
  step: Step,
  c: ClusterView,
  node: string,
  staying: Set<string>,
  view: RqliteView | undefined,
): Promise<boolean> {
  if (!view?.leader) {
    return step.waiting(
      "WaitingForLeader",
      `not removing ${node} yet: no rqlite node reports a leader, so its removal from the Raft configuration cannot be confirmed`,
      true,
    );
  }
  const member = view.members.find((m) => m.id === node);
  if (!member) return false;
  if (view.leader === node) {
    const target = view.members.find((m) => m.voter && m.ready && staying.has(m.id));
    if (!target)
      return step.waiting(
        "NoLeadershipTarget",
        `not removing ${node} yet: it leads and no staying voter is reachable to take over`,
        true,
      );
    const outcome = await step.rq.transferLeadership(node, target.id);
    if (outcome === "unsupported") {
      return step.waiting(
        "NoLeadershipTransfer",
        `not removing ${node} yet: it leads and its rqlite version cannot transfer leadership; upgrade rqlite or restart ${node} to move leadership`,
        true,
      );
    }
    step.waiting(
      "LeadershipTransferred",
      `moved rqlite leadership from ${node} to ${target.id} (${outcome}) before removing ${node}`,
    );
    return true;
  }
  if (member.voter) {
    const remaining = view.members.filter((m) => m.voter && m.id !== node);
    const reachable = remaining.filter((m) => m.ready).length;
    const quorum = Math.floor(remaining.length / 2) + 1;
    if (reachable < quorum) {
      return step.waiting(
        "QuorumAtRisk",
        `not removing ${node} yet: only ${reachable} of the ${remaining.length} remaining voters are reachable, below their quorum of ${quorum}`,
        true,
      );
    }
  }
  const outcome = await step.rq.removeNode(view.leader, node);
  step.record(
    "RemovedFromRaft",
    `removed ${node} from the Raft configuration through leader ${view.leader} (${outcome})`,
  );
  return false;
}

/** PVCs of nodes that scaled away: deleted or kept per storage.scaleDownPolicy, once their Pod is gone. */
async function releasePvcs(
  step: Step,
  c: ClusterView,
  role: Member["role"],
  wantedNames: Set<string>,
  pods: V1Pod[],
  pvcs: V1PersistentVolumeClaim[],
) {
  if (c.spec.storage.scaleDownPolicy !== "Delete") return;
  for (const pvc of pvcs) {
    const name = pvc.metadata!.name!;
    const member = parseMemberName(c.name, name);
    if (
      !member ||
      member.role !== role ||
      wantedNames.has(name) ||
      byName(pods, name) ||
      pvc.metadata?.deletionTimestamp
    )
      continue;
    await step.delete(PVC, pvc, "PVCDeleted", `deleted PVC ${name} of removed node (storage.scaleDownPolicy=Delete)`);
  }
}

/** Storage may grow in place (PVC expansion); labels and owner are restored. */
async function ensurePvc(step: Step, desired: V1PersistentVolumeClaim, live: V1PersistentVolumeClaim) {
  const patch = driftPatch(
    { metadata: { labels: desired.metadata!.labels, ownerReferences: desired.metadata!.ownerReferences } },
    live as Json,
  );
  const want = desired.spec!.resources!.requests!.storage!;
  const have = live.spec?.resources?.requests?.storage;
  const grow = have !== undefined && isLarger(want, have);
  if (!patch && !grow) return;
  const body: Json = { ...(patch ?? {}), ...(grow ? { spec: { resources: { requests: { storage: want } } } } : {}) };
  await step.patch(
    PVC,
    live,
    body,
    grow ? "StorageExpanded" : "Updated",
    grow
      ? `requested ${want} for PVC ${live.metadata!.name} (was ${have})`
      : `restored labels and owner of PVC ${live.metadata!.name}`,
  );
}

/**
 * RollingUpdate replaces one outdated Pod at a time: read replicas and followers first, highest
 * ordinal first, the leader last after leadership moved to an updated follower; and only when
 * every Pod is ready and every updated node has caught up (`/readyz?sync`).
 */
async function rollOutdated(
  step: Step,
  c: ClusterView,
  pods: V1Pod[],
  desiredHashes: Map<string, string>,
  view: RqliteView | undefined,
): Promise<boolean> {
  if (c.spec.updateStrategy.type !== "RollingUpdate") return false;
  const isOutdated = (p: V1Pod) =>
    desiredHashes.has(p.metadata!.name!) &&
    p.metadata?.annotations?.[SPEC_HASH_ANNOTATION] !== desiredHashes.get(p.metadata!.name!);
  const outdated = pods.filter(isOutdated);
  if (outdated.length === 0) return false;
  if (pods.some((p) => p.metadata?.deletionTimestamp) || !pods.every(isPodReady)) return false;
  if (!view?.leader)
    return step.waiting("WaitingForLeader", "rolling update paused: no rqlite node reports a leader", true);
  for (const p of pods.filter((x) => !isOutdated(x))) {
    if (!(await step.rq.isSynced(p.metadata!.name!))) {
      return step.waiting("WaitingForSync", `rolling update waits for ${p.metadata!.name} to catch up (/readyz?sync)`);
    }
  }
  const leaderLast = (p: V1Pod) => (p.metadata!.name === view.leader ? 1 : 0);
  const next = [...outdated].sort((a, b) => leaderLast(a) - leaderLast(b) || ordinal(c, b) - ordinal(c, a))[0]!;
  const name = next.metadata!.name!;
  if (name === view.leader) {
    const target =
      view.members.find(
        (m) => m.voter && m.ready && m.id !== name && pods.some((p) => p.metadata!.name === m.id && !isOutdated(p)),
      ) ?? view.members.find((m) => m.voter && m.ready && m.id !== name);
    const outcome = target ? await step.rq.transferLeadership(name, target.id) : "unsupported";
    if (outcome !== "unsupported") {
      return step.waiting(
        "LeadershipTransferred",
        `moved rqlite leadership from ${name} to ${target!.id} (${outcome}) before updating ${name}`,
      );
    }
    // rqlited steps down when it is stopped, so the leader's own shutdown hands leadership over.
    step.record(
      "LeaderStepsDown",
      `${name} leads and ${target ? `its rqlite version cannot transfer leadership` : "no updated follower is reachable"}; it steps down as its Pod stops`,
    );
  }
  await step.delete(
    POD,
    next,
    "RollingUpdate",
    `deleted outdated Pod ${name} to recreate it with the new spec (${outdated.length} outdated)`,
  );
  return false;
}

function ordinal(c: ClusterView, pod: V1Pod): number {
  return parseMemberName(c.name, pod.metadata!.name!)?.ordinal ?? -1;
}

async function writeStatus(
  deps: ReconcileDeps,
  cluster: RqCluster,
  c: ClusterView,
  owned: Children,
  desiredHashes: Map<string, string>,
  view: RqliteView | undefined,
) {
  const previous = (cluster as { status?: Partial<ClusterStatus> }).status;
  const wasAvailable =
    previous?.conditions?.some((x) => x.type === "Available" && x.status === "True") === true ||
    (previous?.phase !== undefined && !["Pending", "Creating"].includes(previous.phase));
  const status = computeStatus(
    c,
    { pods: owned.pods, desiredHashes, wasAvailable, rqlite: view },
    previous,
    deps.now?.() ?? new Date(),
  );
  if (isSubset(status, previous ?? {}) && isSubset(previous ?? {}, status)) return;
  await deps.writer.patchStatus(refOf(CLUSTER, cluster as KubernetesObject), { status });
}

/** True when quantity a is larger than b; unparsable quantities never count as growth. */
function isLarger(a: string, b: string): boolean {
  const [qa, qb] = [parseQuantity(a), parseQuantity(b)];
  return qa !== undefined && qb !== undefined && compareQuantities(qa, qb) > 0;
}
