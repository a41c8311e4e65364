import { performance } from "node:perf_hooks";
import { exponentialBuckets, type Registry } from "prom-client";
import { componentLogger, type Logger } from "./log.js";
import { counter, gauge, histogram } from "./metrics.js";

export interface WorkQueueOptions {
  /** The `name` label of the queue's metrics, usually the controller's name. */
  name: string;
  registry: Registry;
  /** First retry delay of a failing key; doubles per failure (controller-runtime: 5 ms). */
  baseDelayMs?: number;
  /** Longest retry delay (controller-runtime: 1000 s). */
  maxDelayMs?: number;
  logger?: Logger;
}

/** What a handler asks for after processing a key; nothing means done until the next add. */
export interface HandlerResult {
  /** Process the key again after this long; resets the key's failure backoff. */
  requeueAfterMs?: number;
  /** Process the key again with the key's backoff, as after a failure. */
  requeue?: boolean;
}

export type KeyHandler = (key: string) => Promise<HandlerResult | void>;

// controller-runtime's buckets: 10 ns to 1000 s.
const durationBuckets = exponentialBuckets(10e-9, 10, 12);

/**
 * A rate-limited work queue with controller-runtime's guarantees: a key waiting in the queue is
 * held once however often it is added; a key being processed is never handed to a second worker
 * (added again meanwhile, it is queued again when the first worker is done); failures back off
 * exponentially per key until forget(). Workers are async loops started by run(); get()/done()
 * are the underlying protocol for callers that drive the queue themselves.
 */
export class WorkQueue {
  readonly name: string;
  private readonly baseDelayMs: number;
  private readonly maxDelayMs: number;
  private readonly log: Logger;
  private readonly queue: string[] = [];
  /** Keys that need processing: queued, or added again while being processed. */
  private readonly dirty = new Set<string>();
  /** Keys being processed, with when their processing started. */
  private readonly processing = new Map<string, number>();
  private readonly addedAt = new Map<string, number>();
  private readonly delayed = new Map<string, { readyAt: number; timer: NodeJS.Timeout }>();
  private readonly failures = new Map<string, number>();
  private readonly getters: Array<(key: string | undefined) => void> = [];
  private readonly idleWaiters: Array<() => void> = [];
  private readonly workers: Promise<void>[] = [];
  private readonly unfinishedTicker: NodeJS.Timeout;
  private shuttingDown = false;
  private readonly metrics;

  constructor(opts: WorkQueueOptions) {
    this.name = opts.name;
    this.baseDelayMs = opts.baseDelayMs ?? 5;
    this.maxDelayMs = opts.maxDelayMs ?? 1_000_000;
    this.log = opts.logger ?? componentLogger("workqueue", { queue: opts.name });
    const r = opts.registry;
    const l = ["name"] as const;
    this.metrics = {
      depth: gauge(r, "workqueue_depth", "Current depth of workqueue", [...l]),
      adds: counter(r, "workqueue_adds_total", "Total number of adds handled by workqueue", [...l]),
      queueDuration: histogram(
        r,
        "workqueue_queue_duration_seconds",
        "How long in seconds an item stays in workqueue before being requested",
        [...l],
        durationBuckets,
      ),
      workDuration: histogram(
        r,
        "workqueue_work_duration_seconds",
        "How long in seconds processing an item from workqueue takes.",
        [...l],
        durationBuckets,
      ),
      retries: counter(r, "workqueue_retries_total", "Total number of retries handled by workqueue", [...l]),
      unfinished: gauge(
        r,
        "workqueue_unfinished_work_seconds",
        "How many seconds of work has been done that is in progress and hasn't been observed by work_duration. " +
          "Large values indicate stuck threads. One can deduce the number of stuck threads by observing the rate at which this increases.",
        [...l],
      ),
      longest: gauge(
        r,
        "workqueue_longest_running_processor_seconds",
        "How many seconds has the longest running processor for workqueue been running.",
        [...l],
      ),
    };
    this.metrics.depth.set({ name: this.name }, 0);
    // As client-go, refresh the in-progress gauges on a tick rather than on every scrape.
    this.unfinishedTicker = setInterval(() => this.updateUnfinished(), 500).unref();
  }

  /** Keys waiting to be handed to a worker (not those being processed or delayed). */
  get length(): number {
    return this.queue.length;
  }

  add(key: string): void {
    if (this.shuttingDown || this.dirty.has(key)) return;
    this.metrics.adds.inc({ name: this.name });
    this.metrics.depth.inc({ name: this.name });
    if (!this.addedAt.has(key)) this.addedAt.set(key, performance.now());
    this.dirty.add(key);
    if (this.processing.has(key)) return; // done() queues it once the current worker finishes
    this.queue.push(key);
    this.dispatch();
  }

  /** Adds the key after `ms`; of several pending delays for one key the earliest wins. */
  addAfter(key: string, ms: number): void {
    if (this.shuttingDown) return;
    if (ms <= 0) {
      this.add(key);
      return;
    }
    const readyAt = performance.now() + ms;
    const pending = this.delayed.get(key);
    if (pending && pending.readyAt <= readyAt) return;
    if (pending) clearTimeout(pending.timer);
    const timer = setTimeout(() => {
      this.delayed.delete(key);
      this.add(key);
    }, ms).unref();
    this.delayed.set(key, { readyAt, timer });
  }

  /** Adds the key after its backoff delay, which doubles with each call until forget(). */
  addRateLimited(key: string): void {
    if (this.shuttingDown) return;
    this.metrics.retries.inc({ name: this.name });
    this.addAfter(key, this.nextBackoffMs(key));
  }

  /** Resets the key's backoff, after it was processed successfully. */
  forget(key: string): void {
    this.failures.delete(key);
  }

  /** How many times the key has been re-added with backoff since the last forget(). */
  numRequeues(key: string): number {
    return this.failures.get(key) ?? 0;
  }

  /**
   * The next key to process, waiting for one if the queue is empty; undefined once the queue is
   * shut down and drained. The caller must call done(key) when finished with it.
   */
  get(): Promise<string | undefined> {
    const key = this.take();
    if (key !== undefined || this.shuttingDown) return Promise.resolve(key);
    return new Promise((resolve) => this.getters.push(resolve));
  }

  /** Marks the key processed; if it was added meanwhile it goes back into the queue now. */
  done(key: string): void {
    const started = this.processing.get(key);
    if (started === undefined) return;
    this.metrics.workDuration.observe({ name: this.name }, (performance.now() - started) / 1000);
    this.processing.delete(key);
    if (this.dirty.has(key)) {
      this.queue.push(key);
      this.dispatch();
    }
    if (this.processing.size === 0) this.idleWaiters.splice(0).forEach((wake) => wake());
  }

  /**
   * Starts `workers` async loops that take keys and run `handler`, as controller-runtime's
   * controller does: a throw or `{requeue: true}` re-adds the key with backoff, `{requeueAfterMs}`
   * re-adds it after that delay, anything else forgets the key's backoff.
   */
  run(handler: KeyHandler, workers = 1): void {
    if (this.workers.length) throw new Error(`work queue ${this.name} is already running`);
    if (!(workers >= 1)) throw new Error(`work queue ${this.name}: workers must be at least 1, got ${workers}`);
    for (let i = 0; i < workers; i++) this.workers.push(this.work(handler));
  }

  /**
   * Stops taking new keys (adds and pending delays are dropped), lets the workers finish every
   * key already queued, and resolves once nothing is being processed.
   */
  async shutdown(): Promise<void> {
    this.shuttingDown = true;
    for (const { timer } of this.delayed.values()) clearTimeout(timer);
    this.delayed.clear();
    this.dispatch();
    await Promise.all(this.workers);
    if (this.processing.size) await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
    clearInterval(this.unfinishedTicker);
    this.updateUnfinished();
  }

  private async work(handler: KeyHandler): Promise<void> {
    for (let key = await this.get(); key !== undefined; key = await this.get()) {
      try {
        const result = await handler(key);
        if (result?.requeueAfterMs !== undefined) {
          this.forget(key);
          this.addAfter(key, result.requeueAfterMs);
        } else if (result?.requeue) {
          this.addRateLimited(key);
        } else {
          this.forget(key);
        }
      } catch (err) {
        this.log.error(
          { key, err: (err as Error).message, requeues: this.numRequeues(key) },
          "processing failed; retrying with backoff",
        );
        this.addRateLimited(key);
      } finally {
        this.done(key);
      }
    }
  }

  private nextBackoffMs(key: string): number {
    const failures = this.failures.get(key) ?? 0;
    this.failures.set(key, failures + 1);
    return Math.min(this.baseDelayMs * 2 ** failures, this.maxDelayMs);
  }

  /** Takes the head of the queue into processing, or undefined when the queue is empty. */
  private take(): string | undefined {
    const key = this.queue.shift();
    if (key === undefined) return undefined;
    const now = performance.now();
    this.metrics.depth.dec({ name: this.name });
    this.metrics.queueDuration.observe({ name: this.name }, (now - (this.addedAt.get(key) ?? now)) / 1000);
    this.addedAt.delete(key);
    this.dirty.delete(key);
    this.processing.set(key, now);
    return key;
  }

  /** Hands queued keys to waiting getters; after shutdown, releases getters once the queue is empty. */
  private dispatch(): void {
    while (this.getters.length && this.queue.length) this.getters.shift()!(this.take());
    if (this.shuttingDown && !this.queue.length) this.getters.splice(0).forEach((resolve) => resolve(undefined));
  }

  private updateUnfinished(): void {
    const now = performance.now();
    let total = 0;
    let longest = 0;
    for (const started of this.processing.values()) {
      total += now - started;
      longest = Math.max(longest, now - started);
    }
    this.metrics.unfinished.set({ name: this.name }, total / 1000);
    this.metrics.longest.set({ name: this.name }, longest / 1000);
  }
}
