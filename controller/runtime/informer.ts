import { EventEmitter } from "node:events";
import { performance } from "node:perf_hooks";
import type { KubernetesObject } from "@kubernetes/client-node";
import { KubeApiError, type KubeClient, type KubeRequest } from "./kubeClient.js";
import { componentLogger, type Logger } from "./log.js";
import { objectPath } from "./paths.js";
import { sleep } from "./sleep.js";

export interface InformerOptions<T extends KubernetesObject = KubernetesObject> {
  client: KubeClient;
  /** The API version: "v1" for the core group, else "<group>/<version>". */
  apiVersion: string;
  /** The plural resource name, e.g. "pods" or "rqclusters". */
  resource: string;
  /**
   * Namespaces to watch, one list+watch each, so a namespaced Role is enough. Undefined or
   * empty: all namespaces through one list+watch (and the only choice for cluster-scoped kinds).
   */
  namespaces?: string[];
  labelSelector?: string;
  fieldSelector?: string;
  /**
   * Re-list when a watch has delivered nothing for this long. The apiserver sends a bookmark
   * about once a minute to a watch that asked for them, so a longer silence means the watch hung
   * (a 1.x client watch can stall without an error). Default 3 minutes.
   */
  watchdogMs?: number;
  /** Server-side watch timeout; default a random 5 to 10 minutes, as client-go spreads them. */
  watchTimeoutSeconds?: number;
  /** Delay before retrying after an error, doubling up to maxMs (client-go: 800 ms to 30 s). */
  backoff?: { initialMs: number; maxMs: number };
  /** Timeout of each list request. Default 60 s. */
  requestTimeoutMs?: number;
  /** Objects per list page. Default 500. */
  pageSize?: number;
  /**
   * Named groupings of the cached objects (a key, or undefined: in no group), for byIndex(): a
   * lookup that does not scan the whole cache, as client-go's indexers. More may be added with
   * addIndexer() before start().
   */
  indexers?: Record<string, Indexer<T>>;
  /**
   * Applied to every object before it is cached and handed to handlers, as client-go's
   * SetTransform: it drops what no reader needs. Default: stripForCache.
   */
  transform?: (obj: T) => T;
  logger?: Logger;
}

/**
 * Files an object under a key, or under none (undefined). Declared as a method so that a cache
 * of a subtype still counts as a cache of objects (method parameters are bivariant).
 */
export type Indexer<T> = { index(obj: T): string | undefined }["index"];

/** The annotation `kubectl apply` writes: a whole copy of the object, read by nothing here. */
export const LAST_APPLIED_ANNOTATION = "kubectl.kubernetes.io/last-applied-configuration";

/**
 * Drops managedFields and kubectl's last-applied copy: nothing in a controller reads them, and
 * together they are often most of an object (controller-runtime's TransformStripManagedFields).
 */
export function stripForCache<T extends KubernetesObject>(obj: T): T {
  const meta = obj.metadata;
  if (meta?.managedFields) delete meta.managedFields;
  if (meta?.annotations && LAST_APPLIED_ANNOTATION in meta.annotations) {
    const { [LAST_APPLIED_ANNOTATION]: _dropped, ...rest } = meta.annotations;
    meta.annotations = rest;
  }
  return obj;
}

export type RelistReason = "initial" | "gone" | "watchdog";

export interface InformerEvents<T> {
  add: [obj: T];
  update: [obj: T, old: T];
  delete: [obj: T];
  /** A list has replaced the cache of `namespace` (undefined: all namespaces). */
  listed: [info: { namespace: string | undefined; reason: RelistReason; count: number }];
}

/** client-go's cache key: "namespace/name", or "name" for a cluster-scoped object. */
export function objectKey(obj: KubernetesObject): string {
  const { namespace, name } = obj.metadata ?? {};
  return namespace ? `${namespace}/${name}` : String(name);
}

/** WATCH_NAMESPACES as a list ("a, b" → ["a", "b"]); undefined means all namespaces. */
export function watchNamespacesFromEnv(env: NodeJS.ProcessEnv = process.env): string[] | undefined {
  const list = [
    ...new Set(
      (env.WATCH_NAMESPACES ?? "")
        .split(",")
        .map((n) => n.trim())
        .filter(Boolean),
    ),
  ];
  return list.length ? list : undefined;
}

/** One list+watch: a namespace, or every namespace when `namespace` is undefined. */
interface Scope {
  namespace: string | undefined;
  /** Where the watch resumes; undefined means list first. Opaque: only ever sent back. */
  resourceVersion: string | undefined;
  synced: boolean;
  lastError?: string;
  /**
   * When (performance.now()) the list/watch of this scope began failing, undefined while it works:
   * set by the first failure after a success, cleared by a list, or a watch that delivers or
   * stays open, so a watch that keeps failing the moment it opens never resets the clock.
   */
  failingSince?: number;
}

type WatchOutcome = "closed" | "gone" | "watchdog";

/** A scope whose list/watch keeps failing: since when (performance.now()) and why. */
export interface InformerFailure {
  resource: string;
  namespace: string | undefined;
  since: number;
  error: string;
}

/** A watch open this long without an error works, even if nothing has changed yet. */
const WATCH_WORKS_AFTER_MS = 1000;

/** A list as the server sends it (the client's V1ListMeta names `continue` `_continue`). */
interface ListPage<T> {
  apiVersion?: string;
  kind?: string;
  metadata?: { resourceVersion?: string; continue?: string };
  items: T[];
}

/**
 * An informer for one resource type: lists, then watches from the list's resourceVersion and
 * resumes from the last one seen; re-lists on 410 Gone and when the watchdog finds a watch silent
 * too long; on any other error it retries with backoff instead of stopping as the client's
 * informer does. It keeps the objects in memory and emits add/update/delete, including deletes
 * for objects that vanished while it was not watching. Handlers get the cached objects: they
 * must not change them.
 */
export class Informer<T extends KubernetesObject> extends EventEmitter<InformerEvents<T>> {
  private readonly cache = new Map<string, T>();
  /** indexer name → index key → objectKey → object, kept in step with the cache. */
  private readonly indices = new Map<string, Map<string, Map<string, T>>>();
  private readonly indexers = new Map<string, Indexer<T>>();
  private readonly transform: (obj: T) => T;
  private readonly scopes: Scope[];
  private readonly log: Logger;
  private readonly watchdogMs: number;
  private readonly backoff: { initialMs: number; maxMs: number };
  private stopper?: AbortController;
  private loops: Promise<void>[] = [];
  private syncWaiters: Array<() => void> = [];

  constructor(private readonly opts: InformerOptions<T>) {
    super();
    const namespaces = opts.namespaces?.length ? [...new Set(opts.namespaces)] : [undefined];
    this.scopes = namespaces.map((namespace) => ({ namespace, resourceVersion: undefined, synced: false }));
    this.log = opts.logger ?? componentLogger("informer", { resource: opts.resource });
    this.watchdogMs = opts.watchdogMs ?? 180_000;
    this.backoff = opts.backoff ?? { initialMs: 800, maxMs: 30_000 };
    this.transform = opts.transform ?? stripForCache;
    for (const [name, fn] of Object.entries(opts.indexers ?? {})) this.addIndexer(name, fn);
  }

  /** Adds a named index; only before start(), so that every cached object is in it. */
  addIndexer(name: string, fn: Indexer<T>): void {
    if (this.stopper) throw new Error(`informer for ${this.opts.resource}: index ${name} added after start`);
    if (this.indexers.has(name)) throw new Error(`informer for ${this.opts.resource}: index ${name} exists already`);
    this.indexers.set(name, fn);
    this.indices.set(name, new Map());
  }

  /** The resource this informer caches, e.g. "pods". */
  get resource(): string {
    return this.opts.resource;
  }

  start(): void {
    if (this.stopper) throw new Error(`informer for ${this.opts.resource} is already started`);
    this.stopper = new AbortController();
    const stop = this.stopper.signal;
    this.loops = this.scopes.map((scope) =>
      this.listAndWatch(scope, stop).catch((err: unknown) => {
        // Never expected: the loop catches what a request throws. Should it end anyway, the scope
        // is marked failing for good, so whoever relies on this cache learns it is dead.
        this.failed(scope, `the list/watch loop ended: ${(err as Error).message}`);
        this.log.error(
          { err, namespace: scope.namespace ?? "*" },
          "list/watch loop ended; the cache is no longer kept",
        );
      }),
    );
  }

  /** Ends every watch and waits for the loops to exit; the cache stays readable. */
  async stop(): Promise<void> {
    this.stopper?.abort();
    await Promise.all(this.loops);
    this.syncWaiters.splice(0).forEach((wake) => wake());
  }

  /** True once every namespace has been listed at least once. */
  hasSynced(): boolean {
    return this.scopes.every((s) => s.synced);
  }

  /**
   * Resolves once synced; rejects after timeoutMs, when stopped first, or when `signal` aborts
   * first, saying what is missing.
   */
  async waitForSync(timeoutMs = 60_000, signal?: AbortSignal): Promise<void> {
    if (this.hasSynced()) return;
    const done = new AbortController();
    const cancel = () => done.abort();
    signal?.addEventListener("abort", cancel, { once: true });
    if (signal?.aborted) cancel();
    const synced = new Promise<void>((resolve) => this.syncWaiters.push(resolve));
    await Promise.race([synced, sleep(timeoutMs, done.signal)]);
    done.abort();
    signal?.removeEventListener("abort", cancel);
    if (this.hasSynced()) return;
    const pending = this.scopes
      .filter((s) => !s.synced)
      .map((s) => `${s.namespace ?? "all namespaces"}${s.lastError ? ` (last error: ${s.lastError})` : ""}`);
    const when = this.stopper?.signal.aborted
      ? "before it was stopped"
      : signal?.aborted
        ? "before the wait was cancelled"
        : `within ${timeoutMs} ms`;
    throw new Error(`informer for ${this.opts.resource} has not synced ${when}: ${pending.join(", ")}`);
  }

  /**
   * The scope that has been failing to list or watch the longest, or undefined while every one
   * works. A scope not yet synced counts too; waitForSync() is the usual judge of those.
   */
  failing(): InformerFailure | undefined {
    let worst: Scope | undefined;
    for (const s of this.scopes) {
      if (s.failingSince !== undefined && (worst === undefined || s.failingSince < worst.failingSince!)) worst = s;
    }
    return (
      worst && {
        resource: this.opts.resource,
        namespace: worst.namespace,
        since: worst.failingSince!,
        error: worst.lastError ?? "unknown error",
      }
    );
  }

  get(namespace: string, name: string): T | undefined {
    return this.cache.get(namespace ? `${namespace}/${name}` : name);
  }

  /** A cached object by its objectKey(). */
  getByKey(key: string): T | undefined {
    return this.cache.get(key);
  }

  /** The cached objects that index `name` files under `key`. */
  byIndex(name: string, key: string): T[] {
    const index = this.indices.get(name);
    if (!index) throw new Error(`informer for ${this.opts.resource} has no index ${name}`);
    return [...(index.get(key)?.values() ?? [])];
  }

  /** The cached objects of one namespace, or all of them. */
  list(namespace?: string): T[] {
    const all = [...this.cache.values()];
    return namespace === undefined ? all : all.filter((o) => o.metadata?.namespace === namespace);
  }

  private async listAndWatch(scope: Scope, stop: AbortSignal): Promise<void> {
    let reason: RelistReason = "initial";
    let delayMs = this.backoff.initialMs;
    const log = this.log.child({ namespace: scope.namespace ?? "*" });
    while (!stop.aborted) {
      try {
        if (scope.resourceVersion === undefined) await this.relist(scope, reason, stop);
        const started = performance.now();
        const outcome = await this.watch(scope, stop);
        if (outcome !== "closed") {
          log.info({ reason: outcome, resourceVersion: scope.resourceVersion }, "re-listing");
          reason = outcome;
          scope.resourceVersion = undefined;
          continue;
        }
        // A watch that closes at once (a proxy dropping it, say) must not become a busy loop, and
        // does not deliver events any more than a failing one.
        if (performance.now() - started > WATCH_WORKS_AFTER_MS) {
          delayMs = this.backoff.initialMs;
          continue;
        }
        this.failed(scope, "the watch closed as soon as it opened");
      } catch (err) {
        if (stop.aborted) break;
        if (err instanceof KubeApiError && err.status === 410) {
          log.info({ err: err.message }, "resourceVersion expired; re-listing");
          reason = "gone";
          scope.resourceVersion = undefined;
          continue;
        }
        this.failed(scope, (err as Error).message);
        log.warn({ err: scope.lastError, retryInMs: delayMs }, "list/watch failed; retrying");
      }
      await sleep(delayMs * (0.8 + 0.4 * Math.random()), stop);
      delayMs = Math.min(delayMs * 2, this.backoff.maxMs);
    }
  }

  /** Lists every page, then makes the cache of this scope equal to the list. */
  private async relist(scope: Scope, reason: RelistReason, stop: AbortSignal): Promise<void> {
    const items: T[] = [];
    let resourceVersion: string | undefined;
    let cont: string | undefined;
    do {
      const page = await this.opts.client.request<ListPage<T>>({
        method: "GET",
        path: this.collectionPath(scope),
        query: { ...this.selectors(), limit: this.opts.pageSize ?? 500, continue: cont },
        timeoutMs: this.opts.requestTimeoutMs ?? 60_000,
        signal: stop,
        freshConnection: true,
      });
      // List items come without kind; give them the one watch events carry, so handlers see one shape.
      const kind = page.kind?.replace(/List$/, "");
      items.push(...page.items.map((o) => this.transform({ apiVersion: page.apiVersion, kind, ...o })));
      resourceVersion ??= page.metadata?.resourceVersion;
      cont = page.metadata?.continue || undefined;
    } while (cont);

    const listed = new Set<string>();
    for (const obj of items) {
      const key = objectKey(obj);
      listed.add(key);
      const old = this.cache.get(key);
      this.put(key, obj, old);
      if (!old) this.emitSafely("add", obj);
      else if (old.metadata?.resourceVersion !== obj.metadata?.resourceVersion) this.emitSafely("update", obj, old);
    }
    for (const [key, old] of this.cache) {
      const inScope = scope.namespace === undefined || old.metadata?.namespace === scope.namespace;
      if (inScope && !listed.has(key)) {
        this.remove(key, old);
        this.emitSafely("delete", old);
      }
    }
    scope.resourceVersion = resourceVersion;
    this.works(scope);
    this.emitSafely("listed", { namespace: scope.namespace, reason, count: items.length });
    if (!scope.synced) {
      scope.synced = true;
      if (this.hasSynced()) this.syncWaiters.splice(0).forEach((wake) => wake());
    }
  }

  /** Watches from the scope's resourceVersion until the server closes the watch or it must re-list. */
  private async watch(scope: Scope, stop: AbortSignal): Promise<WatchOutcome> {
    const abort = new AbortController();
    const onStop = () => abort.abort();
    stop.addEventListener("abort", onStop, { once: true });
    if (stop.aborted) abort.abort(); // stopped while listing: the listener above came too late
    let silent = false;
    const watchdog = setTimeout(() => {
      silent = true;
      abort.abort();
    }, this.watchdogMs);
    let working: NodeJS.Timeout | undefined;
    try {
      const events = await this.opts.client.watch<T>(
        this.collectionPath(scope),
        {
          ...this.selectors(),
          resourceVersion: scope.resourceVersion,
          allowWatchBookmarks: true,
          timeoutSeconds: this.opts.watchTimeoutSeconds ?? Math.floor(300 * (1 + Math.random())),
        },
        abort.signal,
      );
      working = setTimeout(() => this.works(scope), WATCH_WORKS_AFTER_MS);
      for await (const event of events) {
        watchdog.refresh();
        if (event.type === "ERROR") {
          const status = event.object as { code?: number; reason?: string; message?: string };
          if (status.code === 410) return "gone";
          throw new KubeApiError(
            status.code ?? 0,
            status.reason,
            "GET",
            `${this.collectionPath(scope)} (watch)`,
            status.message ?? "watch error",
          );
        }
        this.works(scope);
        if (event.type !== "BOOKMARK") this.apply(event.type, this.transform(event.object));
        scope.resourceVersion = event.object.metadata?.resourceVersion ?? scope.resourceVersion;
      }
      return silent ? "watchdog" : "closed";
    } catch (err) {
      if (silent) return "watchdog";
      if (stop.aborted) return "closed";
      throw err;
    } finally {
      clearTimeout(watchdog);
      clearTimeout(working);
      stop.removeEventListener("abort", onStop);
      abort.abort(); // closes the connection when we return early
    }
  }

  private failed(scope: Scope, error: string): void {
    scope.lastError = error;
    scope.failingSince ??= performance.now();
  }

  private works(scope: Scope): void {
    scope.lastError = undefined;
    scope.failingSince = undefined;
  }

  private apply(type: "ADDED" | "MODIFIED" | "DELETED", obj: T): void {
    const key = objectKey(obj);
    const old = this.cache.get(key);
    if (type === "DELETED") {
      if (old) this.remove(key, old);
      this.emitSafely("delete", obj);
      return;
    }
    this.put(key, obj, old);
    if (old) this.emitSafely("update", obj, old);
    else this.emitSafely("add", obj);
  }

  private put(key: string, obj: T, old: T | undefined): void {
    this.cache.set(key, obj);
    for (const [name, fn] of this.indexers) {
      const index = this.indices.get(name)!;
      const [was, is] = [old && fn(old), fn(obj)];
      if (was !== undefined && was !== is) unindex(index, was, key);
      if (is !== undefined) {
        let group = index.get(is);
        if (!group) index.set(is, (group = new Map<string, T>()));
        group.set(key, obj);
      }
    }
  }

  private remove(key: string, old: T): void {
    this.cache.delete(key);
    for (const [name, fn] of this.indexers) {
      const was = fn(old);
      if (was !== undefined) unindex(this.indices.get(name)!, was, key);
    }
  }

  private collectionPath(scope: Scope): string {
    return objectPath({
      apiVersion: this.opts.apiVersion,
      resource: this.opts.resource,
      ...(scope.namespace === undefined ? {} : { namespace: scope.namespace }),
    });
  }

  private selectors(): KubeRequest["query"] {
    return { labelSelector: this.opts.labelSelector, fieldSelector: this.opts.fieldSelector };
  }

  /** Calls every handler; one that throws is logged and must not stop the informer or the others. */
  private emitSafely<E extends keyof InformerEvents<T>>(event: E, ...args: InformerEvents<T>[E]): void {
    for (const handler of this.listeners(event) as Array<(...a: InformerEvents<T>[E]) => void>) {
      try {
        handler(...args);
      } catch (err) {
        this.log.error({ err, event }, "informer event handler threw");
      }
    }
  }
}

function unindex<T>(index: Map<string, Map<string, T>>, indexKey: string, key: string): void {
  const group = index.get(indexKey);
  group?.delete(key);
  if (group?.size === 0) index.delete(indexKey);
}

/**
 * Waits until every informer has synced. False when `signal` aborted the wait (the caller stops
 * quietly); throws naming every cache that did not sync within `timeoutMs`.
 */
export async function waitForCaches(
  informers: Array<Pick<Informer<KubernetesObject>, "waitForSync">>,
  timeoutMs: number | undefined,
  signal: AbortSignal,
): Promise<boolean> {
  const waits = await Promise.allSettled(informers.map((inf) => inf.waitForSync(timeoutMs, signal)));
  if (signal.aborted) return false;
  const unsynced = waits.flatMap((w) => (w.status === "rejected" ? [(w.reason as Error).message] : []));
  if (unsynced.length) throw new Error(`caches did not sync: ${unsynced.join("; ")}`);
  return true;
}
