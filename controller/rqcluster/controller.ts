// The RqCluster controller: informers for clusters and their children feed one work queue of
// cluster keys; each key is reconciled by reconcileCluster with what the caches hold.
import { performance } from "node:perf_hooks";
import type {
  KubernetesObject,
  V1Node,
  V1PersistentVolumeClaim,
  V1Pod,
  V1PodDisruptionBudget,
  V1Service,
} from "@kubernetes/client-node";
import type { Registry } from "prom-client";
import type { RqCluster } from "../../shared/index.js";
import {
  API_VERSION,
  GROUP,
  KIND,
  LABEL_CLUSTER,
  LABEL_MANAGED_BY,
  MANAGER_NAME,
  PLURAL,
  VERSION,
} from "../../shared/names.js";
import { Informer, objectKey } from "../runtime/informer.js";
import { makeEventRecorder, type EventRecorder } from "../runtime/events.js";
import { makeWriter } from "../runtime/writer.js";
import type { KubeClient } from "../runtime/kubeClient.js";
import { componentLogger, type Logger } from "../runtime/log.js";
import { counter, gauge, histogram } from "../runtime/metrics.js";
import { reconcileCluster } from "./reconcile.js";
import type { Children } from "./ports.js";
import type { Writer } from "../runtime/writer.js";
import { makeRqliteOps, type RqliteOps } from "../rqlite/adapter.js";
import type { Addressing } from "./render/pod.js";
import { sleep } from "../runtime/sleep.js";
import { WorkQueue, type HandlerResult } from "../runtime/workqueue.js";

export interface ClusterControllerOptions {
  client: KubeClient;
  registry: Registry;
  /** Namespaces to watch; undefined watches all. */
  namespaces?: string[];
  workers: number;
  addressing: Addressing;
  /** Names this replica in Events. */
  identity: string;
  /** Every cluster is reconciled again this often even without events (0: never). */
  resyncMs: number;
  /** A Pod on a Kubernetes node unreachable this long has its rqlite node replaced. */
  nodeFailureTimeoutMs: number;
  logger?: Logger;
}

const CONTROLLER = "rqcluster";

export class ClusterController {
  private readonly log: Logger;
  private readonly clusters: Informer<RqCluster & KubernetesObject>;
  private readonly pods: Informer<V1Pod>;
  private readonly pvcs: Informer<V1PersistentVolumeClaim>;
  private readonly services: Informer<V1Service>;
  private readonly pdbs: Informer<V1PodDisruptionBudget>;
  private readonly nodes: Informer<V1Node>;
  private readonly queue: WorkQueue;
  private readonly metrics;
  private readonly recorder: EventRecorder;
  private readonly writer: Writer;
  private readonly rqlite: RqliteOps;

  constructor(private readonly opts: ClusterControllerOptions) {
    this.log = opts.logger ?? componentLogger("controller", { controller: CONTROLLER });
    const { client, namespaces } = opts;
    // Children are found by the managed-by label, so the caches hold only the operator's objects;
    // they are indexed by their cluster's key, so a reconcile finds them without a scan.
    const owned = { client, namespaces, labelSelector: `${LABEL_MANAGED_BY}=${MANAGER_NAME}`, indexKey: clusterKeyOf };
    this.clusters = new Informer({ client, namespaces, apiPath: `/apis/${GROUP}/${VERSION}`, resource: PLURAL });
    this.pods = new Informer({ ...owned, apiPath: "/api/v1", resource: "pods" });
    this.pvcs = new Informer({ ...owned, apiPath: "/api/v1", resource: "persistentvolumeclaims" });
    this.services = new Informer({ ...owned, apiPath: "/api/v1", resource: "services" });
    this.pdbs = new Informer({ ...owned, apiPath: "/apis/policy/v1", resource: "poddisruptionbudgets" });
    // Nodes are cluster-scoped: watched everywhere, to notice the ones that become unreachable.
    this.nodes = new Informer({ client, apiPath: "/api/v1", resource: "nodes" });
    this.queue = new WorkQueue({ name: CONTROLLER, registry: opts.registry });
    const r = opts.registry;
    this.metrics = {
      total: counter(r, "controller_runtime_reconcile_total", "Total number of reconciliations per controller", [
        "controller",
        "result",
      ]),
      errors: counter(
        r,
        "controller_runtime_reconcile_errors_total",
        "Total number of reconciliation errors per controller",
        ["controller"],
      ),
      time: histogram(
        r,
        "controller_runtime_reconcile_time_seconds",
        "Length of time per reconciliation per controller",
        ["controller"],
        [
          0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6, 0.7, 0.8, 0.9, 1, 1.25, 1.5,
          1.75, 2, 2.5, 3, 3.5, 4, 4.5, 5, 6, 7, 8, 9, 10, 15, 20, 25, 30, 40, 50, 60,
        ],
      ),
      clusters: gauge(r, "rqlite_operator_clusters", "RqClusters known to the controller", []),
      desired: gauge(r, "rqlite_operator_desired_nodes", "Nodes (voters and read replicas) a cluster's spec asks for", [
        "namespace",
        "cluster",
      ]),
      ready: gauge(r, "rqlite_operator_ready_nodes", "Nodes of a cluster whose Pod is Ready", ["namespace", "cluster"]),
      leaderChanges: counter(
        r,
        "rqlite_operator_leader_changes_total",
        "Times a cluster's rqlite leader was seen to change",
        ["namespace", "cluster"],
      ),
      hasLeader: gauge(
        r,
        "rqlite_operator_cluster_has_leader",
        "1 when rqlite reports a leader for the cluster, else 0",
        ["namespace", "cluster"],
      ),
    };
    this.recorder = makeEventRecorder(
      client,
      { component: MANAGER_NAME, instance: opts.identity, involvedApiVersion: API_VERSION, involvedKind: KIND },
      (err) => this.log.warn({ err: (err as Error).message }, "could not record an Event"),
    );
    this.writer = makeWriter(client, MANAGER_NAME);
    this.rqlite = makeRqliteOps(opts.addressing);
    this.wireEvents();
  }

  private wireEvents(): void {
    const enqueueCluster = (obj: KubernetesObject) => this.queue.add(objectKey(obj));
    this.clusters.on("add", enqueueCluster);
    this.clusters.on("update", (obj, old) => {
      enqueueCluster(obj);
      this.countLeaderChange(obj, old);
    });
    this.clusters.on("delete", (obj) => {
      this.metrics.desired.remove({ namespace: obj.metadata!.namespace!, cluster: obj.metadata!.name! });
      this.metrics.ready.remove({ namespace: obj.metadata!.namespace!, cluster: obj.metadata!.name! });
      this.metrics.hasLeader.remove({ namespace: obj.metadata!.namespace!, cluster: obj.metadata!.name! });
      this.metrics.clusters.set(this.clusters.list().length);
    });
    // A child's event wakes its cluster, found by the label every child carries.
    const enqueueOwner = (obj: KubernetesObject) => {
      const key = clusterKeyOf(obj);
      if (key) this.queue.add(key);
    };
    for (const inf of [this.pods, this.pvcs, this.services, this.pdbs] as Informer<KubernetesObject>[]) {
      inf.on("add", enqueueOwner);
      inf.on("update", (obj, old) => {
        enqueueOwner(obj);
        if (old.metadata?.labels?.[LABEL_CLUSTER] !== obj.metadata?.labels?.[LABEL_CLUSTER]) enqueueOwner(old);
      });
      inf.on("delete", enqueueOwner);
    }
    // A node's health decides about the clusters with Pods on it.
    this.nodes.on("update", (node) => {
      for (const pod of this.pods.list()) if (pod.spec?.nodeName === node.metadata?.name) enqueueOwner(pod);
    });
  }

  private countLeaderChange(obj: RqCluster, old: RqCluster): void {
    const [now, before] = [obj.status?.leader, old.status?.leader];
    if (now && before && now !== before) {
      this.metrics.leaderChanges.inc({ namespace: obj.metadata!.namespace!, cluster: obj.metadata!.name! });
    }
  }

  private children(key: string): Children {
    return {
      pods: this.pods.byIndex(key),
      pvcs: this.pvcs.byIndex(key),
      services: this.services.byIndex(key),
      pdbs: this.pdbs.byIndex(key),
    };
  }

  /** Reconciles one cluster key; throws to make the queue retry it with backoff. */
  async reconcile(key: string): Promise<HandlerResult | undefined> {
    const cluster = this.clusters.getByKey(key);
    if (!cluster) return undefined;
    const { namespace, name, uid } = cluster.metadata as { namespace: string; name: string; uid: string };
    const log = this.log.child({ rqcluster: key });
    const started = performance.now();
    const events = this.recorder({ namespace, name, uid });
    try {
      const { actions, requeueAfterMs } = await reconcileCluster(
        {
          writer: this.writer,
          events,
          addressing: this.opts.addressing,
          rqlite: this.rqlite,
          unreachableSince: (nodeName) => unreachableSince(this.nodes.get("", nodeName)),
          nodeFailureTimeoutMs: this.opts.nodeFailureTimeoutMs,
        },
        cluster,
        this.children(key),
      );
      this.metrics.total.inc({
        controller: CONTROLLER,
        result: requeueAfterMs === undefined ? "success" : "requeue_after",
      });
      if (actions.length) log.info({ actions }, "reconciled");
      else log.debug("already converged");
      this.updateGauges(cluster);
      return requeueAfterMs === undefined ? undefined : { requeueAfterMs };
    } catch (err) {
      this.metrics.total.inc({ controller: CONTROLLER, result: "error" });
      this.metrics.errors.inc({ controller: CONTROLLER });
      throw err;
    } finally {
      // Also after a failure: what the step did before it failed happened.
      events.flush();
      this.metrics.time.observe({ controller: CONTROLLER }, (performance.now() - started) / 1000);
    }
  }

  private updateGauges(cluster: RqCluster): void {
    const labels = { namespace: cluster.metadata!.namespace!, cluster: cluster.metadata!.name! };
    this.metrics.clusters.set(this.clusters.list().length);
    const spec = cluster.spec ?? {};
    this.metrics.desired.set(labels, (spec.replicas ?? 3) + (spec.readReplicas ?? 0));
    const status = cluster.status;
    this.metrics.ready.set(labels, (status?.readyReplicas ?? 0) + (status?.readReplicasReady ?? 0));
    this.metrics.hasLeader.set(labels, status?.leader ? 1 : 0);
  }

  /** Runs until `signal` aborts: caches first, then the workers, then a periodic resync. */
  async run(signal: AbortSignal): Promise<void> {
    const informers = [
      this.clusters,
      this.pods,
      this.pvcs,
      this.services,
      this.pdbs,
      this.nodes,
    ] as Informer<KubernetesObject>[];
    informers.forEach((inf) => inf.start());
    try {
      await Promise.all(informers.map((inf) => inf.waitForSync()));
      this.log.info(
        { workers: this.opts.workers, namespaces: this.opts.namespaces ?? "all" },
        `caches synced; starting workers for ${KIND}`,
      );
      this.queue.run((key) => this.reconcile(key), this.opts.workers);
      while (!signal.aborted) {
        await sleep(this.opts.resyncMs > 0 ? this.opts.resyncMs : 2 ** 31 - 1, signal);
        if (!signal.aborted) this.clusters.list().forEach((c) => this.queue.add(objectKey(c)));
      }
    } finally {
      await this.queue.shutdown();
      await Promise.all(informers.map((inf) => inf.stop()));
    }
  }

  /** True once every cache has listed; the readiness probe of a leading replica. */
  hasSynced(): boolean {
    return [this.clusters, this.pods, this.pvcs, this.services, this.pdbs, this.nodes].every((inf) => inf.hasSynced());
  }
}

/** The key of the cluster a child belongs to, from the label every child carries. */
function clusterKeyOf(obj: KubernetesObject): string | undefined {
  const cluster = obj.metadata?.labels?.[LABEL_CLUSTER];
  return cluster ? `${obj.metadata!.namespace}/${cluster}` : undefined;
}

/** When the node controller marked the node unreachable (Ready Unknown), or undefined if it is not. */
function unreachableSince(node: V1Node | undefined): number | undefined {
  const ready = node?.status?.conditions?.find((c) => c.type === "Ready");
  if (!ready || ready.status !== "Unknown") return undefined;
  return ready.lastTransitionTime ? new Date(ready.lastTransitionTime).getTime() : undefined;
}
