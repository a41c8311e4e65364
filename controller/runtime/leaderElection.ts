import { randomUUID } from "node:crypto";
import { hostname } from "node:os";
import { performance } from "node:perf_hooks";
import { V1MicroTime } from "@kubernetes/client-node";
import type { Registry } from "prom-client";
import { KubeApiError, type KubeClient } from "./kubeClient.js";
import { componentLogger, type Logger } from "./log.js";
import { gauge } from "./metrics.js";
import { objectPath } from "./paths.js";
import { sleep } from "./sleep.js";

/** client-go's and controller-runtime's defaults. */
export const leaderElectionDefaults = {
  leaseDurationSeconds: 15,
  renewDeadlineSeconds: 10,
  retryPeriodSeconds: 2,
} as const;

export interface LeaderElectionOptions {
  client: KubeClient;
  registry: Registry;
  leaseName: string;
  namespace: string;
  /** Unique per process; defaults to `<hostname>_<uuid>` as controller-runtime does. */
  identity?: string;
  /** How long others wait, from when they last saw the lease change, before taking it. */
  leaseDurationSeconds?: number;
  /** The leader stops leading when it has not renewed for this long. */
  renewDeadlineSeconds?: number;
  /** Between attempts to acquire and to renew. */
  retryPeriodSeconds?: number;
  /**
   * Starts the leader's work. `signal` aborts the moment leadership is lost or a stop is
   * requested. On a graceful stop the lease is still renewed until the returned promise settles
   * and released only then, so the next leader never overlaps this one. A promise that rejects
   * ends the leadership the same way: this process cannot do the leader's work, so a standby
   * should, at once (run() resolves "failed").
   */
  onStartedLeading: (signal: AbortSignal) => void | Promise<void>;
  onStoppedLeading?: () => void;
  /** Called when a different holder is observed, including this process. */
  onNewLeader?: (identity: string) => void;
  /** Release the lease on a graceful stop so a standby takes over at once (default true). */
  releaseOnCancel?: boolean;
  logger?: Logger;
}

/**
 * How run() ended: "lost" when renewal failed for renewDeadline or another holder took the lease;
 * "stopped" when the caller's signal aborted; "failed" when onStartedLeading rejected. The last
 * two release the lease first (unless releaseOnCancel is false).
 */
export type LeadershipEnd = "lost" | "stopped" | "failed";

/** A Lease as the server sends it: MicroTime fields are strings on the wire. */
interface Lease {
  apiVersion: "coordination.k8s.io/v1";
  kind: "Lease";
  metadata: { name: string; namespace: string; resourceVersion?: string };
  spec?: {
    holderIdentity?: string;
    leaseDurationSeconds?: number;
    acquireTime?: string;
    renewTime?: string;
    leaseTransitions?: number;
  };
}

/** The lease record as last seen, and when this process saw it change (its own clock). */
interface Observation {
  record: string;
  holder: string;
  durationMs: number;
  changedAt: number;
}

/**
 * Lease-based leader election, as client-go's leaderelection: acquire the Lease when it is free,
 * expired or already ours; renew every retry period; stop leading at once when renewal has not
 * succeeded within the renew deadline or another holder appears. Expiry is judged by when this
 * process last saw the lease record change, on its own monotonic clock, never by the timestamps
 * in the lease, so clock skew between machines does not matter. Writes carry the resourceVersion
 * read, so two candidates never both win (409 Conflict: try again next period).
 *
 * When run() resolves "lost" or "failed", exit the process, as controller-runtime does: caches
 * and work in flight from the old leadership must not act alongside the new leader, and a fresh
 * process starts from nothing.
 */
export class LeaderElector {
  readonly identity: string;
  readonly leaseDurationSeconds: number;
  readonly renewDeadlineSeconds: number;
  readonly retryPeriodSeconds: number;
  private readonly log: Logger;
  private readonly status;
  private lease?: Lease;
  private observed?: Observation;
  /** When the last successful acquire or renew request was sent: the renew deadline counts from it. */
  private renewedAt = 0;
  /** The renewal being sent, settled or not: a release must not race it for the resourceVersion. */
  private inFlight: Promise<unknown> = Promise.resolve();
  private running = false;
  private leading = false;

  constructor(private readonly opts: LeaderElectionOptions) {
    this.identity = opts.identity ?? `${hostname()}_${randomUUID()}`;
    this.leaseDurationSeconds = opts.leaseDurationSeconds ?? leaderElectionDefaults.leaseDurationSeconds;
    this.renewDeadlineSeconds = opts.renewDeadlineSeconds ?? leaderElectionDefaults.renewDeadlineSeconds;
    this.retryPeriodSeconds = opts.retryPeriodSeconds ?? leaderElectionDefaults.retryPeriodSeconds;
    this.validate();
    this.log =
      opts.logger ??
      componentLogger("leader-election", { lease: `${opts.namespace}/${opts.leaseName}`, identity: this.identity });
    this.status = gauge(
      opts.registry,
      "leader_election_master_status",
      "Gauge of if the reporting system is master of the relevant lease, 0 indicates backup, 1 indicates master. 'name' is the string used to identify the lease. Please make sure to group by name.",
      ["name"],
    );
    this.setLeading(false);
  }

  /** True while this process holds the lease by its own reckoning. */
  isLeader(): boolean {
    return this.leading;
  }

  /** The holder last seen on the lease ("" when released), or undefined before the first read. */
  observedLeader(): string | undefined {
    return this.observed?.holder;
  }

  /**
   * Campaigns until this process leads, leads until leadership is lost or `signal` aborts, and
   * resolves saying which. Call it once per elector.
   */
  async run(signal: AbortSignal = new AbortController().signal): Promise<LeadershipEnd> {
    if (this.running)
      throw new Error(`leader elector ${this.identity} for lease ${this.opts.leaseName} is already running`);
    this.running = true;
    try {
      if (!(await this.acquire(signal))) return "stopped";
      return await this.lead(signal);
    } finally {
      this.running = false;
    }
  }

  /**
   * Gives the lease up if this process holds it: an empty holder and a 1 s duration let a standby
   * take it on its next try instead of waiting out the lease duration. run() calls it on a
   * graceful stop, after the leader's work has ended; calling it while run() still leads would
   * only make the next renewal take the lease back. A failure is logged; the lease then expires.
   */
  async release(): Promise<boolean> {
    if (!this.lease || this.observed?.holder !== this.identity) return false;
    const now = new V1MicroTime().toISOString();
    const released: Lease = {
      ...this.lease,
      spec: { ...this.lease.spec, holderIdentity: "", leaseDurationSeconds: 1, acquireTime: now, renewTime: now },
    };
    try {
      this.remember(
        await this.opts.client.request<Lease>({
          method: "PUT",
          path: this.leasePath(this.opts.leaseName),
          body: released,
          timeoutMs: this.renewDeadlineSeconds * 1000,
        }),
      );
      this.log.info("released the lease");
      return true;
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, "could not release the lease; it will expire instead");
      return false;
    }
  }

  private async acquire(stop: AbortSignal): Promise<boolean> {
    this.log.info("waiting to acquire the lease");
    while (!stop.aborted) {
      try {
        if (await this.tryAcquireOrRenew(performance.now() + this.renewDeadlineSeconds * 1000)) return true;
      } catch (err) {
        this.log.warn({ err: (err as Error).message }, "could not acquire the lease; retrying");
      }
      await sleep(this.acquireDelayMs(), stop);
    }
    return false;
  }

  private async lead(stop: AbortSignal): Promise<LeadershipEnd> {
    this.log.info("became leader");
    this.setLeading(true);
    const leadership = new AbortController();
    // On a stop request the work winds down first while renewals go on, as controller-runtime
    // stops its leader election last: the lease stays ours until nothing of ours runs any more.
    // Work that fails has wound down by itself, and ends the leadership the same way.
    const wound = new AbortController();
    let failure: Error | undefined;
    const work = (async () => this.opts.onStartedLeading(leadership.signal))().catch((err: unknown) => {
      failure = err instanceof Error ? err : new Error(String(err));
      this.log.error({ err: failure.message }, "the leader's work failed; giving up the lease");
      wound.abort();
    });
    const onStop = () => {
      leadership.abort();
      void work.then(() => wound.abort());
    };
    stop.addEventListener("abort", onStop, { once: true });
    if (stop.aborted) onStop();
    const renewal = await this.renewUntilEnd(wound.signal);
    stop.removeEventListener("abort", onStop);
    leadership.abort();
    const end: LeadershipEnd = renewal === "stopped" && failure ? "failed" : renewal;
    if (end !== "lost") {
      await this.inFlight;
      this.setLeading(false);
      if (this.opts.releaseOnCancel ?? true) await this.release();
    } else {
      this.setLeading(false);
    }
    this.opts.onStoppedLeading?.();
    return end;
  }

  /**
   * Renews every retry period until `stop` aborts or leadership is lost. The renew deadline
   * runs on its own timer from the start of the last successful renewal, so leadership ends on
   * time even while a request hangs; requests time out at that deadline too.
   */
  private renewUntilEnd(stop: AbortSignal): Promise<LeadershipEnd> {
    const deadlineMs = this.renewDeadlineSeconds * 1000;
    return new Promise((resolve) => {
      const ended = new AbortController();
      let deadlineAt = this.renewedAt + deadlineMs;
      const finish = (end: LeadershipEnd, why: string) => {
        if (ended.signal.aborted) return;
        ended.abort();
        clearTimeout(deadline);
        stop.removeEventListener("abort", onStop);
        if (end === "lost") this.log.error({ reason: why }, "leadership lost");
        else this.log.info({ reason: why }, "stopping leadership");
        resolve(end);
      };
      const arm = () =>
        setTimeout(
          () => finish("lost", `no successful renewal within ${this.renewDeadlineSeconds} s`),
          Math.max(0, deadlineAt - performance.now()),
        );
      let deadline = arm();
      const onStop = () => finish("stopped", "the leader's work has ended");
      stop.addEventListener("abort", onStop, { once: true });
      if (stop.aborted) onStop();

      void (async () => {
        while (!ended.signal.aborted) {
          await sleep(this.retryPeriodSeconds * 1000, ended.signal);
          if (ended.signal.aborted) return;
          try {
            const attempt = this.tryAcquireOrRenew(deadlineAt);
            this.inFlight = attempt.catch(() => {});
            const renewed = await attempt;
            if (ended.signal.aborted) return;
            if (renewed) {
              deadlineAt = this.renewedAt + deadlineMs;
              clearTimeout(deadline);
              deadline = arm();
            } else if (this.observed?.holder !== this.identity) {
              finish("lost", `the lease is now held by ${JSON.stringify(this.observed?.holder)}`);
            }
          } catch (err) {
            if (!ended.signal.aborted) this.log.warn({ err: (err as Error).message }, "renewal failed; retrying");
          }
        }
      })();
    });
  }

  /**
   * One round of client-go's tryAcquireOrRenew. A leader first renews with one write, the lease
   * it last wrote with a new renewTime: its resourceVersion makes the write fail (409) if anyone
   * else wrote since. Otherwise, or when that write fails: read the lease (create it when
   * missing), leave it alone if another holder's lease has not expired by our clock, else write
   * ourselves in. Resolves false when another holder keeps it or a concurrent write won (409).
   */
  private async tryAcquireOrRenew(deadlineAt: number): Promise<boolean> {
    const started = performance.now();
    const timeoutMs = () => Math.max(1, deadlineAt - performance.now());
    const now = new V1MicroTime().toISOString();
    const name = this.opts.leaseName;
    const mine = this.lease;
    if (this.leading && mine?.metadata.resourceVersion && this.observed?.holder === this.identity) {
      const renewed: Lease = { ...mine, spec: { ...mine.spec, renewTime: now } };
      try {
        if (await this.write("PUT", this.leasePath(name), renewed, timeoutMs(), started)) return true;
      } catch (err) {
        if (performance.now() >= deadlineAt) throw err;
      }
      this.log.debug("the lease changed since our last write; reading it");
    }
    let current: Lease;
    try {
      current = await this.opts.client.request<Lease>({
        method: "GET",
        path: this.leasePath(name),
        timeoutMs: timeoutMs(),
      });
    } catch (err) {
      if (!(err instanceof KubeApiError && err.status === 404)) throw err;
      const created: Lease = {
        apiVersion: "coordination.k8s.io/v1",
        kind: "Lease",
        metadata: { name, namespace: this.opts.namespace },
        spec: {
          holderIdentity: this.identity,
          leaseDurationSeconds: this.leaseDurationSeconds,
          acquireTime: now,
          renewTime: now,
          leaseTransitions: 0,
        },
      };
      return this.write("POST", this.leasePath(), created, timeoutMs(), started);
    }
    this.remember(current);
    const spec = current.spec ?? {};
    const observed = this.observed!;
    const heldByOther = observed.holder !== "" && observed.holder !== this.identity;
    if (heldByOther && performance.now() < observed.changedAt + observed.durationMs) return false;
    const takeover = observed.holder !== this.identity;
    const next: Lease = {
      ...current,
      spec: {
        ...spec,
        holderIdentity: this.identity,
        leaseDurationSeconds: this.leaseDurationSeconds,
        acquireTime: takeover ? now : (spec.acquireTime ?? now),
        renewTime: now,
        leaseTransitions: (spec.leaseTransitions ?? 0) + (takeover ? 1 : 0),
      },
    };
    return this.write("PUT", this.leasePath(name), next, timeoutMs(), started);
  }

  /** The Lease collection of the elector's namespace, or one Lease in it. */
  private leasePath(name?: string): string {
    const target = { apiVersion: "coordination.k8s.io/v1", resource: "leases", namespace: this.opts.namespace };
    return objectPath(name === undefined ? target : { ...target, name });
  }

  /** Creates or replaces the lease; false when another writer got there first. */
  private async write(
    method: "POST" | "PUT",
    path: string,
    lease: Lease,
    timeoutMs: number,
    started: number,
  ): Promise<boolean> {
    try {
      this.remember(await this.opts.client.request<Lease>({ method, path, body: lease, timeoutMs }));
      this.renewedAt = started;
      return true;
    } catch (err) {
      if (err instanceof KubeApiError && err.status === 409) return false;
      throw err;
    }
  }

  /** Keeps the lease for its resourceVersion, and restarts the expiry clock when the record changed. */
  private remember(lease: Lease): void {
    this.lease = lease;
    const spec = lease.spec ?? {};
    const record = JSON.stringify([
      spec.holderIdentity,
      spec.leaseDurationSeconds,
      spec.acquireTime,
      spec.renewTime,
      spec.leaseTransitions,
    ]);
    if (this.observed?.record === record) return;
    const holder = spec.holderIdentity ?? "";
    if (holder && holder !== this.observed?.holder) {
      this.log.info({ leader: holder }, "new leader observed");
      this.opts.onNewLeader?.(holder);
    }
    this.observed = {
      record,
      holder,
      durationMs: (spec.leaseDurationSeconds ?? 0) * 1000,
      changedAt: performance.now(),
    };
  }

  /**
   * The retry period plus up to 20 % jitter so candidates do not move in lockstep, but no later
   * than the moment the observed holder's lease expires, so a dead leader is replaced promptly.
   */
  private acquireDelayMs(): number {
    const jittered = this.retryPeriodSeconds * 1000 * (1 + 0.2 * Math.random());
    const o = this.observed;
    if (!o || !o.holder || o.holder === this.identity) return jittered;
    const untilExpiry = o.changedAt + o.durationMs - performance.now();
    return untilExpiry > 0 ? Math.min(jittered, untilExpiry + 1) : jittered;
  }

  private setLeading(on: boolean): void {
    this.leading = on;
    this.status.set({ name: this.opts.leaseName }, on ? 1 : 0);
  }

  private validate(): void {
    const { leaseDurationSeconds: lease, renewDeadlineSeconds: renew, retryPeriodSeconds: retry } = this;
    const problems = [
      !(Number.isInteger(lease) && lease >= 1) &&
        `leaseDurationSeconds must be a whole number of seconds >= 1, got ${lease}`,
      !(renew > 0) && `renewDeadlineSeconds must be > 0, got ${renew}`,
      !(retry > 0) && `retryPeriodSeconds must be > 0, got ${retry}`,
      !(lease > renew) && `leaseDurationSeconds (${lease}) must be greater than renewDeadlineSeconds (${renew})`,
      // client-go's rule: the deadline must leave room for a jittered retry.
      !(renew > 1.2 * retry) &&
        `renewDeadlineSeconds (${renew}) must be greater than 1.2 x retryPeriodSeconds (${retry})`,
    ].filter(Boolean);
    if (problems.length) throw new Error(`leader election for lease ${this.opts.leaseName}: ${problems.join("; ")}`);
  }
}
