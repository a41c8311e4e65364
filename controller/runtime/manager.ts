// The Manager, as controller-runtime's: it owns the process's one shared informer cache per
// kind, the Lease, and the runnables (controllers, and whatever else runs only while leading).
// A leader starts every cache, waits for all of them to list, then starts the runnables; when a
// cache stops following the cluster, or a runnable fails, every runnable stops and the leadership
// ends, so that a healthy standby takes over instead of a leader acting on a stale view.
import { setMaxListeners } from "node:events";
import { performance } from "node:perf_hooks";
import type { KubernetesObject } from "@kubernetes/client-node";
import type { Registry } from "prom-client";
import { Informer, waitForCaches, type Indexer } from "./informer.js";
import type { KubeClient } from "./kubeClient.js";
import { LeaderElector, type LeaderElectionOptions, type LeadershipEnd } from "./leaderElection.js";
import { componentLogger, type Logger } from "./log.js";
import { sleep } from "./sleep.js";

/** A kind of object, as the API server serves it. */
export interface Kind {
  apiVersion: string;
  kind: string;
  /** The plural resource, e.g. "pods". */
  resource: string;
  /** Watched in every namespace whatever the manager's namespaces (e.g. Nodes). */
  clusterScoped?: boolean;
}

export interface CacheOptions<T> {
  /** Only objects with these labels are cached. Every user of the kind must ask for the same. */
  labelSelector?: string;
  /** Added to the kind's cache; names must differ between users. */
  indexers?: Record<string, Indexer<T>>;
}

/** Something that runs only while this process leads, once every cache has listed. */
export interface Runnable {
  name: string;
  /** Runs until `signal` aborts; a rejection ends the leadership. */
  start(signal: AbortSignal): Promise<void> | void;
}

export interface ManagerOptions {
  client: KubeClient;
  registry: Registry;
  /** Namespaces to watch; undefined watches all. */
  namespaces?: string[];
  /** The caches must all list within this long (controller-runtime's CacheSyncTimeout). */
  cacheSyncTimeoutMs: number;
  /** A synced cache unable to list or watch for this long ends the leadership. */
  cacheFailureTimeoutMs: number;
  /** Lead only while holding this Lease; undefined: always lead (one replica). */
  leaderElection?: Omit<LeaderElectionOptions, "client" | "registry" | "onStartedLeading">;
  logger?: Logger;
}

interface SharedCache {
  kind: Kind;
  labelSelector: string | undefined;
  informer: Informer<KubernetesObject>;
}

export class Manager {
  readonly client: KubeClient;
  readonly registry: Registry;
  private readonly log: Logger;
  private readonly caches = new Map<string, SharedCache>();
  private readonly runnables: Runnable[] = [];
  private elector: LeaderElector | undefined;
  private started = false;

  constructor(private readonly opts: ManagerOptions) {
    this.client = opts.client;
    this.registry = opts.registry;
    this.log = opts.logger ?? componentLogger("manager");
  }

  /**
   * The process's cache of `kind`, made on first use: every controller reading a kind reads the
   * same cache, through one list+watch per namespace.
   */
  cache<T extends KubernetesObject>(kind: Kind, opts: CacheOptions<T> = {}): Informer<T> {
    const id = `${kind.apiVersion}/${kind.resource}`;
    let shared = this.caches.get(id);
    if (!shared) {
      if (this.started) throw new Error(`the ${kind.resource} cache is asked for after the manager started`);
      shared = {
        kind,
        labelSelector: opts.labelSelector,
        informer: new Informer<KubernetesObject>({
          client: this.client,
          apiVersion: kind.apiVersion,
          resource: kind.resource,
          ...(kind.clusterScoped ? {} : { namespaces: this.opts.namespaces }),
          ...(opts.labelSelector ? { labelSelector: opts.labelSelector } : {}),
        }),
      };
      this.caches.set(id, shared);
    } else if (opts.labelSelector !== undefined && opts.labelSelector !== shared.labelSelector) {
      throw new Error(
        `the ${kind.resource} cache selects ${JSON.stringify(shared.labelSelector ?? "everything")}; a second user asks for ${JSON.stringify(opts.labelSelector)}: one cache per kind`,
      );
    }
    const informer = shared.informer as unknown as Informer<T>;
    for (const [name, fn] of Object.entries(opts.indexers ?? {})) informer.addIndexer(name, fn);
    return informer;
  }

  /** The kind a cache was made for. */
  kindOf<T extends KubernetesObject>(informer: Informer<T>): Kind {
    for (const c of this.caches.values()) if ((c.informer as unknown) === informer) return c.kind;
    throw new Error(`the ${informer.resource} informer is not one of this manager's caches`);
  }

  add(runnable: Runnable): void {
    if (this.started) throw new Error(`${runnable.name} is added after the manager started`);
    this.runnables.push(runnable);
  }

  /**
   * Runs until `signal` aborts. With leader election: campaigns, leads while holding the Lease,
   * and says how the leadership ended ("lost", "failed" or "stopped"). Without: leads at once;
   * rejects when leading fails.
   */
  async start(signal: AbortSignal): Promise<LeadershipEnd> {
    if (this.started) throw new Error("the manager is already started");
    this.started = true;
    if (!this.opts.leaderElection) {
      await this.lead(signal);
      return "stopped";
    }
    this.elector = new LeaderElector({
      ...this.opts.leaderElection,
      client: this.client,
      registry: this.registry,
      onStartedLeading: (leading) => this.lead(leading),
    });
    return this.elector.run(signal);
  }

  /** A standby is ready (it serves nothing but waits); a leader once every cache has listed. */
  ready(): boolean {
    return !this.leading() || this.informers().every((inf) => inf.hasSynced());
  }

  /**
   * Why this process is not healthy, or undefined while it is: a leader whose synced cache has
   * been unable to list or watch for longer than cacheFailureTimeoutMs. A standby has no caches
   * to lose. The leader also gives up the Lease then; this only shows it first.
   */
  healthProblem(): string | undefined {
    return this.leading() ? this.cacheProblem() : undefined;
  }

  private leading(): boolean {
    return !this.elector || this.elector.isLeader();
  }

  private informers(): Informer<KubernetesObject>[] {
    return [...this.caches.values()].map((c) => c.informer);
  }

  private cacheProblem(): string | undefined {
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

  /** The leader's work: caches, then the runnables, until `signal` aborts or something fails. */
  private async lead(signal: AbortSignal): Promise<void> {
    const informers = this.informers();
    const stopRunnables = new AbortController();
    const running = AbortSignal.any([signal, stopRunnables.signal]);
    // Every loop, worker and transfer listens on it: more than Node's default of 10, which would
    // print a false leak warning.
    setMaxListeners(100, running);
    informers.forEach((inf) => inf.start());
    let runs: Promise<void>[] = [];
    let failure: Error | undefined;
    try {
      if (!(await waitForCaches(informers, this.opts.cacheSyncTimeoutMs, signal))) return;
      this.log.info(
        { caches: informers.map((i) => i.resource), namespaces: this.opts.namespaces ?? "all" },
        "caches synced; starting the controllers",
      );
      runs = this.runnables.map((r) =>
        (async () => r.start(running))().catch((err: unknown) => {
          failure ??= new Error(`${r.name} failed: ${(err as Error).message}`, { cause: err });
          stopRunnables.abort();
        }),
      );
      // Often enough that a failing cache is noticed within a second of its timeout.
      const checkMs = Math.min(1000, this.opts.cacheFailureTimeoutMs);
      while (!running.aborted) {
        await sleep(checkMs, running);
        const problem = this.cacheProblem();
        if (problem) failure ??= new Error(`${problem}; stopping so that a fresh process takes over`);
        if (failure) break;
      }
      if (failure) throw failure;
    } finally {
      stopRunnables.abort();
      await Promise.all(runs);
      await Promise.all(informers.map((inf) => inf.stop()));
    }
  }
}
