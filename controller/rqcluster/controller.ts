// The RqCluster controller, declared: it reconciles RqClusters, and wakes a cluster when one of
// its children (found by the label every child carries), a budget over its Pods, a Node its Pods
// run on, or an RqBackup of it changes. The manager runs the loop; reconcileCluster decides and acts.
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
import type { RqBackup, RqCluster } from "../../shared/index.js";
import { API_VERSION, KIND, LABEL_CLUSTER, LABEL_MANAGED_BY, MANAGER_NAME } from "../../shared/names.js";
import { NETWORK_POLICY, NODE, PDB, POD, PVC, RQBACKUP, RQCLUSTER, SERVICE } from "../kinds.js";
import { Controller, watch, type WatchEvent } from "../runtime/controller.js";
import { makeEventRecorder } from "../runtime/events.js";
import type { Informer } from "../runtime/informer.js";
import type { Manager } from "../runtime/manager.js";
import { makeWriter } from "../runtime/writer.js";
import { componentLogger } from "../runtime/log.js";
import { sleep } from "../runtime/sleep.js";
import { reconcileCluster } from "./reconcile.js";
import { RestoreRetries, RetentionSchedule } from "./backup/observe.js";
import { NodeScraper } from "./scraper.js";
import { clusterMetrics } from "./metrics.js";
import { conflictsOf } from "./observe.js";
import { GrowthRefusals } from "./growthRefusals.js";
import { disruptionControllerRuns } from "./plan/eviction.js";
import { desiredMembers } from "./render/members.js";
import type { Addressing } from "../access/clusterView.js";
import { LABEL_RECOVERY_OF } from "./render/recovery.js";
import { LABEL_RESTORE_OF } from "./backup/loader.js";
import { operatorImage } from "../access/operatorImage.js";
import { readClaim } from "../access/claim.js";
import type { S3Gate } from "../access/s3.js";

export interface ClusterControllerOptions {
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
  /** Each cluster's nodes are read for the rqlite_node_* metrics at most this often (0: never). Default 30 s. */
  scrapeIntervalMs?: number;
  /**
   * ca.crt per tls.http Secret as last read, shared by every controller of the process, so a
   * Secret deleted mid-life degrades, not blinds (access/cluster.ts readCas).
   */
  knownCas: Map<string, string>;
  /**
   * The operator's image for the loader Pod of a restore from a claim (--backup-job-image); unset:
   * read from the operator's own Pod in `operatorNamespace` when first needed.
   */
  jobImage?: string;
}

const CONTROLLER = "rqcluster";
/** The index of children by the key of their cluster. */
const BY_CLUSTER = "rqcluster";
/** A PVC growth the API server refused is tried again after this long (a StorageClass may change). */
const RETRY_REFUSED_GROWTH_MS = 10 * 60_000;
/** How long a reconcile waits for the caches to show a Pod it just created or deleted. */
const CACHE_CATCH_UP_MS = 10_000;
/** As often as Prometheus commonly scrapes the operator: fresher readings would not be seen. */
export const DEFAULT_SCRAPE_INTERVAL_MS = 30_000;
/** Requests to rqlite in flight at once for the node metrics, over every cluster. */
const SCRAPE_CONCURRENCY = 16;
/**
 * Node reads per second the metrics may cost: 1000 clusters of 3 are read every 60 s instead of
 * 30, 5000 every 300 s. A read is a connection and a /status answer of a few kilobytes.
 */
export const SCRAPES_PER_SECOND = 50;

/** Declares the RqCluster controller (and its node scraper) to the manager. */
export function setupClusterController(mgr: Manager, opts: ClusterControllerOptions): void {
  const log = componentLogger("controller", { controller: CONTROLLER });
  // Children are found by the managed-by label, so the caches hold only the operator's objects;
  // they are indexed by their cluster's key, so a reconcile finds them without a scan.
  const owned = { labelSelector: `${LABEL_MANAGED_BY}=${MANAGER_NAME}`, indexers: { [BY_CLUSTER]: clusterKeyOf } };
  const clusters = mgr.cache<RqCluster & KubernetesObject>(RQCLUSTER);
  const pods = mgr.cache<V1Pod>(POD, owned);
  const pvcs = mgr.cache<V1PersistentVolumeClaim>(PVC, owned);
  const services = mgr.cache<V1Service>(SERVICE, owned);
  const networkPolicies = mgr.cache<V1NetworkPolicy>(NETWORK_POLICY, owned);
  // Every budget, not only the operator's: a user's over the same Pods refuses every eviction
  // (plan/eviction.ts), and budgets' status tells whether a disruption controller runs.
  const pdbs = mgr.cache<V1PodDisruptionBudget>(PDB, {
    indexers: {
      [BY_CLUSTER]: (o) => (o.metadata?.labels?.[LABEL_MANAGED_BY] === MANAGER_NAME ? clusterKeyOf(o) : undefined),
    },
  });
  // Indexed by the cluster they back up: a backup that completes wakes its cluster at once.
  const backups = mgr.cache<RqBackup & KubernetesObject>(RQBACKUP, { indexers: { [BY_CLUSTER]: backupClusterKey } });
  // Nodes are cluster-scoped: watched everywhere, to notice the ones that become unreachable.
  const nodes = opts.nodeFailureTimeoutMs > 0 ? mgr.cache<V1Node>(NODE) : undefined;

  const metrics = clusterMetrics(mgr.registry);
  const recorder = makeEventRecorder(
    mgr.client,
    { component: MANAGER_NAME, instance: opts.identity, involvedApiVersion: API_VERSION, involvedKind: KIND },
    (err) => log.warn({ err: (err as Error).message }, "could not record an Event"),
  );
  const writer = makeWriter(mgr.client, MANAGER_NAME);
  const loaderImage = operatorImage(mgr.client, opts.jobImage, opts.operatorNamespace);
  const scrapeIntervalMs = opts.scrapeIntervalMs ?? DEFAULT_SCRAPE_INTERVAL_MS;
  const scraper =
    scrapeIntervalMs > 0
      ? new NodeScraper({
          registry: mgr.registry,
          intervalMs: scrapeIntervalMs,
          concurrency: SCRAPE_CONCURRENCY,
          maxPerSecond: SCRAPES_PER_SECOND,
        })
      : undefined;
  const refusals = new GrowthRefusals(RETRY_REFUSED_GROWTH_MS);
  // When retention last listed each cluster's uploads: kept across reconciles, not in module state.
  const retention = new RetentionSchedule();
  const restoreRetries = new RestoreRetries();
  /** A computed budget was seen once: a disruption controller runs, even if that budget is gone. */
  let disruptionControllerSeen = false;

  const children = (key: string) => ({
    pods: pods.byIndex(BY_CLUSTER, key),
    pvcs: pvcs.byIndex(BY_CLUSTER, key),
    services: services.byIndex(BY_CLUSTER, key),
    pdbs: pdbs.byIndex(BY_CLUSTER, key),
    networkPolicies: networkPolicies.byIndex(BY_CLUSTER, key),
  });
  const named = [pods, pvcs, services, pdbs] as Informer<KubernetesObject>[];

  const controller = new Controller<RqCluster & KubernetesObject>(mgr, {
    name: CONTROLLER,
    for: clusters,
    workers: opts.workers,
    resyncMs: opts.resyncMs,
    logger: log,
    watches: [
      watch(clusters, (e) => {
        metrics.follow(e, clusters.list().length);
        if (e.type === "delete") scraper?.forget(e.obj.metadata!.namespace!, e.obj.metadata!.name!);
        return [];
      }),
      ...[pods, pvcs, services, networkPolicies].map((source) => watch<KubernetesObject>(source, ownerKeys)),
      // A budget of someone else's may select any cluster of its namespace: wake them all.
      watch(pdbs, (e) =>
        [e.obj, ...(e.old ? [e.old] : [])].flatMap((b) =>
          b.metadata?.labels?.[LABEL_MANAGED_BY] === MANAGER_NAME
            ? ownerKeys({ type: e.type, obj: b })
            : clusters.list(b.metadata?.namespace).map((c) => `${c.metadata!.namespace}/${c.metadata!.name}`),
        ),
      ),
      watch(backups, (e) => [backupClusterKey(e.obj)].filter((k) => k !== undefined)),
      // A node's health decides about the clusters with Pods on it.
      ...(nodes
        ? [
            watch(nodes, (e) =>
              e.type !== "update"
                ? []
                : pods.list().flatMap((p) => (p.spec?.nodeName === e.obj.metadata?.name ? [clusterKeyOf(p)!] : [])),
            ),
          ]
        : []),
    ],
    async reconcile(cluster, { key }) {
      const { namespace, name, uid } = cluster.metadata as { namespace: string; name: string; uid: string };
      const clog = log.child({ rqcluster: key });
      const events = recorder({ namespace, name, uid });
      try {
        const { actions, requeueAfterMs, leader, running } = await reconcileCluster(
          {
            writer,
            s3: opts.s3,
            events,
            addressing: opts.addressing,
            operatorNamespace: opts.operatorNamespace,
            unreachableSince: unreachableNodes(nodes),
            nodeFailureTimeoutMs: opts.nodeFailureTimeoutMs,
            conflicts: (c) => {
              const members = desiredMembers(c.name, c.spec.replicas, c.spec.readReplicas).map((m) => m.name);
              const names = [...members, c.headlessService, c.clientService, c.readService, c.pdbName];
              return conflictsOf(c.uid, names, (n) => named.flatMap((inf) => inf.get(c.namespace, n) ?? []));
            },
            otherPdbs: () => {
              const own = new Set(pdbs.byIndex(BY_CLUSTER, key));
              return pdbs.list(namespace).filter((b) => !own.has(b));
            },
            disruptionControllerRuns: () => {
              const runs = disruptionControllerRuns(pdbs.list(), Date.now(), disruptionControllerSeen);
              if (runs) disruptionControllerSeen = true;
              return runs;
            },
            awaitPodCache: (pod, seen) => awaitCache(pods, namespace, pod, seen),
            refusedGrowth: (ns) => refusals.current(ns),
            recordRefusal: (ns, pvc, size, message) => refusals.record(ns, pvc, size, message),
            now: () => new Date(),
            readBackup: (ns, n) => Promise.resolve(backups.get(ns, n)),
            readClaim: (ns, n) => readClaim(mgr.client, ns, n),
            loaderImage,
            listBackups: (ns) => Promise.resolve(backups.list(ns)),
            knownCas: opts.knownCas,
            retention,
            restoreRetries,
          },
          cluster,
          children(key),
        );
        if (actions.length) clog.info({ actions }, "reconciled");
        else clog.debug("already converged");
        metrics.update(cluster, leader, clusters.list().length);
        // Hands the running nodes to the scraper; a cluster with none (not started, every Pod gone,
        // being deleted) is not kept, so that nothing stale is exported for it.
        if (running && running.nodes.length > 0 && !cluster.metadata?.deletionTimestamp)
          scraper?.track({ namespace, cluster: name, ...running });
        else scraper?.forget(namespace, name);
        return requeueAfterMs === undefined ? undefined : { requeueAfterMs };
      } finally {
        // Also after a failure: what the step did before it failed happened.
        events.flush();
      }
    },
  });
  mgr.add(controller);
  // Not awaited: a read in flight (at most 3 s) must not hold up handing over the Lease.
  if (scraper) mgr.add({ name: "rqlite node scraper", start: (signal) => void scraper.run(signal) });
}

/** The cluster keys a child's change concerns: its cluster now, and before if its label changed. */
function ownerKeys(e: WatchEvent<KubernetesObject>): string[] {
  return [...new Set([e.obj, ...(e.old ? [e.old] : [])].map(clusterKeyOf).filter((k) => k !== undefined))];
}

/**
 * Waits until the Pod cache shows the controller's own write, so that the next reconcile does
 * not plan from a view older than it (a deleted Pod still cached as Ready).
 */
async function awaitCache(
  pods: Informer<V1Pod>,
  namespace: string,
  name: string,
  seen: (pod: KubernetesObject | undefined) => boolean,
): Promise<void> {
  const deadline = performance.now() + CACHE_CATCH_UP_MS;
  while (!seen(pods.get(namespace, name))) {
    if (performance.now() > deadline) {
      throw new Error(
        `Pod ${namespace}/${name}: the cache did not show the controller's own write within ${CACHE_CATCH_UP_MS} ms; retrying`,
      );
    }
    await sleep(25);
  }
}

/** Kubernetes nodes that are unreachable now, and since when. */
function unreachableNodes(nodes: Informer<V1Node> | undefined): Map<string, number> {
  const out = new Map<string, number>();
  for (const node of nodes?.list() ?? []) {
    const since = unreachableSince(node);
    if (since !== undefined) out.set(node.metadata!.name!, since);
  }
  return out;
}

/** The key of the cluster an RqBackup backs up (spec.cluster, in its own namespace). */
function backupClusterKey(b: RqBackup): string | undefined {
  return b.spec?.cluster ? `${b.metadata!.namespace}/${b.spec.cluster}` : undefined;
}

/** The key of the cluster a child belongs to, from the label every child carries. */
function clusterKeyOf(obj: KubernetesObject): string | undefined {
  // A recovery's or a restore's one-shot Pod is no node, so it lacks the cluster label; its
  // cluster still hears of it.
  const labels = obj.metadata?.labels;
  const cluster = labels?.[LABEL_CLUSTER] ?? labels?.[LABEL_RECOVERY_OF] ?? labels?.[LABEL_RESTORE_OF];
  return cluster ? `${obj.metadata!.namespace}/${cluster}` : undefined;
}

/** When the node controller marked the node unreachable (Ready Unknown), or undefined if it is not. */
function unreachableSince(node: V1Node | undefined): number | undefined {
  const ready = node?.status?.conditions?.find((c) => c.type === "Ready");
  if (!ready || ready.status !== "Unknown") return undefined;
  return ready.lastTransitionTime ? new Date(ready.lastTransitionTime).getTime() : undefined;
}
