// The generic controller, as controller-runtime's builder and controller: a kind declares what it
// reconciles (`for`), the kinds it owns (their controller owner reference names the object to
// reconcile) and whatever else it watches with a mapping to keys. The loop, the per-key backoff,
// the periodic resync and the reconcile metrics are the same for every kind, and live here.
import type { KubernetesObject } from "@kubernetes/client-node";
import { objectKey, type Informer } from "./informer.js";
import { componentLogger, type Logger } from "./log.js";
import type { Kind, Manager, Runnable } from "./manager.js";
import { measureReconcile, reconcileMetrics } from "./reconcileMetrics.js";
import { sleep } from "./sleep.js";
import { WorkQueue, type HandlerResult } from "./workqueue.js";

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- a cache of any kind; only its metadata is read
type AnyInformer = Informer<any>;

/** One change a cache saw. `old` is set for updates. */
export interface WatchEvent<T> {
  type: "add" | "update" | "delete";
  obj: T;
  old?: T;
}

/** Another kind's changes, and the keys of the objects each change concerns: see watch(). */
export interface Watch {
  subscribe(enqueue: (keys: Iterable<string>) => void): void;
}

/** Reconciles the objects `map` names whenever `source` sees a change. */
export function watch<T extends KubernetesObject>(
  source: Informer<T>,
  map: (event: WatchEvent<T>) => Iterable<string>,
): Watch {
  return { subscribe: (enqueue) => subscribe(source, (e) => enqueue(map(e))) };
}

export interface ReconcileContext {
  /** The object's key, "namespace/name". */
  key: string;
  /** Aborts when the controller stops: work that could outlast a reconcile ends with it. */
  signal: AbortSignal;
}

export interface ControllerDeclaration<T extends KubernetesObject> {
  /** Names the controller in metrics and logs. */
  name: string;
  /** The kind reconciled: any change to one of them reconciles it. */
  for: Informer<T>;
  /** Kinds whose objects name their owner of the `for` kind in a controller owner reference. */
  owns?: AnyInformer[];
  watches?: Watch[];
  /**
   * Reconciles one object as the cache holds it; not called for a key no longer cached. Throws,
   * or returns {requeue}, to retry with the key's backoff.
   */
  reconcile(obj: T, ctx: ReconcileContext): Promise<HandlerResult | undefined>;
  workers: number;
  /** Every object is reconciled again this often without events (0 or undefined: never). */
  resyncMs?: number;
  logger?: Logger;
}

/** A declared controller; the manager runs it (mgr.add) while leading. */
export class Controller<T extends KubernetesObject> implements Runnable {
  readonly name: string;
  private readonly queue: WorkQueue;
  private readonly log: Logger;
  private readonly metrics;

  constructor(
    mgr: Manager,
    private readonly decl: ControllerDeclaration<T>,
  ) {
    this.name = decl.name;
    this.log = decl.logger ?? componentLogger("controller", { controller: decl.name });
    this.queue = new WorkQueue({ name: decl.name, registry: mgr.registry });
    this.metrics = reconcileMetrics(mgr.registry);
    const enqueue = (keys: Iterable<string>) => {
      for (const key of keys) this.queue.add(key);
    };
    subscribe(decl.for, (e) => enqueue([objectKey(e.obj)]));
    const forKind = mgr.kindOf(decl.for);
    for (const owned of decl.owns ?? []) {
      subscribe(owned as Informer<KubernetesObject>, (e) =>
        enqueue([...ownerKeys(e.obj, forKind), ...(e.old ? ownerKeys(e.old, forKind) : [])]),
      );
    }
    for (const w of decl.watches ?? []) w.subscribe(enqueue);
  }

  /** Adds a key to the queue, as an event would. */
  enqueue(key: string): void {
    this.queue.add(key);
  }

  async start(signal: AbortSignal): Promise<void> {
    this.log.info({ workers: this.decl.workers }, "starting workers");
    this.queue.run(async (key) => {
      const obj = this.decl.for.getByKey(key);
      if (!obj) return undefined;
      return measureReconcile(this.metrics, this.name, () => this.decl.reconcile(obj, { key, signal }));
    }, this.decl.workers);
    try {
      const resyncMs = this.decl.resyncMs ? this.decl.resyncMs : Infinity;
      while (!signal.aborted) {
        await sleep(Math.min(resyncMs, 2 ** 31 - 1), signal);
        if (!signal.aborted) this.decl.for.list().forEach((o) => this.queue.add(objectKey(o)));
      }
    } finally {
      await this.queue.shutdown();
    }
  }
}

function subscribe<T extends KubernetesObject>(source: Informer<T>, handle: (e: WatchEvent<T>) => void): void {
  source.on("add", (obj) => handle({ type: "add", obj }));
  source.on("update", (obj, old) => handle({ type: "update", obj, old }));
  source.on("delete", (obj) => handle({ type: "delete", obj }));
}

const groupOf = (apiVersion: string) => (apiVersion.includes("/") ? apiVersion.split("/")[0] : "");

/** The key of the object of `kind` that controls `obj`, in obj's namespace. */
function ownerKeys(obj: KubernetesObject, kind: Kind): string[] {
  const owner = obj.metadata?.ownerReferences?.find(
    (o) => o.controller && o.kind === kind.kind && groupOf(o.apiVersion) === groupOf(kind.apiVersion),
  );
  return owner ? [obj.metadata?.namespace ? `${obj.metadata.namespace}/${owner.name}` : owner.name] : [];
}
