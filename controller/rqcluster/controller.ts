// The RqCluster controller: informers for clusters and their children feed one work queue of
// cluster keys; each key is reconciled by reconcileCluster with what the caches hold.
import { performance } from "node:perf_hooks";
import type {
  KubernetesObject,
  V1Node,
  V1PersistentVolumeClaim,
  V1Pod,
  V1NetworkPolicy,
  V1PodDisruptionBudget,
  V1Service,
} from "@kubernetes/client-node";
import type { Registry } from "prom-client";
import { BACKUP_PLURAL, type RqBackup, type RqCluster } from "../../shared/index.js";
import { API_VERSION, KIND, LABEL_CLUSTER, LABEL_MANAGED_BY, MANAGER_NAME, PLURAL } from "../../shared/names.js";
import { Informer, objectKey, waitForCaches } from "../runtime/informer.js";
import { makeEventRecorder, type EventRecorder } from "../runtime/events.js";
import { makeWriter } from "../runtime/writer.js";
import type { KubeClient } from "../runtime/kubeClient.js";
import { componentLogger, type Logger } from "../runtime/log.js";
import { counter, gauge } from "../runtime/metrics.js";
import { measureReconcile, reconcileMetrics } from "../runtime/reconcileMetrics.js";
import { reconcileCluster, type ReconcileResult } from "./reconcile.js";
import type { ListBackups, ReadBackup } from "./restore.js";
import { NodeScraper } from "./scraper.js";
import type { Children } from "./ports.js";
import type { Writer } from "../runtime/writer.js";
import { conflictsOf } from "./observe.js";
import { GrowthRefusals } from "./growthRefusals.js";
import { disruptionControllerRuns } from "./plan/eviction.js";
import { desiredMembers } from "./render/members.js";
import type { ClusterView } from "./render/cluster.js";
import type { Addressing } from "./render/pod.js";
import { LABEL_RECOVERY_OF } from "./render/recovery.js";
import type { S3Gate } from "./s3.js";
import { sleep } from "../runtime/sleep.js";
import { WorkQueue, type HandlerResult } from "../runtime/workqueue.js";

export interface ClusterControllerOptions {
  client: KubeClient;
  registry: Registry;
  /** Namespaces to watch; undefined watches all. */
  namespaces?: string[];
  workers: number;
  addressing: Addressing;
  /** Where S3 requests may go and with whose credentials. */
  s3: S3Gate;
  /** Where the operator runs: the clusters' NetworkPolicies admit its calls from there. */
  operatorNamespace: string;
  /** Names this replica in Events. */
  identity: string;
  /** Every cluster is reconciled again this often even without events (0: never). */
  resyncMs: number;
  /**
   * A Pod on a Kubernetes node unreachable this long has its rqlite node replaced. 0: never, and
   * Nodes are not watched at all (a namespaced install may not read them).
   */
  nodeFailureTimeoutMs: number;
  /** run() fails when the caches have not all listed within this long (controller-runtime's CacheSyncTimeout). */
  cacheSyncTimeoutMs: number;
  /**
   * run() fails, and cacheProblem() says why, once a synced cache has been unable to list or
   * watch for this long: reconciling from a cache that no longer follows the cluster would act
   * on a stale view indefinitely.
   */
  cacheFailureTimeoutMs: number;
  /** Each cluster's nodes are read for the rqlite_node_* metrics at most this often (0: never). Default 30 s. */
  scrapeIntervalMs?: number;
  logger?: Logger;
}

const CONTROLLER = "rqcluster";
/** A PVC growth the API server refused is tried again after this long (a StorageClass may change). */
const RETRY_REFUSED_GROWTH_MS = 10 * 60_000;
/** How long a reconcile waits for the caches to show a Pod it just created or deleted. */
const CACHE_CATCH_UP_MS = 10_000;
/** As often as Prometheus commonly scrapes the operator: fresher readings would not be seen. */
export const DEFAULT_SCRAPE_INTERVAL_MS = 30_000;
/** Requests to rqlite in flight at once for the node metrics, over every cluster. */
const SCRAPE_CONCURRENCY = 16;

export class ClusterController {
  private readonly log: Logger;
  private readonly clusters: Informer<RqCluster & KubernetesObject>;
  private readonly pods: Informer<V1Pod>;
  private readonly pvcs: Informer<V1PersistentVolumeClaim>;
  private readonly services: Informer<V1Service>;
  private readonly pdbs: Informer<V1PodDisruptionBudget>;
  private readonly networkPolicies: Informer<V1NetworkPolicy>;
  private readonly nodes: Informer<V1Node> | undefined;
  /** RqBackups, for spec.restore.backup and the newest Completed one in status.backup. */
  private readonly backups: Informer<RqBackup & KubernetesObject>;
  private readonly queue: WorkQueue;
  private readonly metrics;
  private readonly recorder: EventRecorder;
  private readonly writer: Writer;
  private readonly readBackup: ReadBackup;
  private readonly listBackups: ListBackups;
  private readonly scraper: NodeScraper | undefined;

  constructor(private readonly opts: ClusterControllerOptions) {
    this.log = opts.logger ?? componentLogger("controller", { controller: CONTROLLER });
    const { client, namespaces } = opts;
    // Children are found by the managed-by label, so the caches hold only the operator's objects;
    // they are indexed by their cluster's key, so a reconcile finds them without a scan.
    const owned = { client, namespaces, labelSelector: `${LABEL_MANAGED_BY}=${MANAGER_NAME}`, indexKey: clusterKeyOf };
    this.clusters = new Informer({ client, namespaces, apiVersion: API_VERSION, resource: PLURAL });
    this.pods = new Informer({ ...owned, apiVersion: "v1", resource: "pods" });
    this.pvcs = new Informer({ ...owned, apiVersion: "v1", resource: "persistentvolumeclaims" });
    this.services = new Informer({ ...owned, apiVersion: "v1", resource: "services" });
    // Every budget, not only the operator's: a user's over the same Pods refuses every eviction
    // (plan/eviction.ts), and budgets' status tells whether a disruption controller runs.
    this.pdbs = new Informer({
      client,
      namespaces,
      apiVersion: "policy/v1",
      resource: "poddisruptionbudgets",
      indexKey: (obj) => (obj.metadata?.labels?.[LABEL_MANAGED_BY] === MANAGER_NAME ? clusterKeyOf(obj) : undefined),
    });
    this.networkPolicies = new Informer({
      ...owned,
      apiVersion: "networking.k8s.io/v1",
      resource: "networkpolicies",
    });
    // Indexed by the cluster they back up: a backup that completes wakes its cluster at once.
    this.backups = new Informer<RqBackup & KubernetesObject>({
      client,
      namespaces,
      apiVersion: API_VERSION,
      resource: BACKUP_PLURAL,
      indexKey: backupClusterKey,
    });
    // Nodes are cluster-scoped: watched everywhere, to notice the ones that become unreachable.
    this.nodes =
      opts.nodeFailureTimeoutMs > 0 ? new Informer({ client, apiVersion: "v1", resource: "nodes" }) : undefined;
    this.queue = new WorkQueue({ name: CONTROLLER, registry: opts.registry });
    const r = opts.registry;
    this.metrics = {
      ...reconcileMetrics(r),
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
    this.readBackup = (namespace, name) => Promise.resolve(this.backups.get(namespace, name));
    this.listBackups = (namespace) => Promise.resolve(this.backups.list(namespace));
    const scrapeIntervalMs = opts.scrapeIntervalMs ?? DEFAULT_SCRAPE_INTERVAL_MS;
    this.scraper =
      scrapeIntervalMs > 0
        ? new NodeScraper({ registry: r, intervalMs: scrapeIntervalMs, concurrency: SCRAPE_CONCURRENCY })
        : undefined;
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
      this.scraper?.forget(obj.metadata!.namespace!, obj.metadata!.name!);
      this.metrics.clusters.set(this.clusters.list().length);
    });
    // A child's event wakes its cluster, found by the label every child carries.
    const enqueueOwner = (obj: KubernetesObject) => {
      const key = clusterKeyOf(obj);
      if (key) this.queue.add(key);
    };
    // A budget of someone else's may select any cluster of its namespace: wake them all.
    const enqueueBudget = (obj: KubernetesObject) => {
      if (obj.metadata?.labels?.[LABEL_MANAGED_BY] === MANAGER_NAME) return enqueueOwner(obj);
      for (const c of this.clusters.list(obj.metadata?.namespace)) enqueueCluster(c);
    };
    this.pdbs.on("add", enqueueBudget);
    this.pdbs.on("update", (obj, old) => {
      enqueueBudget(obj);
      if (old.metadata?.labels?.[LABEL_CLUSTER] !== obj.metadata?.labels?.[LABEL_CLUSTER]) enqueueBudget(old);
    });
    this.pdbs.on("delete", enqueueBudget);
    for (const inf of [this.pods, this.pvcs, this.services, this.networkPolicies] as Informer<KubernetesObject>[]) {
      inf.on("add", enqueueOwner);
      inf.on("update", (obj, old) => {
        enqueueOwner(obj);
        if (old.metadata?.labels?.[LABEL_CLUSTER] !== obj.metadata?.labels?.[LABEL_CLUSTER]) enqueueOwner(old);
      });
      inf.on("delete", enqueueOwner);
    }
    const enqueueBackedUp = (obj: RqBackup) => {
      const key = backupClusterKey(obj);
      if (key) this.queue.add(key);
    };
    this.backups.on("add", enqueueBackedUp);
    this.backups.on("update", enqueueBackedUp);
    this.backups.on("delete", enqueueBackedUp);
    // A node's health decides about the clusters with Pods on it.
    this.nodes?.on("update", (node) => {
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
      networkPolicies: this.networkPolicies.byIndex(key),
    };
  }

  /** Reconciles one cluster key; throws to make the queue retry it with backoff. */
  async reconcile(key: string): Promise<HandlerResult | undefined> {
    const cluster = this.clusters.getByKey(key);
    if (!cluster) return undefined;
    const { namespace, name, uid } = cluster.metadata as { namespace: string; name: string; uid: string };
    const log = this.log.child({ rqcluster: key });
    const events = this.recorder({ namespace, name, uid });
    return measureReconcile(this.metrics, CONTROLLER, async () => {
      try {
        const { actions, requeueAfterMs, leader, running } = await reconcileCluster(
          {
            writer: this.writer,
            s3: this.opts.s3,
            events,
            addressing: this.opts.addressing,
            operatorNamespace: this.opts.operatorNamespace,
            unreachableSince: this.unreachableNodes(),
            nodeFailureTimeoutMs: this.opts.nodeFailureTimeoutMs,
            conflicts: (c) => this.conflicts(c),
            otherPdbs: () => {
              const own = new Set(this.pdbs.byIndex(key));
              return this.pdbs.list(namespace).filter((b) => !own.has(b));
            },
            disruptionControllerRuns: () => this.disruptionControllerRuns(),
            awaitPodCache: (pod, seen) => this.awaitPodCache(namespace, pod, seen),
            refusedGrowth: (ns) => this.refusals.current(ns),
            recordRefusal: (ns, pvc, size, message) => this.refusals.record(ns, pvc, size, message),
            now: () => new Date(),
            readBackup: this.readBackup,
            listBackups: this.listBackups,
            knownCas: this.knownCas,
          },
          cluster,
          this.children(key),
        );
        if (actions.length) log.info({ actions }, "reconciled");
        else log.debug("already converged");
        this.updateGauges(cluster, leader);
        this.trackNodes(namespace, name, cluster.metadata?.deletionTimestamp ? undefined : running);
        return requeueAfterMs === undefined ? undefined : { requeueAfterMs };
      } finally {
        // Also after a failure: what the step did before it failed happened.
        events.flush();
      }
    });
  }

  private readonly refusals = new GrowthRefusals(RETRY_REFUSED_GROWTH_MS);
  /** ca.crt per tls.http Secret as last read, so a Secret deleted mid-life degrades, not blinds. */
  private readonly knownCas = new Map<string, string>();

  /** A computed budget was seen once: a disruption controller runs, even if that budget is gone. */
  private disruptionControllerSeen = false;

  private disruptionControllerRuns(): boolean | undefined {
    const runs = disruptionControllerRuns(this.pdbs.list(), Date.now(), this.disruptionControllerSeen);
    if (runs) this.disruptionControllerSeen = true;
    return runs;
  }

  /**
   * Hands the nodes that run to the scraper. A cluster with none (not started, every Pod gone,
   * being deleted) is not kept, so the scraper holds no observation of it and exports nothing stale.
   */
  private trackNodes(namespace: string, name: string, running: ReconcileResult["running"]): void {
    if (running && running.nodes.length > 0) this.scraper?.track({ namespace, cluster: name, ...running });
    else this.scraper?.forget(namespace, name);
  }

  /** Kubernetes nodes that are unreachable now, and since when. */
  private unreachableNodes(): Map<string, number> {
    const out = new Map<string, number>();
    for (const node of this.nodes?.list() ?? []) {
      const since = unreachableSince(node);
      if (since !== undefined) out.set(node.metadata!.name!, since);
    }
    return out;
  }

  /** The cluster's would-be children that another owner already has (e.g. clusters x and x-ro). */
  private conflicts(c: ClusterView): string[] {
    const nodes = desiredMembers(c.name, c.spec.replicas, c.spec.readReplicas).map((m) => m.name);
    const names = [...nodes, c.headlessService, c.clientService, c.pdbName];
    const caches = [this.pods, this.pvcs, this.services, this.pdbs] as Informer<KubernetesObject>[];
    return conflictsOf(c.uid, names, (name) => caches.flatMap((inf) => inf.get(c.namespace, name) ?? []));
  }

  /**
   * Waits until the Pod cache shows the controller's own write, so that the next reconcile does
   * not plan from a view older than it (a deleted Pod still cached as Ready).
   */
  private async awaitPodCache(
    namespace: string,
    name: string,
    seen: (pod: KubernetesObject | undefined) => boolean,
  ): Promise<void> {
    const deadline = performance.now() + CACHE_CATCH_UP_MS;
    while (!seen(this.pods.get(namespace, name))) {
      if (performance.now() > deadline) {
        throw new Error(
          `Pod ${namespace}/${name}: the cache did not show the controller's own write within ${CACHE_CATCH_UP_MS} ms; retrying`,
        );
      }
      await sleep(25);
    }
  }

  private updateGauges(cluster: RqCluster, leader: string | undefined): void {
    const labels = { namespace: cluster.metadata!.namespace!, cluster: cluster.metadata!.name! };
    this.metrics.clusters.set(this.clusters.list().length);
    const spec = cluster.spec ?? {};
    // A hibernated cluster asks for no running node and has no leader by request: its has_leader
    // series goes, so that neither the no-leader nor the degraded alert fires for it.
    const hibernate = spec.hibernate === true;
    this.metrics.desired.set(labels, hibernate ? 0 : (spec.replicas ?? 3) + (spec.readReplicas ?? 0));
    const status = cluster.status;
    this.metrics.ready.set(labels, (status?.readyReplicas ?? 0) + (status?.readReplicasReady ?? 0));
    if (hibernate && !leader) this.metrics.hasLeader.remove(labels);
    else this.metrics.hasLeader.set(labels, leader ? 1 : 0);
  }

  /**
   * Runs until `signal` aborts: caches first, then the workers, then a periodic resync. Rejects
   * when the caches do not sync within cacheSyncTimeoutMs, or when one stops following the
   * cluster for cacheFailureTimeoutMs: the leader then hands over instead of reconciling blind.
   */
  async run(signal: AbortSignal): Promise<void> {
    const informers = this.informers();
    informers.forEach((inf) => inf.start());
    // The scraper stops with the workers, also when run() fails rather than being aborted. It is
    // not awaited: a read in flight (at most 3 s) must not hold up handing over the Lease.
    const stopScraping = new AbortController();
    try {
      if (!(await waitForCaches(informers, this.opts.cacheSyncTimeoutMs, signal))) return;
      this.log.info(
        { workers: this.opts.workers, namespaces: this.opts.namespaces ?? "all" },
        `caches synced; starting workers for ${KIND}`,
      );
      this.queue.run((key) => this.reconcile(key), this.opts.workers);
      void this.scraper?.run(AbortSignal.any([signal, stopScraping.signal]));
      const resyncMs = this.opts.resyncMs > 0 ? this.opts.resyncMs : Infinity;
      // Often enough that a failing cache is noticed within a second of its timeout.
      const checkMs = Math.min(1000, this.opts.cacheFailureTimeoutMs);
      let nextResync = performance.now() + resyncMs;
      while (!signal.aborted) {
        await sleep(Math.max(0, Math.min(checkMs, nextResync - performance.now())), signal);
        if (signal.aborted) break;
        const problem = this.cacheProblem();
        if (problem) throw new Error(`${problem}; stopping so that a fresh process takes over`);
        if (performance.now() >= nextResync) {
          this.clusters.list().forEach((c) => this.queue.add(objectKey(c)));
          nextResync = performance.now() + resyncMs;
        }
      }
    } finally {
      stopScraping.abort();
      await this.queue.shutdown();
      await Promise.all(informers.map((inf) => inf.stop()));
    }
  }

  /** True once every cache has listed; the readiness probe of a leading replica. */
  hasSynced(): boolean {
    return this.informers().every((inf) => inf.hasSynced());
  }

  /**
   * Why the caches can no longer be trusted, or undefined while they can: a cache that has synced
   * and then failed to list or watch for longer than cacheFailureTimeoutMs. The liveness probe
   * of a leading replica; run() fails on it too.
   */
  cacheProblem(): string | undefined {
    const now = performance.now();
    for (const inf of this.informers()) {
      const failing = inf.hasSynced() ? inf.failing() : undefined;
      if (failing && now - failing.since > this.opts.cacheFailureTimeoutMs) {
        const where = failing.namespace === undefined ? "" : ` in namespace ${failing.namespace}`;
        return `the ${failing.resource} cache has been unable to list or watch${where} for ${Math.round((now - failing.since) / 1000)} s (last error: ${failing.error})`;
      }
    }
    return undefined;
  }

  private informers(): Informer<KubernetesObject>[] {
    return [
      this.clusters,
      this.pods,
      this.pvcs,
      this.services,
      this.pdbs,
      this.networkPolicies,
      this.backups,
      ...(this.nodes ? [this.nodes] : []),
    ] as Informer<KubernetesObject>[];
  }
}

/** The key of the cluster an RqBackup backs up (spec.cluster, in its own namespace). */
function backupClusterKey(b: RqBackup): string | undefined {
  return b.spec?.cluster ? `${b.metadata!.namespace}/${b.spec.cluster}` : undefined;
}

/** The key of the cluster a child belongs to, from the label every child carries. */
function clusterKeyOf(obj: KubernetesObject): string | undefined {
  // A recovery's one-shot Pod is no node, so it lacks the cluster label; its cluster still hears of it.
  const cluster = obj.metadata?.labels?.[LABEL_CLUSTER] ?? obj.metadata?.labels?.[LABEL_RECOVERY_OF];
  return cluster ? `${obj.metadata!.namespace}/${cluster}` : undefined;
}

/** When the node controller marked the node unreachable (Ready Unknown), or undefined if it is not. */
function unreachableSince(node: V1Node | undefined): number | undefined {
  const ready = node?.status?.conditions?.find((c) => c.type === "Ready");
  if (!ready || ready.status !== "Unknown") return undefined;
  return ready.lastTransitionTime ? new Date(ready.lastTransitionTime).getTime() : undefined;
}
