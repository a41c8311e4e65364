// A small deterministic world for the planner's model test (issue 9, section 2(b)): one RqCluster,
// its Pods and other children as the API server would hold them, the rqlite processes and the
// Raft configuration they form, the Kubernetes nodes they run on, and a clock. Each step the test
// builds an Observed from it, asks plan() for a Plan, and applies the actions here with the
// effects they would have for real: a deleted Pod terminates and goes a step or two later, a
// created Pod starts, joins the Raft configuration and catches up a few steps later, a removal
// shrinks the configuration, a transfer moves the leader. Faults and user edits arrive at a seeded
// rate. Everything is driven by one seeded PRNG, so a run replays exactly from its seed.
import type {
  KubernetesObject,
  V1PersistentVolumeClaim,
  V1Pod,
  V1NetworkPolicy,
  V1PodDisruptionBudget,
  V1Service,
} from "@kubernetes/client-node";
import type { RqCluster, RqClusterStatus } from "../../../shared/index.js";
import { deriveFacts, HOLDS, PROBLEMS } from "../../../controller/rqcluster/plan/index.js";
import { computeStatus } from "../../../controller/rqcluster/status.js";
import { API_VERSION, KIND, LABEL_ROLE, type NodeRole, parseMemberName } from "../../../shared/names.js";
import { loopbackAddress } from "../../../shared/loopback-address.js";
import {
  renderClientService,
  renderHeadlessService,
  renderNetworkPolicy,
  renderPdb,
  renderPvc,
} from "../../../controller/rqcluster/render/children.js";
import { clusterView, type ClusterView } from "../../../controller/rqcluster/render/cluster.js";
import { desiredMembers } from "../../../controller/rqcluster/render/members.js";
import type { Addressing } from "../../../controller/access/clusterView.js";
import {
  BOOTSTRAP_EXPECT_ANNOTATION,
  renderPod,
  SPEC_HASH_ANNOTATION,
} from "../../../controller/rqcluster/render/pod.js";
import type { Action, Observed, Plan, RaftView } from "../../../controller/rqcluster/plan/types.js";
import { afterRefusedEviction, disruptionControllerRuns } from "../../../controller/rqcluster/plan/eviction.js";
import { LABEL_CLUSTER } from "../../../shared/names.js";
import { parseRqliteVersion, versionChangeProblem } from "../../../shared/rqlite-versions.js";
import type { Json } from "../../../controller/runtime/writer.js";
import { mulberry32 } from "./random.js";

/** Each run gets its own seed, so one failing run replays alone (PLAN_MODEL_RUN). */
export function runSeed(base: number, run: number): number {
  return Math.floor(mulberry32((base ^ Math.imul(run + 1, 0x9e3779b1)) >>> 0)() * 2 ** 32) >>> 0;
}

export class Rng {
  private readonly next: () => number;
  constructor(seed: number) {
    this.next = mulberry32(seed);
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  /** An integer in [lo, hi]. */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }
  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new Error("pick from an empty list");
    return items[Math.floor(this.next() * items.length)]!;
  }
}

export const CLUSTER = "db";
export const NAMESPACE = "model";
const UID = "uid-db";
/** Two images of one major version, so the downgrade rule (the webhook's) never matters here. */
export const IMAGES = ["rqlite/rqlite:9.1.0", "rqlite/rqlite:9.2.0"] as const;
/**
 * Images across majors (8 to 10 skips one; 10 to 9 is no downgrade rqlite does): edits to them
 * stand for a webhook that was bypassed or judged a stale status, so the planner must refuse the
 * step itself. The healed world goes back to an image every Pod can step to.
 */
export const ACROSS_MAJORS = ["rqlite/rqlite:8.43.4", "rqlite/rqlite:10.2.7"] as const;
/**
 * An image whose rqlited never comes up (a bad build, a flag it refuses): its Pods crash-loop and
 * never get Ready. The healed world sets the image back, and the roll must undo the broken steps.
 */
export const NEVER_READY = "rqlite/rqlite:9.3.0";
/** A template annotation that stands for a template rqlited never comes up with. */
const BROKEN_ANNOTATION = "example.com/broken";
/** The problems observe reports for each Secret the spec names, when it is gone (SecretsReady). */
const SECRET_PROBLEMS = {
  "tls-ca": {
    reason: "TLSCAUnavailable",
    message: "Secret db-tls is missing: the nodes are verified with the CA read last",
  },
  auth: { reason: "AuthSecretUnusable", message: "Secret db-users is missing: the nodes keep the users they run with" },
  s3: { reason: "BackupCredentialsMissing", message: "Secret db-s3 is missing: backups are off until it is back" },
} as const;
/** Holds as observe reports them (a refused template, S3 endpoint or adoption): no Pod may change until a person fixes it. */
const OBSERVED_HOLDS = [
  { reason: "PodTemplateRefused", message: "ConfigMap db-template is refused", warning: true },
  {
    reason: "BackupS3Refused",
    message: "the S3 endpoint is refused by policy. No Pod changes until then",
    warning: true,
  },
  { reason: "AdoptionConflict", message: "PVC db-0 belongs to another RqCluster", warning: true },
] as const;
export const ADDRESSING: Addressing = { kind: "static", addressOf: loopbackAddress };
const K8S_NODES = ["n0", "n1", "n2", "n3", "n4", "n5", "n6", "n7", "n8"];

export const quorum = (voters: number): number => Math.floor(voters / 2) + 1;

export interface SimSpec {
  replicas: number;
  readReplicas: number;
  image: string;
  /** Bumped by a template edit: the template's annotation changes, so every Pod is outdated. */
  rev: number;
  /**
   * A template that tries to set the operator's own annotation and role label, as one would
   * through a bypassed webhook: rendering must keep them (I8).
   */
  hostile: boolean;
  /**
   * Set by a template edit that breaks rqlited (an init step that fails, a flag it refuses): the
   * rev the user had before, which the healed world sets back (the old Pods' very spec).
   */
  brokenFrom?: number;
}

export interface RunOptions {
  /** Whether the leader's rqlite can hand leadership over (POST /leader), per image. */
  canTransfer: Record<string, boolean>;
  nodeFailureTimeoutMs: number;
  /** The taint manager's eviction of Pods on unreachable nodes (tolerationSeconds), if any. */
  evictAfterMs?: number;
  /** Chance per step that the caches have not seen the last step's writes yet. */
  cacheLag: number;
  /** kube-controller-manager's disruption controller computes the budgets' status. */
  disruptionController: boolean;
}

type Proc = "pending" | "starting" | "up" | "crashed" | "stopped";

interface SimPod {
  name: string;
  role: NodeRole;
  /** The object as created (spec, labels, annotations); status is derived each step. */
  obj: V1Pod;
  node?: string;
  proc: Proc;
  /** Steps until a starting or crashed process runs. */
  timer: number;
  terminating: boolean;
  deletedAt?: number;
  /** Steps from termination until the kubelet confirms and the Pod is gone. */
  goneIn: number;
  /** rqlited joins through the leader at start when it is not a member. */
  joinPending: boolean;
  /** Step from which the node has caught up with the leader (/readyz?sync). */
  syncAt: number;
  /** The kubelet's restart count of the rqlite container. */
  restarts: number;
}

interface SimNode {
  name: string;
  /** partitioned: the kubelet cannot reach the API server, rqlite is fine; lost: the machine is down. */
  state: "ok" | "partitioned" | "lost";
  since?: number;
  healAt?: number;
}

export interface Snapshot {
  pods: V1Pod[];
  pvcs: V1PersistentVolumeClaim[];
  services: V1Service[];
  pdbs: V1PodDisruptionBudget[];
  networkPolicies: V1NetworkPolicy[];
}

const nameOf = (o: KubernetesObject): string => o.metadata!.name!;
const OPERATOR_NAMESPACE = "rqlite-operator-system";

/** RFC 7396 on plain JSON: enough for the patches the planner sends to children. */
function mergePatch(target: unknown, patch: unknown): unknown {
  if (patch === null || typeof patch !== "object" || Array.isArray(patch)) return patch;
  const out: Record<string, unknown> =
    target !== null && typeof target === "object" && !Array.isArray(target)
      ? { ...(target as Record<string, unknown>) }
      : {};
  for (const [k, v] of Object.entries(patch as Record<string, unknown>)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

export class World {
  spec: SimSpec;
  generation = 1;
  view: ClusterView;
  template: Json | undefined;
  readonly pods = new Map<string, SimPod>();
  readonly pvcs = new Map<string, V1PersistentVolumeClaim>();
  readonly services = new Map<string, V1Service>();
  readonly pdbs = new Map<string, V1PodDisruptionBudget>();
  readonly networkPolicies = new Map<string, V1NetworkPolicy>();
  /** A user's own PodDisruptionBudgets over the cluster's Pods (a second budget). */
  readonly userPdbs = new Map<string, V1PodDisruptionBudget>();
  /** Until this step the leader's membership cannot be read (its /nodes times out). */
  leaderUnreadableUntil = -1;
  /** Voters a drain evicted, until they are available again. */
  readonly drained = new Set<string>();
  readonly members = new Map<string, { voter: boolean }>();
  leader: string | undefined;
  readonly nodes: SimNode[] = K8S_NODES.map((name) => ({ name, state: "ok" }));
  now = Date.UTC(2026, 0, 1);
  step = 0;
  /** Voters made unavailable by the operator's own deletePod, until they are available again. */
  readonly operatorDown = new Set<string>();
  private ghosts = 0;
  private uids = 0;
  private previous: Snapshot | undefined;
  /**
   * The RqCluster's status as the operator last wrote it, computed by the product's own
   * computeStatus: the plan reads status.members and status.images back from it (reconcile.ts).
   */
  status: RqClusterStatus | undefined;
  /** The status this reconcile read (maybe an old one), which its status is computed from. */
  private seenStatus: RqClusterStatus | undefined;
  /** Every status written, oldest first: a restarted controller may be fed an old one. */
  private readonly statusHistory: RqClusterStatus[] = [];
  /** Until this step a restarted controller is fed an old status (a lagging cache of the RqCluster). */
  staleStatusUntil = -1;
  private staleStatus: RqClusterStatus | undefined;
  /** The status a reconcile computes; a mutant's in the checker's self-test. */
  statusOf: typeof computeStatus = computeStatus;
  /** Secrets the spec names that are gone, until the heal (or a person) brings them back. */
  readonly missingSecrets = new Set<"tls-ca" | "auth" | "s3">();
  /**
   * The operator keeps the last TLS CA it read, so a deleted CA Secret does not cut it off from
   * rqlite; during the chaos a restart while the Secret is gone may find no copy either (one not
   * written yet), and the leader cannot be read until the heal.
   */
  caForgotten = false;
  /** A hold a person must lift (a refused pod template, a Secret owned by another), until this step. */
  holdUntil = -1;
  /** The holds that stand until holdUntil: one, or two at once. */
  private holds: Array<(typeof OBSERVED_HOLDS)[number]> = [];
  /** Chance that the apply of a plan fails part-way (an API error, a conflict): the rest is not done. */
  applyFailure = 0;
  /** Recent events, printed with a failure. */
  readonly history: string[] = [];
  /** Violations the world itself saw (W1, W2), reset by the caller. */
  violations: string[] = [];

  constructor(
    readonly rng: Rng,
    readonly opts: RunOptions,
    spec: SimSpec,
  ) {
    this.spec = spec;
    [this.view, this.template] = this.render();
  }

  log(message: string): void {
    this.history.push(`#${this.step} ${message}`);
    if (this.history.length > 60) this.history.shift();
  }

  // ---------------------------------------------------------------- the cluster object

  get object(): RqCluster {
    const template = this.template;
    const obj: RqCluster = {
      apiVersion: API_VERSION,
      kind: KIND,
      metadata: { name: CLUSTER, namespace: NAMESPACE, uid: UID, generation: this.generation },
      spec: {
        replicas: this.spec.replicas,
        readReplicas: this.spec.readReplicas,
        image: this.spec.image,
        paused: false,
        ...(template ? { podTemplate: template } : {}),
      },
    };
    return obj;
  }

  private render(): [ClusterView, Json | undefined] {
    const { rev, hostile, brokenFrom } = this.spec;
    const template: Json | undefined =
      rev === 0 && !hostile
        ? undefined
        : {
            metadata: {
              annotations: {
                "example.com/rev": String(rev),
                ...(brokenFrom !== undefined ? { [BROKEN_ANNOTATION]: "true" } : {}),
                ...(hostile ? { [BOOTSTRAP_EXPECT_ANNOTATION]: "9", [SPEC_HASH_ANNOTATION]: "forged" } : {}),
              },
              ...(hostile ? { labels: { [LABEL_ROLE]: "read-only" } } : {}),
            },
          };
    this.template = template;
    const view = clusterView(this.object);
    // The planner gets the very same view every step until an edit; freezing it once is enough.
    deepFreeze(view);
    if (template) deepFreeze(template);
    return [view, template];
  }

  edit(change: Partial<SimSpec>, why: string): void {
    this.spec = { ...this.spec, ...change };
    this.generation++;
    [this.view, this.template] = this.render();
    this.log(
      `EDIT ${why}: replicas=${this.spec.replicas} readReplicas=${this.spec.readReplicas} image=${this.spec.image} rev=${this.spec.rev}${this.spec.hostile ? " hostile" : ""}${this.spec.brokenFrom !== undefined ? " broken" : ""}`,
    );
  }

  // ---------------------------------------------------------------- truths about the world

  nodeOf(p: SimPod): SimNode | undefined {
    return p.node === undefined ? undefined : this.nodes.find((n) => n.name === p.node);
  }

  /** The rqlite process runs and can be reached over the network. */
  up(p: SimPod): boolean {
    const node = this.nodeOf(p);
    return p.proc === "up" && node !== undefined && node.state !== "lost";
  }

  reachable(id: string): boolean {
    const p = this.pods.get(id);
    return p !== undefined && this.up(p);
  }

  /** The Pod's Ready condition as the API server shows it. */
  ready(p: SimPod): boolean {
    // The node lifecycle controller marks Pods on an unreachable node not Ready.
    return (
      !p.terminating &&
      this.up(p) &&
      this.nodeOf(p)?.state === "ok" &&
      this.members.has(p.name) &&
      this.leader !== undefined
    );
  }

  synced(p: SimPod): boolean {
    return (
      this.up(p) && !p.terminating && this.members.has(p.name) && this.leader !== undefined && this.step >= p.syncAt
    );
  }

  available(name: string): boolean {
    const p = this.pods.get(name);
    return p !== undefined && this.ready(p);
  }

  voters(): string[] {
    return [...this.members].filter(([, m]) => m.voter).map(([id]) => id);
  }

  quorumState(): { voters: number; up: number; ok: boolean } {
    const voters = this.voters();
    const up = voters.filter((id) => this.reachable(id)).length;
    return { voters: voters.length, up, ok: voters.length > 0 && up >= quorum(voters.length) };
  }

  imageOf(name: string): string | undefined {
    return this.pods.get(name)?.obj.spec?.containers[0]?.image;
  }

  bootstrapExpectOfPods(): number | undefined {
    for (const p of this.pods.values()) {
      const v = Number(p.obj.metadata?.annotations?.[BOOTSTRAP_EXPECT_ANNOTATION]);
      if (Number.isInteger(v) && v > 0) return v;
    }
    return undefined;
  }

  // ---------------------------------------------------------------- building worlds

  /** A converged cluster, built directly (not through the planner) from the renderers. */
  static converged(rng: Rng, opts: RunOptions, spec: SimSpec, bootstrapExpect: number): World {
    const w = new World(rng, opts, spec);
    const desired = desiredMembers(CLUSTER, spec.replicas, spec.readReplicas);
    desired.forEach((m, i) => {
      const obj = renderPod(w.view, {
        member: m,
        bootstrapExpect,
        template: w.template,
        addressing: ADDRESSING,
      });
      w.addPod(obj, K8S_NODES[i % K8S_NODES.length]);
      const p = w.pods.get(m.name)!;
      p.proc = "up";
      p.joinPending = false;
      p.syncAt = 0;
      w.members.set(m.name, { voter: m.role === "voter" });
      w.pvcs.set(m.name, renderPvc(w.view, m, bootstrapExpect));
    });
    w.leader = rng.pick(w.voters());
    for (const svc of [renderHeadlessService(w.view), renderClientService(w.view)]) w.services.set(nameOf(svc), svc);
    const pdb = renderPdb(w.view, spec.replicas);
    if (pdb)
      w.pdbs.set(nameOf(pdb), {
        ...pdb,
        metadata: { ...pdb.metadata, generation: 1, creationTimestamp: new Date(w.now - 3_600_000) },
      });
    w.computeBudgets();
    const policy = renderNetworkPolicy(w.view, OPERATOR_NAMESPACE);
    if (policy) w.networkPolicies.set(nameOf(policy), policy);
    w.log(`START converged: ${desired.length} nodes, bootstrap-expect ${bootstrapExpect}, leader ${w.leader}`);
    return w;
  }

  /** No children at all: the planner bootstraps the cluster. */
  static fresh(rng: Rng, opts: RunOptions, spec: SimSpec): World {
    const w = new World(rng, opts, spec);
    w.log("START fresh: no children");
    return w;
  }

  get bootstrapped(): boolean {
    return this.members.size > 0;
  }

  private addPod(obj: V1Pod, node?: string): void {
    const name = nameOf(obj);
    const role = parseMemberName(CLUSTER, name)?.role ?? "voter";
    const copy = structuredClone(obj);
    copy.metadata = { ...copy.metadata, uid: `pod-${++this.uids}`, creationTimestamp: new Date(this.now) };
    this.pods.set(name, {
      name,
      role,
      obj: copy,
      proc: "pending",
      timer: 0,
      terminating: false,
      goneIn: 0,
      joinPending: true,
      syncAt: Number.MAX_SAFE_INTEGER,
      restarts: 0,
    });
    if (node !== undefined) this.schedule(this.pods.get(name)!, node);
  }

  private schedule(p: SimPod, node: string): void {
    p.node = node;
    p.obj = { ...p.obj, spec: { ...p.obj.spec!, nodeName: node } };
    p.proc = "starting";
    p.timer = this.rng.int(1, 3);
  }

  // ---------------------------------------------------------------- time passing

  /** Everything that happens between two reconciles without the operator. */
  tick(): void {
    this.step++;
    for (const n of this.nodes) {
      if (n.state !== "ok" && n.healAt !== undefined && this.step >= n.healAt) this.healNode(n);
    }
    if (this.opts.evictAfterMs !== undefined) {
      for (const p of this.pods.values()) {
        const n = this.nodeOf(p);
        if (!p.terminating && n?.since !== undefined && this.now - n.since >= this.opts.evictAfterMs) {
          this.log(`k8s evicts ${p.name} from unreachable node ${n.name}`);
          this.terminate(p);
        }
      }
    }
    for (const p of this.pods.values()) {
      if (p.proc === "pending") {
        const load = (n: SimNode) => [...this.pods.values()].filter((q) => q.node === n.name).length;
        const ok = this.nodes.filter((n) => n.state === "ok").sort((a, b) => load(a) - load(b));
        if (ok.length > 0 && !p.terminating) this.schedule(p, ok[0]!.name);
      } else if ((p.proc === "starting" || p.proc === "crashed") && !p.terminating) {
        if (--p.timer <= 0 && this.nodeOf(p)?.state !== "lost") this.startProcess(p);
      }
    }
    for (const p of [...this.pods.values()]) {
      if (p.terminating && (p.node === undefined || this.nodeOf(p)?.state === "ok") && --p.goneIn <= 0) {
        this.pods.delete(p.name);
        this.log(`Pod ${p.name} is gone`);
      }
    }
    for (const [name, pvc] of this.pvcs) {
      if (pvc.metadata?.deletionTimestamp && !this.pods.has(name)) this.pvcs.delete(name);
    }
    this.bootstrap();
    this.joins();
    this.elect();
    for (const name of [...this.operatorDown]) if (this.available(name)) this.operatorDown.delete(name);
    for (const name of [...this.drained]) if (this.available(name)) this.drained.delete(name);
    this.computeBudgets();
    this.checkOperatorDown("after time passed");
  }

  private startProcess(p: SimPod): void {
    if (p.obj.spec?.containers[0]?.image === NEVER_READY || p.obj.metadata?.annotations?.[BROKEN_ANNOTATION]) {
      p.proc = "crashed";
      p.restarts++;
      p.timer = this.rng.int(1, 5);
      return;
    }
    p.proc = "up";
    p.joinPending = true;
    p.syncAt = this.step + this.rng.int(1, 3);
  }

  private terminate(p: SimPod): void {
    if (p.terminating) return;
    p.terminating = true;
    p.deletedAt = this.now;
    p.goneIn = this.rng.int(1, 2);
    // The kubelet stops the container only when it hears of the deletion.
    if (this.nodeOf(p)?.state === "ok" || p.node === undefined) p.proc = "stopped";
  }

  private healNode(n: SimNode): void {
    const was = n.state;
    n.state = "ok";
    n.since = undefined;
    n.healAt = undefined;
    this.log(`node ${n.name} healed (was ${was})`);
    for (const p of this.pods.values()) {
      if (p.node !== n.name) continue;
      if (p.terminating) p.proc = "stopped";
      // A machine that comes back boots its containers again.
      else if (was === "lost" && p.proc === "up") this.startProcess(p);
    }
  }

  private bootstrap(): void {
    if (this.members.size > 0) return;
    const expect = this.bootstrapExpectOfPods();
    if (expect === undefined) return;
    // The first `expect` voters find each other through the join list and bootstrap together.
    const founders = [...this.pods.values()].filter(
      (p) =>
        p.role === "voter" &&
        this.up(p) &&
        !p.terminating &&
        (parseMemberName(CLUSTER, p.name)?.ordinal ?? 99) < expect,
    );
    if (founders.length < expect) return;
    for (const p of founders) {
      this.members.set(p.name, { voter: true });
      p.joinPending = false;
    }
    this.leader = this.rng.pick(founders).name;
    this.log(`Raft bootstrapped by ${founders.map((p) => p.name).join(",")}, leader ${this.leader}`);
  }

  private joins(): void {
    for (const p of this.pods.values()) {
      if (!p.joinPending || !this.up(p) || p.terminating) continue;
      if (this.members.has(p.name)) {
        p.joinPending = false;
        continue;
      }
      if (this.leader === undefined || !this.reachable(this.leader)) continue;
      this.members.set(p.name, { voter: p.role === "voter" });
      p.joinPending = false;
      p.syncAt = this.step + this.rng.int(1, 3);
      this.log(`${p.name} joined the Raft configuration as ${p.role}`);
    }
  }

  /** A leader needs a reachable quorum; without one it steps down and none is elected. */
  private elect(): void {
    const q = this.quorumState();
    const leaderOk =
      this.leader !== undefined && this.members.get(this.leader)?.voter === true && this.reachable(this.leader);
    if (leaderOk && q.ok) return;
    const before = this.leader;
    const candidates = this.voters().filter((id) => this.reachable(id));
    this.leader = q.ok && candidates.length > 0 ? this.rng.pick(candidates) : undefined;
    if (before !== this.leader) this.log(`leader ${before ?? "none"} -> ${this.leader ?? "none"}`);
  }

  // ---------------------------------------------------------------- budgets and evictions

  private selected(matchLabels: Record<string, string> | undefined, p: SimPod): boolean {
    const labels = p.obj.metadata?.labels ?? {};
    return matchLabels !== undefined && Object.entries(matchLabels).every(([k, v]) => labels[k] === v);
  }

  /** The disruption controller's work: each budget's status from the Pods it selects. */
  computeBudgets(): void {
    if (!this.opts.disruptionController) return;
    for (const store of [this.pdbs, this.userPdbs]) for (const [name, b] of store) store.set(name, this.computed(b));
  }

  /** Observations are frozen: a budget's new status is a new object. */
  private computed(b: V1PodDisruptionBudget): V1PodDisruptionBudget {
    const pods = [...this.pods.values()].filter((p) => this.selected(b.spec?.selector?.matchLabels, p));
    const healthy = pods.filter((p) => this.ready(p)).length;
    const min = Number(b.spec?.minAvailable ?? 0);
    return {
      ...b,
      status: {
        observedGeneration: b.metadata?.generation ?? 1,
        currentHealthy: healthy,
        desiredHealthy: min,
        expectedPods: pods.length,
        disruptionsAllowed: Math.max(0, healthy - min),
      },
    };
  }

  /**
   * The API server's eviction of a Pod: refused (500) when two budgets select it; refused (429)
   * when its budget is not computed for its generation or allows nothing, after which the
   * operator decides as apply.ts does (wait, or delete where no disruption controller runs).
   */
  private evict(p: SimPod, by: "operator" | "drain"): boolean {
    const over = [...this.pdbs, ...this.userPdbs].filter(([, b]) => this.selected(b.spec?.selector?.matchLabels, p));
    if (over.length > 1) {
      this.log(`${by} eviction of ${p.name}: 500 more than one PodDisruptionBudget`);
      return false;
    }
    if (!over[0]) return true;
    const [name, budget] = over[0];
    const st = budget.status;
    const current = st?.observedGeneration !== undefined && st.observedGeneration >= (budget.metadata?.generation ?? 1);
    if (current && (st.disruptionsAllowed ?? 0) > 0) {
      const store = this.pdbs.has(name) ? this.pdbs : this.userPdbs;
      store.set(name, { ...budget, status: { ...st, disruptionsAllowed: st.disruptionsAllowed - 1 } });
      return true;
    }
    this.log(`${by} eviction of ${p.name}: 429 (budget ${current ? "allows 0" : "not computed"})`);
    if (by === "drain") return false;
    const all = [...this.pdbs.values(), ...this.userPdbs.values()];
    const next = afterRefusedEviction(
      p.name,
      this.pdbs.get(this.view.pdbName),
      disruptionControllerRuns(all, this.now),
    );
    if (next.do === "wait") return false;
    this.log(`OP falls back to deleting ${p.name}: ${next.why}`);
    return true;
  }

  // ---------------------------------------------------------------- faults and edits

  /** At most a few things go wrong per step; rates are per step. */
  fault(allowEdits: boolean): void {
    const r = this.rng;
    const running = [...this.pods.values()].filter((p) => this.up(p) && !p.terminating);
    if (r.chance(0.05) && running.length > 0) {
      const p = r.pick(running);
      p.proc = "crashed";
      p.restarts++;
      p.timer = r.int(1, 5);
      this.log(`FAULT rqlited of ${p.name} crashed`);
    }
    if (r.chance(0.03) && this.leader !== undefined && this.quorumState().ok) {
      const others = this.voters().filter((id) => id !== this.leader && this.reachable(id));
      if (others.length > 0) {
        const to = r.pick(others);
        this.log(`FAULT leader ${this.leader} -> ${to} (election)`);
        this.leader = to;
      }
    }
    const okNodes = this.nodes.filter(
      (n) => n.state === "ok" && [...this.pods.values()].some((p) => p.node === n.name),
    );
    if (r.chance(0.035) && okNodes.length > 0) {
      const n = r.pick(okNodes);
      n.state = r.chance(0.5) ? "partitioned" : "lost";
      n.since = this.now;
      n.healAt = r.chance(0.7) ? this.step + r.int(3, 40) : undefined;
      const on = [...this.pods.values()].filter((p) => p.node === n.name).map((p) => p.name);
      this.log(`FAULT node ${n.name} ${n.state} (${on.join(",")})${n.healAt ? ` until #${n.healAt}` : ""}`);
    }
    if (r.chance(0.01) && this.leader !== undefined) {
      // A member no Pod stands for: a node from an earlier life, or one added by hand.
      const q = this.quorumState();
      const voter = q.up >= quorum(q.voters + 1) + 1 && r.chance(0.6);
      const id = `${r.pick(["ghost", CLUSTER])}-${r.pick(["", "ro-"])}${20 + ++this.ghosts}`;
      this.members.set(id, { voter });
      this.log(`FAULT ghost member ${id} (${voter ? "voter" : "non-voter"}) in the Raft configuration`);
    }
    if (r.chance(0.01) && running.length > 0) {
      const p = r.pick(running);
      this.log(`FAULT someone deleted Pod ${p.name} (kubectl delete pod)`);
      this.terminate(p);
    }
    if (r.chance(0.03)) {
      const jump = r.int(60, 400) * 1000;
      this.now += jump;
      this.log(`FAULT clock jumps ${jump / 1000} s`);
    }
    if (r.chance(0.01) && this.userPdbs.size === 0) {
      this.userPdbs.set("user-pdb", {
        metadata: { name: "user-pdb", namespace: NAMESPACE, generation: 1, creationTimestamp: new Date(this.now) },
        spec: { minAvailable: 1, selector: { matchLabels: { [LABEL_CLUSTER]: CLUSTER } } },
      });
      this.log("FAULT a user created PodDisruptionBudget user-pdb over the cluster's Pods");
    } else if (r.chance(0.05) && this.userPdbs.size > 0) {
      this.userPdbs.clear();
      this.log("FAULT the user deleted PodDisruptionBudget user-pdb");
    }
    if (r.chance(0.03) && this.leader !== undefined) {
      this.leaderUnreadableUntil = this.step + r.int(1, 5);
      this.log(`FAULT the leader's membership cannot be read until #${this.leaderUnreadableUntil}`);
    }
    const voters = [...this.pods.values()].filter((p) => p.role === "voter" && this.ready(p));
    if (r.chance(0.03) && voters.length > 0) {
      const p = r.pick(voters);
      if (this.evict(p, "drain")) {
        this.log(`FAULT kubectl drain evicted ${p.name}`);
        this.drained.add(p.name);
        this.terminate(p);
      }
    }
    if (r.chance(0.02)) {
      // The operator restarts: what it remembered is gone, and its cache of the RqCluster may
      // hold a status a few writes old for a few reconciles.
      this.caForgotten = true;
      if (this.statusHistory.length > 0 && r.chance(0.7)) {
        // A restarted controller's first list may miss the last writes of the one before it.
        this.staleStatus = r.pick(this.statusHistory.slice(-3));
        this.staleStatusUntil = this.step + r.int(1, 6);
      }
      this.log(
        `FAULT the controller restarted${this.step < this.staleStatusUntil ? `, fed status.members ${JSON.stringify(this.staleStatus?.members?.map((m) => m.id) ?? null)} until #${this.staleStatusUntil}` : ""}`,
      );
    }
    if (r.chance(0.03)) {
      const secret = r.pick(["tls-ca", "auth", "s3"] as const);
      if (this.missingSecrets.has(secret)) {
        this.missingSecrets.delete(secret);
        this.log(`FAULT Secret ${secret} is back`);
      } else {
        this.missingSecrets.add(secret);
        this.log(`FAULT Secret ${secret} deleted`);
      }
    }
    if (r.chance(0.02)) {
      this.holdUntil = this.step + r.int(1, 8);
      const first = r.pick(OBSERVED_HOLDS);
      const second = r.pick(OBSERVED_HOLDS);
      this.holds = r.chance(0.3) && second !== first ? [first, second] : [first];
      this.log(`FAULT ${this.holds.map((h) => h.reason).join(" and ")} until #${this.holdUntil}`);
    }
    if (allowEdits && r.chance(0.05)) this.randomEdit();
  }

  /** `safe`: no image that takes a Pod across majors (a user's last edit, once healed). */
  randomEdit(safe = false): void {
    const r = this.rng;
    const s = this.spec;
    const other = s.image === IMAGES[0] ? IMAGES[1] : IMAGES[0];
    const replicas = r.int(1, 7);
    switch (r.int(0, safe ? 6 : 9)) {
      case 9:
        return this.edit({ rev: s.rev + 1, brokenFrom: s.brokenFrom ?? s.rev }, "template that never gets Ready");
      case 8:
        return this.edit({ image: NEVER_READY }, "image that never gets Ready");
      case 7:
        return this.edit({ image: r.pick(ACROSS_MAJORS) }, "image across majors");
      case 0:
        return this.edit({ replicas }, "scale voters");
      case 1:
        return this.edit({ readReplicas: r.int(0, 2) }, "scale read replicas");
      case 2:
        return this.edit({ image: other }, "image");
      case 3:
        return this.edit({ rev: s.rev + 1, hostile: r.chance(0.2), brokenFrom: undefined }, "template");
      case 4:
        return this.edit({ replicas, image: other }, "scale voters and image at once");
      case 5:
        return this.edit(
          { replicas, readReplicas: r.int(0, 2), rev: s.rev + 1, brokenFrom: undefined },
          "scale both and template at once",
        );
      default:
        return this.edit({ replicas: Math.max(1, s.replicas - r.int(1, 2)), image: other }, "scale down and image");
    }
  }

  /** The end of the chaos: every machine and process comes back, nothing else goes wrong. */
  heal(): void {
    this.userPdbs.clear();
    // A Secret may stay gone for good: only the feature that needs it stays off, and the cluster
    // must converge all the same (status, lost nodes, Pod re-creation keep working). The operator
    // verifies the nodes with its own copy of the CA (<cluster>-operator-ca), which a restart
    // does not forget once written.
    if (this.rng.chance(0.7)) this.missingSecrets.clear();
    this.caForgotten = false;
    this.holdUntil = -1;
    this.staleStatusUntil = -1;
    this.applyFailure = 0;
    this.leaderUnreadableUntil = -1;
    this.fixSpec();
    for (const n of this.nodes) if (n.state !== "ok") this.healNode(n);
    for (const p of this.pods.values()) if (p.proc === "crashed") p.timer = Math.min(p.timer, 1);
    const gone = [...this.missingSecrets];
    this.log(
      `HEAL: every node reachable, crashed processes restart, no more faults${gone.length ? `; Secrets ${gone.join(", ")} stay gone` : ""}`,
    );
  }

  /**
   * The user sets the spec back: a broken template to the one before it (the old Pods' own spec),
   * an image that never gets Ready or one a running Pod cannot step to, to one every Pod can take.
   */
  fixSpec(): void {
    if (this.spec.brokenFrom !== undefined)
      this.edit({ rev: this.spec.brokenFrom, brokenFrom: undefined }, "template set back");
    const running = [...this.pods.values()].flatMap((p) => {
      const v = parseRqliteVersion(p.obj.spec?.containers[0]?.image?.split(":").pop());
      return v && !p.terminating ? [v] : [];
    });
    const fine = (image: string) =>
      running.every((v) => !versionChangeProblem(v, parseRqliteVersion(image.split(":").pop())!));
    if (this.spec.image === NEVER_READY || !fine(this.spec.image)) {
      const to = [...IMAGES, ...ACROSS_MAJORS].find(fine);
      if (to) this.edit({ image: to }, "image set back");
    }
  }

  // ---------------------------------------------------------------- observing

  private podObject(p: SimPod): V1Pod {
    const ready = this.ready(p);
    return {
      ...p.obj,
      metadata: {
        ...p.obj.metadata,
        ...(p.terminating ? { deletionTimestamp: new Date(p.deletedAt!) } : {}),
      },
      status: {
        phase: p.proc === "pending" ? "Pending" : "Running",
        ...(p.node !== undefined ? { podIP: loopbackAddress(NAMESPACE, p.name) } : {}),
        conditions: [{ type: "Ready", status: ready ? "True" : "False" }],
        ...(p.node !== undefined
          ? {
              containerStatuses: [
                {
                  name: "rqlite",
                  image: p.obj.spec?.containers[0]?.image ?? "",
                  imageID: "",
                  ready,
                  restartCount: p.restarts,
                  state:
                    p.proc === "up"
                      ? { running: {} }
                      : p.proc === "crashed"
                        ? { waiting: { reason: "CrashLoopBackOff" } }
                        : p.proc === "stopped"
                          ? { terminated: { exitCode: 0 } }
                          : { waiting: { reason: "ContainerCreating" } },
                },
              ],
            }
          : {}),
      },
    };
  }

  private snapshot(): Snapshot {
    return {
      pods: [...this.pods.values()].map((p) => this.podObject(p)),
      pvcs: [...this.pvcs.values()],
      services: [...this.services.values()],
      pdbs: [...this.pdbs.values()],
      networkPolicies: [...this.networkPolicies.values()],
    };
  }

  raftView(): RaftView | undefined {
    const leader = this.leader;
    if (leader === undefined) return undefined;
    return {
      leader,
      members: [...this.members].map(([id, m]) => ({
        id,
        voter: m.voter,
        reachable: id === leader || this.reachable(id),
      })),
      canTransfer: this.opts.canTransfer[this.imageOf(leader) ?? ""] ?? false,
    };
  }

  /** What one reconcile sees: the caches (maybe a step behind), rqlite now, node health, the clock. */
  observe(): { observed: Observed; lagged: boolean } {
    const live = this.snapshot();
    const lagged = this.previous !== undefined && this.rng.chance(this.opts.cacheLag);
    const cache = lagged ? this.previous! : live;
    this.previous = live;
    const cutOff = this.caForgotten && this.missingSecrets.has("tls-ca");
    const raft = this.step < this.leaderUnreadableUntil || cutOff ? undefined : this.raftView();
    // Status is written after the plan (if its apply succeeds), so a reconcile sees the members
    // of the one before it; a restarted controller may see an older one for a while.
    const status = this.step < this.staleStatusUntil ? this.staleStatus : this.status;
    this.seenStatus = status;
    const lastImages = status?.images ?? [];
    const secretProblems = [...this.missingSecrets].map((s) => SECRET_PROBLEMS[s]);
    const observed: Observed = {
      cluster: this.view,
      addressing: ADDRESSING,
      operatorNamespace: OPERATOR_NAMESPACE,
      ...cache,
      conflicts: [],
      ...(this.template ? { template: this.template } : {}),
      ...(raft
        ? { raft }
        : {
            rqliteProblem: cutOff
              ? "no CA to verify the nodes' certificates (Secret db-tls has no ca.crt)"
              : this.leader === undefined
                ? "no rqlite node reports a leader"
                : "the leader's /nodes timed out",
          }),
      ...(secretProblems.length > 0 ? { secretProblems } : {}),
      ...(this.step < this.holdUntil ? { holds: [...this.holds] } : {}),
      ...(this.userPdbs.size > 0 ? { otherPdbs: [...this.userPdbs.values()].map((b) => structuredClone(b)) } : {}),
      lastMembers: (status?.members ?? []).map((m) => m.id),
      ...(lastImages.length ? { lastImages } : {}),
      synced: new Set([...this.pods.values()].filter((p) => this.synced(p)).map((p) => p.name)),
      unreachableSince: new Map(
        this.nodes.filter((n) => n.since !== undefined).map((n) => [n.name, n.since!] as [string, number]),
      ),
      nodeFailureTimeoutMs: this.opts.nodeFailureTimeoutMs,
      now: this.now,
    };
    return { observed, lagged };
  }

  // ---------------------------------------------------------------- the operator acting

  /** Applies the plan made from `observed`, then writes the status as reconcile.ts does. */
  apply(plan: Plan, observed: Observed): void {
    const before = this.quorumState();
    // A failed apply stops at the action that failed, as apply.ts does (it throws): the actions
    // before it took effect, the rest did not, and no status is written. The one that failed
    // took effect half of the time: the request landed, its answer was lost (a timeout).
    const failAt = this.rng.chance(this.applyFailure) ? this.rng.int(0, plan.actions.length) : undefined;
    let created = 0;
    for (const [i, a] of plan.actions.entries()) {
      if (i === failAt) {
        const landed = this.rng.chance(0.5);
        if (landed) this.applyAction(a);
        const lost = plan.actions.length - i - (landed ? 1 : 0);
        this.log(
          `apply failed at ${a.type} (${a.reason})${landed ? ", which landed" : ""}: ${lost} action(s) not done`,
        );
        break;
      }
      this.applyAction(a);
      if (a.type === "create") created++;
    }
    // The caches do not show what this reconcile created yet: the status waits for the next one.
    if ((failAt === undefined || failAt >= plan.actions.length) && created === 0) this.writeStatus(plan, observed);
    const after = this.quorumState();
    // With one or two voters a roll cannot keep quorum; from three up it always can.
    if (before.voters >= 3 && before.ok && !after.ok) {
      this.violations.push(
        `W2: the operator's actions broke quorum: ${after.up} of ${after.voters} voters reachable (had ${before.up} of ${before.voters})`,
      );
    }
    this.checkOperatorDown("after the plan was applied");
  }

  private writeStatus(plan: Plan, observed: Observed): void {
    const previous = this.seenStatus;
    const wasAvailable =
      previous?.conditions?.some((x) => x.type === "Available" && x.status === "True") === true ||
      (previous?.phase !== undefined && !["Pending", "Creating"].includes(previous.phase));
    const inputs = {
      observed,
      facts: deriveFacts(observed),
      wasAvailable,
      problems: plan.waits.filter((w) => PROBLEMS.has(w.reason)),
      holds: plan.waits.filter((w) => HOLDS.has(w.reason)),
    };
    const status = this.statusOf(observed.cluster, inputs, previous, new Date(this.now));
    // S2: status keeps being written while a Secret is missing, and SecretsReady names each one.
    const problems = observed.secretProblems ?? [];
    if (problems.length > 0) {
      const secrets = status.conditions?.find((x) => x.type === "SecretsReady");
      const unnamed = problems.filter((x) => secrets?.status !== "False" || !secrets.message?.includes(x.message));
      if (unnamed.length > 0)
        this.violations.push(`S2: SecretsReady does not say ${unnamed.map((x) => x.reason).join(", ")}`);
    }
    this.status = status;
    this.statusHistory.push(status);
    if (this.statusHistory.length > 40) this.statusHistory.shift();
  }

  private checkOperatorDown(when: string): void {
    const down = this.voters().filter((id) => this.operatorDown.has(id) && !this.available(id));
    if (down.length > 1) {
      this.violations.push(`W1: ${down.length} voters unavailable because of the operator ${when}: ${down.join(", ")}`);
    }
    // With 3 or more voters the budget serializes the operator's steps with a drain's evictions.
    const voluntary = this.voters().filter(
      (id) => (this.operatorDown.has(id) || this.drained.has(id)) && !this.available(id),
    );
    if (this.voters().length >= 3 && voluntary.length > 1) {
      this.violations.push(
        `W3: ${voluntary.length} voters down by the operator and a drain together ${when}: ${voluntary.join(", ")}`,
      );
    }
  }

  private applyAction(a: Action): void {
    switch (a.type) {
      case "create":
        return this.create(a.object);
      case "apply":
        return this.serverSideApply(a.object);
      case "patch":
        return this.patch(a.target.kind, a.target.name, a.patch);
      case "delete":
        return this.deleteChild(a.target.kind, a.target.name);
      case "deletePod":
        return this.deletePod(a.name, a.force === true, a.evict === true);
      case "removeFromRaft":
        return this.removeFromRaft(a.leader, a.node);
      case "transferLeadership":
        return this.transfer(a.from, a.to);
    }
  }

  private create(obj: KubernetesObject): void {
    const name = nameOf(obj);
    const store = this.store(obj.kind);
    if (obj.kind === "Pod") {
      if (this.pods.has(name)) return this.log(`create Pod ${name}: AlreadyExists`);
      this.checkVersionMix(obj);
      this.addPod(obj);
      return this.log(`OP created Pod ${name}`);
    }
    if (!store) return this.log(`OP created ${obj.kind} ${name} (not modelled)`);
    if (store.has(name)) return this.log(`create ${obj.kind} ${name}: AlreadyExists`);
    const copy = structuredClone(obj);
    if (obj.kind === "PodDisruptionBudget")
      copy.metadata = { ...copy.metadata, generation: 1, creationTimestamp: new Date(this.now) };
    store.set(name, copy);
    this.log(`OP created ${obj.kind} ${name}`);
  }

  /**
   * W5: a Pod the operator makes runs a version every running Pod can step to, whatever spec.image
   * says (a refused 10.x beside 8.x ones is a mix of majors only a person could mend).
   */
  private checkVersionMix(pod: V1Pod): void {
    const image = pod.spec?.containers[0]?.image;
    const to = parseRqliteVersion(image?.split(":").pop());
    if (!to) return;
    for (const p of this.pods.values()) {
      const from = parseRqliteVersion(p.obj.spec?.containers[0]?.image?.split(":").pop());
      const problem = from && !p.terminating && versionChangeProblem(from, to);
      if (problem) {
        this.violations.push(
          `W5: the operator created Pod ${nameOf(pod)} on ${image} beside Pod ${nameOf(p.obj)} on ${p.obj.spec?.containers[0]?.image}: ${problem}`,
        );
        return;
      }
    }
  }

  /** Server-side apply, as far as the plan uses it: creates what is missing, else sets the fields it names. */
  private serverSideApply(obj: KubernetesObject): void {
    const name = nameOf(obj);
    const exists = obj.kind === "Pod" ? this.pods.has(name) : this.store(obj.kind)?.has(name);
    if (!exists && obj.kind !== "Pod") return this.create(obj);
    const { apiVersion: _a, kind: _k, ...fields } = obj as Json;
    this.patch(obj.kind!, name, fields);
  }

  private store(kind: string | undefined): Map<string, KubernetesObject> | undefined {
    switch (kind) {
      case "PersistentVolumeClaim":
        return this.pvcs;
      case "Service":
        return this.services;
      case "PodDisruptionBudget":
        return this.pdbs;
      case "NetworkPolicy":
        return this.networkPolicies;
      default:
        return undefined;
    }
  }

  private patch(kind: string, name: string, patch: Json): void {
    if (kind === "Pod") {
      const p = this.pods.get(name);
      if (p) p.obj = mergePatch(p.obj, patch) as V1Pod;
    } else {
      const store = this.store(kind);
      const live = store?.get(name);
      if (store && live) {
        const next = mergePatch(live, patch) as KubernetesObject;
        // The API server bumps a budget's generation on a spec change; its status lags until computed.
        if (
          kind === "PodDisruptionBudget" &&
          JSON.stringify((next as V1PodDisruptionBudget).spec) !== JSON.stringify((live as V1PodDisruptionBudget).spec)
        )
          next.metadata = { ...next.metadata, generation: (live.metadata?.generation ?? 1) + 1 };
        store.set(name, next);
      }
    }
    this.log(`OP patched ${kind} ${name}`);
  }

  private deleteChild(kind: string, name: string): void {
    this.log(`OP deleted ${kind} ${name}`);
    if (kind === "Pod") {
      const p = this.pods.get(name);
      if (p) this.terminate(p);
      return;
    }
    const store = this.store(kind);
    const live = store?.get(name);
    if (!store || !live) return;
    // A PVC in use waits for its Pod (kubernetes.io/pvc-protection).
    if (kind === "PersistentVolumeClaim" && this.pods.has(name)) {
      store.set(name, { ...live, metadata: { ...live.metadata, deletionTimestamp: new Date(this.now) } });
    } else store.delete(name);
  }

  private deletePod(name: string, force: boolean, evict: boolean): void {
    const p = this.pods.get(name);
    if (!p) return this.log(`OP deletePod ${name}: NotFound`);
    if (evict && !this.evict(p, "operator")) return;
    // The truth, whatever the operator was told: a node the spec no longer asks for leaves the
    // Raft configuration before its Pod goes (the remaining voters would count it for quorum).
    // One whose rqlited does not run holds no vote that answers: it may be replaced to come back.
    if (!this.desiredNames().has(name) && this.members.has(name) && this.up(p))
      this.violations.push(`W4: the operator deleted Pod ${name}, which is still a Raft member, to scale down`);
    if (this.members.get(name)?.voter && this.available(name)) this.operatorDown.add(name);
    if (force) {
      this.pods.delete(name);
      return this.log(`OP force-deleted Pod ${name}`);
    }
    this.terminate(p);
    this.log(`OP deleted Pod ${name}`);
  }

  private removeFromRaft(leader: string, node: string): void {
    if (leader !== this.leader || !this.reachable(leader))
      return this.log(`OP remove ${node}: ${leader} is not the leader`);
    if (!this.members.delete(node)) return this.log(`OP remove ${node}: not a member`);
    this.log(`OP removed ${node} from the Raft configuration`);
    if (node === leader) this.leader = undefined;
    this.elect();
  }

  private transfer(from: string, to: string): void {
    const ok =
      from === this.leader &&
      this.opts.canTransfer[this.imageOf(from) ?? ""] === true &&
      this.members.get(to)?.voter === true &&
      this.reachable(to);
    if (ok) this.leader = to;
    this.log(`OP transfer leadership ${from} -> ${to}: ${ok ? "done" : "refused"}`);
  }

  // ---------------------------------------------------------------- convergence

  private hashes = new Map<string, string>();

  desiredHash(name: string, bootstrapExpect: number): string {
    const key = `${this.generation}|${bootstrapExpect}|${name}`;
    let hash = this.hashes.get(key);
    if (hash === undefined) {
      const member = parseMemberName(CLUSTER, name)!;
      const pod = renderPod(this.view, { member, bootstrapExpect, template: this.template, addressing: ADDRESSING });
      hash = pod.metadata!.annotations![SPEC_HASH_ANNOTATION]!;
      this.hashes.set(key, hash);
    }
    return hash;
  }

  desiredNames(): Set<string> {
    return new Set(desiredMembers(CLUSTER, this.spec.replicas, this.spec.readReplicas).map((m) => m.name));
  }

  /** Why the world is not converged to the spec, or undefined when it is. */
  notConverged(): string | undefined {
    const desired = desiredMembers(CLUSTER, this.spec.replicas, this.spec.readReplicas);
    const names = desired.map((m) => m.name);
    const extra = [...this.pods.keys()].filter((n) => !names.includes(n));
    if (extra.length > 0) return `extra Pods ${extra.join(",")}`;
    const expect = this.bootstrapExpectOfPods();
    for (const m of desired) {
      const p = this.pods.get(m.name);
      if (!p) return `Pod ${m.name} missing`;
      if (p.terminating) return `Pod ${m.name} terminating`;
      if (!this.ready(p)) return `Pod ${m.name} not Ready`;
      if (!this.synced(p)) return `${m.name} not synced`;
      if (p.obj.metadata?.annotations?.[SPEC_HASH_ANNOTATION] !== this.desiredHash(m.name, expect!))
        return `Pod ${m.name} outdated`;
      if (this.members.get(m.name)?.voter !== (m.role === "voter")) return `${m.name} not a ${m.role} member`;
    }
    const strays = [...this.members.keys()].filter((id) => !names.includes(id));
    if (strays.length > 0) return `Raft members not desired: ${strays.join(",")}`;
    if (this.leader === undefined) return "no leader";
    return undefined;
  }

  describe(): string {
    const lines = [
      `world #${this.step} now=${this.now} spec: replicas=${this.spec.replicas} readReplicas=${this.spec.readReplicas} image=${this.spec.image} rev=${this.spec.rev}${this.spec.hostile ? " hostile" : ""}`,
      `  leader=${this.leader ?? "none"} members=${[...this.members].map(([id, m]) => `${id}${m.voter ? "" : "(nv)"}${this.reachable(id) ? "" : "!"}`).join(" ")}`,
      `  nodes: ${this.nodes
        .filter((n) => n.state !== "ok")
        .map((n) => `${n.name} ${n.state} since ${n.since}`)
        .join("; ")}`,
      ...[...this.pods.values()].map(
        (p) =>
          `  pod ${p.name} proc=${p.proc} node=${p.node ?? "-"}${p.terminating ? " terminating" : ""} ready=${this.ready(p)} synced=${this.synced(p)}${this.operatorDown.has(p.name) ? " operator-down" : ""}`,
      ),
    ];
    return lines.join("\n");
  }
}

export function deepFreeze<T>(value: T): T {
  if (value === null || typeof value !== "object" || Object.isFrozen(value)) return value;
  if (value instanceof Map || value instanceof Set || value instanceof Date) return value;
  Object.freeze(value);
  for (const v of Object.values(value as object)) deepFreeze(v);
  return value;
}
