// What the bench sees of the cluster while the controller works: watches on the RqClusters and
// their children in the bench namespace, per-cluster completeness, and the kubelet's part (no
// kubelet runs on the test control plane): every new Pod is marked Ready through the status
// subresource, a bounded number at a time.
import { performance } from "node:perf_hooks";
import { LABEL_CLUSTER } from "../shared/names.js";
import { Limiter, type BenchApi, type Meta, type WatchEvent } from "./controller-api.js";

/** The children one 3-voter cluster must have: the collection path suffix and how many. */
/** What the operator makes of a 3-voter cluster with the defaults: headless, client and read Services. */
const CHILDREN = {
  pods: 3,
  persistentvolumeclaims: 3,
  services: 3,
  poddisruptionbudgets: 1,
  networkpolicies: 1,
} as const;
type ChildKind = keyof typeof CHILDREN;
const GROUP_PATH: Record<ChildKind, string> = {
  pods: "/api/v1",
  persistentvolumeclaims: "/api/v1",
  services: "/api/v1",
  poddisruptionbudgets: "/apis/policy/v1",
  networkpolicies: "/apis/networking.k8s.io/v1",
};

/** Children are watched as metadata only: their labels say whose they are. */
interface Child {
  metadata: Meta;
}

interface Cluster {
  metadata: Meta;
  status?: { phase?: string; readyReplicas?: number };
}

interface ClusterState {
  children: Record<ChildKind, Set<string>>;
  complete: boolean;
  running: boolean;
}

/** Milliseconds from the start of creation, once reached. */
export interface Milestones {
  /** Every cluster has all its children. */
  childrenMs?: number;
  /** Every cluster's status says Running with 3 ready voters. */
  runningMs?: number;
  /** Both at once: the convergence the bench reports. */
  convergedMs?: number;
}

export interface Progress {
  clusters: number;
  children: Record<ChildKind, number>;
  markedReady: number;
  complete: number;
  running: number;
}

export class Observer {
  readonly milestones: Milestones = {};
  private readonly clusters = new Map<string, ClusterState>();
  private readonly totals: Record<ChildKind, number> = {
    pods: 0,
    persistentvolumeclaims: 0,
    services: 0,
    poddisruptionbudgets: 0,
    networkpolicies: 0,
  };
  private readonly kubelet: Limiter;
  private readonly marked = new Set<string>();
  private complete = 0;
  private running = 0;
  private t0 = 0;
  private onConverged?: () => void;
  /** Failures of the kubelet's status patches; the run is invalid when any happen. */
  readonly errors: string[] = [];

  constructor(
    private readonly api: BenchApi,
    private readonly namespace: string,
    private readonly expected: number,
    kubeletParallelism: number,
  ) {
    this.kubelet = new Limiter(kubeletParallelism);
  }

  /** Opens every watch; resolves once they are all in place. */
  async start(): Promise<void> {
    const ns = `/namespaces/${this.namespace}`;
    await this.api.watch<Cluster>(`/apis/rqlite.io/v1alpha1${ns}/rqclusters`, (e) => this.onCluster(e));
    for (const kind of Object.keys(CHILDREN) as ChildKind[]) {
      await this.api.watch<Child>(`${GROUP_PATH[kind]}${ns}/${kind}`, (e) => this.onChild(kind, e), true);
    }
  }

  /** Call right before the first create: milestones count from here. */
  markStart(): void {
    this.t0 = performance.now();
  }

  /** Resolves when every cluster is complete and Running, or rejects after timeoutMs. */
  converged(timeoutMs: number): Promise<void> {
    if (this.milestones.convergedMs !== undefined) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`not converged within ${timeoutMs / 1000} s: ${JSON.stringify(this.progress())}`)),
        timeoutMs,
      );
      this.onConverged = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  progress(): Progress {
    return {
      clusters: this.clusters.size,
      children: { ...this.totals },
      markedReady: this.marked.size,
      complete: this.complete,
      running: this.running,
    };
  }

  private state(name: string): ClusterState {
    let s = this.clusters.get(name);
    if (!s) {
      s = {
        children: {
          pods: new Set(),
          persistentvolumeclaims: new Set(),
          services: new Set(),
          poddisruptionbudgets: new Set(),
          networkpolicies: new Set(),
        },
        complete: false,
        running: false,
      };
      this.clusters.set(name, s);
    }
    return s;
  }

  private onCluster(e: WatchEvent<Cluster>): void {
    if (e.type === "BOOKMARK" || e.type === "DELETED") return;
    const s = this.state(e.object.metadata.name);
    const running = e.object.status?.phase === "Running" && e.object.status.readyReplicas === CHILDREN.pods;
    this.running += Number(running) - Number(s.running);
    s.running = running;
    this.check();
  }

  private onChild(kind: ChildKind, e: WatchEvent<Child>): void {
    const cluster = e.object.metadata.labels?.[LABEL_CLUSTER];
    if (!cluster || e.type === "BOOKMARK") return;
    const s = this.state(cluster);
    const set = s.children[kind];
    const before = set.size;
    if (e.type === "DELETED") set.delete(e.object.metadata.name);
    else set.add(e.object.metadata.name);
    this.totals[kind] += set.size - before;
    const complete = (Object.keys(CHILDREN) as ChildKind[]).every((k) => s.children[k].size === CHILDREN[k]);
    this.complete += Number(complete) - Number(s.complete);
    s.complete = complete;
    if (kind === "pods" && e.type !== "DELETED") this.playKubelet(e.object);
    this.check();
  }

  /** Marks a new Pod Ready, as a kubelet would once its containers pass their readiness probe. */
  private playKubelet(pod: Child): void {
    const uid = pod.metadata.uid!;
    if (pod.metadata.deletionTimestamp || this.marked.has(uid)) return;
    this.marked.add(uid);
    // No podIP: no rqlited runs here, and an address would only make the controller dial nothing.
    const body = { status: { phase: "Running", conditions: [{ type: "Ready", status: "True" }] } };
    const path = `/api/v1/namespaces/${this.namespace}/pods/${pod.metadata.name}/status`;
    void this.kubelet
      .run(() => this.api.request("PATCH", path, body, "application/merge-patch+json"))
      .catch((err: Error) => this.errors.push(err.message));
  }

  private check(): void {
    const now = Math.round(performance.now() - this.t0);
    const all = this.clusters.size === this.expected;
    const m = this.milestones;
    if (all && this.complete === this.expected) m.childrenMs ??= now;
    if (all && this.running === this.expected) m.runningMs ??= now;
    if (all && this.complete === this.expected && this.running === this.expected && m.convergedMs === undefined) {
      m.convergedMs = now;
      this.onConverged?.();
    }
  }
}
