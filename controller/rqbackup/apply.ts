// The RqBackup reconcile: observe (status, spec, the Job of a `pvc` attempt) -> plan (pure,
// ./plan.ts) -> apply (status writes, Events, metrics, the transfer or the Job). The state that
// outlives one reconcile (status written but not yet cached, transfers in flight, slots) lives
// here; every decision is made by the plan, with the clock it is given.
import { createHash } from "node:crypto";
import { tmpdir } from "node:os";
import { performance } from "node:perf_hooks";
import type { KubernetesObject, V1Job, V1Pod } from "@kubernetes/client-node";
import { RqliteError } from "../rqlite/client.js";
import { formatErrors, validateBackup, type RqCluster } from "../../shared/index.js";
import { BACKUP_KIND } from "../../shared/backup-names.js";
import { VERIFY_REQUEST_ANNOTATION, verificationSchema } from "../../shared/backup-schema.js";
import { displayEndpoint } from "../../shared/s3-endpoint.js";
import { API_VERSION, GROUP, MANAGER_NAME } from "../../shared/names.js";
import { KubeApiError } from "../runtime/kubeClient.js";
import { makeEventRecorder, type EventRecorder } from "../runtime/events.js";
import { objectKey, type Informer } from "../runtime/informer.js";
import { componentLogger, type Logger } from "../runtime/log.js";
import type { Manager } from "../runtime/manager.js";
import { makeWriter, type Writer } from "../runtime/writer.js";
import { objectPath } from "../runtime/paths.js";
import type { HandlerResult } from "../runtime/workqueue.js";
import { couldNotConnect } from "../access/s3.js";
import { operatorImage } from "../access/operatorImage.js";
import { backupMetrics, lastSuccessBy, verificationBy, type BackupMetrics } from "./metrics.js";
import {
  parseReading,
  planVerification,
  verificationOutcome,
  withCondition,
  type ObjectReading,
  type VerificationInputs,
} from "./verification.js";
import { readBack } from "./verifyObject.js";
import {
  BACKUP_JOB_CONTAINER,
  backupJobName,
  jobOutcome,
  renderBackupJob,
  renderVerifyJob,
  verifyJobName,
} from "./job.js";
import { isFailure, observePvcSource, observeSource, pvcBackupFile, type PvcSource, type Source } from "./observe.js";
import {
  completedStatus,
  DEFAULT_RETRY,
  failedAttempt,
  isPermanentS3Error,
  planStep,
  type AttemptFailure,
  type BackupObservation,
  type RetryPolicy,
} from "./plan.js";
import { SourceError, transfer } from "./transfer.js";
import { acquire, hold, NO_SLOTS, release, type BackupSlots, type SlotLimits } from "./slots.js";
import type { BackupStream } from "../rqlite/client.js";
import type { RqBackup, RqBackupStatus } from "./types.js";

import type { BackupControllerOptions } from "./controller.js";

/** How often a backup waiting for a slot looks again, should no release wake it. */
const SLOT_RECHECK_MS = 30_000;
const BACKUP_TYPE = { apiVersion: API_VERSION, kind: BACKUP_KIND };

export class BackupReconciler {
  readonly log: Logger = componentLogger("controller", { controller: "rqbackup" });
  /** Queues a key again (a slot freed for it). */
  wake: (key: string) => void = () => undefined;
  /** --backup-job-image, else the image this process runs from (access/operatorImage.ts). */
  private readonly resolveJobImage: () => Promise<string>;
  private readonly writer: Writer;
  private readonly metrics: BackupMetrics;
  private readonly retry: RetryPolicy;
  private readonly recorder: EventRecorder;
  private readonly now: () => number;
  /** Status this process wrote last, by uid: the cache may not show it yet. */
  private readonly written = new Map<string, RqBackupStatus>();
  /** Backups (by uid) whose transfer runs in this process now, with the way to stop it. */
  private readonly inFlight = new Map<string, AbortController>();
  private readonly deadlineMs: number;
  /** Which attempts may run now (./slots.ts); the decisions are pure, the state lives here. */
  private slots: BackupSlots = NO_SLOTS;
  private readonly slotLimits: SlotLimits;

  constructor(
    private readonly mgr: Manager,
    private readonly opts: BackupControllerOptions,
    private readonly backups: Informer<RqBackup>,
    private readonly clusters: Informer<RqCluster & KubernetesObject>,
    private readonly jobs: Informer<V1Job>,
  ) {
    this.resolveJobImage = operatorImage(mgr.client, opts.jobImage, opts.operatorNamespace);
    this.deadlineMs = opts.deadlineMs ?? 3_600_000;
    this.slotLimits = {
      total: opts.workers,
      perNamespace: Math.min(opts.workers, opts.maxPerNamespace ?? opts.workers),
    };
    this.writer = makeWriter(mgr.client, MANAGER_NAME);
    this.metrics = backupMetrics(mgr.registry);
    this.retry = opts.retry ?? DEFAULT_RETRY;
    this.now = opts.now ?? Date.now;
    this.recorder = makeEventRecorder(
      mgr.client,
      { component: MANAGER_NAME, instance: opts.identity, involvedApiVersion: API_VERSION, involvedKind: BACKUP_KIND },
      (err) => this.log.warn({ err: (err as Error).message }, "could not record an Event"),
    );
  }

  /** A deleted RqBackup: a transfer in flight is abandoned (the aborted upload leaves no object). */
  forget(b: RqBackup): void {
    const uid = b.metadata?.uid ?? "";
    this.written.delete(uid);
    this.inFlight.get(uid)?.abort();
    // A running Job goes with its owner (garbage collection); a waiter waits no more.
    if (!this.inFlight.has(uid)) this.releaseSlot(objectKey(b));
    this.refreshLastSuccess();
  }

  /** Reconciles one backup; throws to make the queue retry it with backoff. */
  async reconcile(b: RqBackup, key: string, signal: AbortSignal): Promise<HandlerResult | undefined> {
    const log = this.log.child({ rqbackup: key });
    // What the step left of this backup's slot: an attempt still running (a Job) keeps it, one
    // refused waits for it; anything else frees it, an S3 transfer having ended within the step.
    const slot = { keep: false };
    try {
      return await this.step(b, log, slot, signal);
    } finally {
      if (!slot.keep) this.releaseSlot(key);
      this.refreshLastSuccess();
    }
  }

  /** What the plan needs, read before anything the backup names: its Job only when one may run. */
  private async observe(b: RqBackup): Promise<BackupObservation> {
    const uid = b.metadata!.uid!;
    const status: RqBackupStatus = { ...b.status, ...this.written.get(uid) };
    const inFlight = this.inFlight.has(uid);
    const base = { now: this.now(), status, inFlight, deleting: Boolean(b.metadata?.deletionTimestamp) };
    if (base.deleting) return base;
    const invalid = validateBackup(b, this.opts.s3.policy).errors;
    if (invalid.length > 0) {
      const reason = `${formatErrors(`${BACKUP_KIND}.${GROUP}`, b.metadata!.name!, invalid)}; create a new RqBackup with a valid spec`;
      return { ...base, invalid: reason };
    }
    if (!b.spec?.destination.pvc || status.phase !== "Running" || inFlight) return base;
    const job = await this.findJob(b, backupJobName(b.metadata!.name!, Math.max(1, status.attempts ?? 1)));
    return { ...base, job: job ? jobOutcome(job, await this.podsOf(job)) : "missing" };
  }

  private async step(
    b: RqBackup,
    log: Logger,
    slot: { keep: boolean },
    signal: AbortSignal,
  ): Promise<HandlerResult | undefined> {
    const key = objectKey(b);
    const uid = b.metadata!.uid!;
    const observed = await this.observe(b);
    let action = planStep(observed, this.retry);
    let source: Source | PvcSource | undefined;
    if (action.kind === "transfer" && !this.acquireSlot(key, log)) {
      // A slot that frees wakes it (releaseSlot); the recheck only covers a wake-up lost to a
      // restart of the holder's reconcile.
      slot.keep = true;
      return { requeueAfterMs: SLOT_RECHECK_MS };
    }
    if (action.kind === "transfer") {
      const deps = {
        client: this.mgr.client,
        writer: this.writer,
        s3: this.opts.s3,
        addressing: this.opts.addressing,
        ...(this.opts.knownCas ? { knownCas: this.opts.knownCas } : {}),
        cluster: (ns: string, name: string) => this.clusters.get(ns, name),
      };
      const src = b.spec?.destination.pvc ? await observePvcSource(deps, b) : await observeSource(deps, b);
      if (isFailure(src)) action = planStep(observed, this.retry, src);
      else source = src;
    }
    switch (action.kind) {
      case "none":
        // Finished or in flight: a Completed backup may still be owed its verification.
        if (observed.deleting || observed.invalid !== undefined || observed.inFlight) return undefined;
        return this.verifyStep(b, observed.status, log, slot, signal);
      case "abandon":
        this.inFlight.get(uid)?.abort();
        return undefined;
      case "wait":
        return { requeueAfterMs: action.afterMs };
      case "watchJob":
        // Found running (also after a restart): it holds a slot until it ends.
        this.slots = hold(this.slots, key);
        slot.keep = true;
        if (action.reason) await this.writeStatus(b, { reason: action.reason });
        return { requeueAfterMs: action.afterMs };
      case "status": {
        await this.writeStatus(b, action.status);
        const labels = { namespace: b.metadata!.namespace!, cluster: b.spec!.cluster };
        if (action.count) this.countAttempt(b, action.count);
        if (action.count && action.seconds !== undefined)
          this.metrics.duration.observe({ ...labels, result: action.count }, action.seconds);
        if (action.bytes !== undefined) this.metrics.bytes.inc(labels, action.bytes);
        const { phase, reason, attempts, size, sha256 } = action.status;
        if (phase === "Completed")
          log.info({ attempt: attempts, size, sha256, seconds: action.seconds }, "backup completed");
        else log.info({ phase, reason }, "backup attempt failed or given up");
        return action.retryAfterMs === undefined ? undefined : { requeueAfterMs: action.retryAfterMs };
      }
      case "transfer": {
        const src = source!;
        if (src.kind === "pvc") {
          const started = await this.startJob(b, action.attempt, action.status, src, log);
          slot.keep = this.written.get(uid)?.phase === "Running";
          return started;
        }
        return this.attempt(b, action.attempt, action.status, src, log, signal);
      }
    }
  }

  /**
   * Reads a Completed backup back and checks that it restores, when spec.verify or the
   * verify-requested annotation asks (./verification.ts decides, ./verifyObject.ts reads). It
   * holds a backup slot: it downloads as much as the upload sent.
   */
  private async verifyStep(
    b: RqBackup,
    status: RqBackupStatus,
    log: Logger,
    slot: { keep: boolean },
    signal: AbortSignal,
  ): Promise<HandlerResult | undefined> {
    const request = b.metadata?.annotations?.[VERIFY_REQUEST_ANNOTATION];
    const inputs: VerificationInputs = {
      now: this.now(),
      verify: b.spec?.verify ?? false,
      ...(request !== undefined ? { request } : {}),
      status,
    };
    const step = planVerification(inputs, this.retry);
    if (step.kind === "none") return undefined;
    if (step.kind === "wait") return { requeueAfterMs: step.afterMs };
    if (b.spec?.destination.pvc) {
      const reading = await this.verifyByJob(b, status, request);
      if (!reading) return undefined;
      return this.recordVerification(b, inputs, reading, performance.now(), log);
    }
    const key = objectKey(b);
    if (!this.acquireSlot(key, log)) {
      slot.keep = true;
      return { requeueAfterMs: SLOT_RECHECK_MS };
    }
    const uid = b.metadata!.uid!;
    const stop = new AbortController();
    const abandon = () => stop.abort();
    signal.addEventListener("abort", abandon, { once: true });
    if (signal.aborted) stop.abort();
    this.inFlight.set(uid, stop);
    const began = performance.now();
    try {
      const reading = await readBack(
        {
          writer: this.writer,
          s3: this.opts.s3,
          tmpDir: this.opts.verifyDir ?? tmpdir(),
          maxBytes: this.opts.verifyMaxBytes ?? DEFAULT_VERIFY_MAX_BYTES,
          timeoutMs: this.deadlineMs,
          signal: stop.signal,
        },
        b,
      );
      // A verification cut off by the operator stopping is no finding: the next leader reads again.
      if (stop.signal.aborted) return undefined;
      return await this.recordVerification(b, inputs, reading, began, log);
    } finally {
      signal.removeEventListener("abort", abandon);
      this.inFlight.delete(uid);
    }
  }

  /** Judges a reading (./verification.ts), writes it to status, counts it, and says when to read again. */
  private async recordVerification(
    b: RqBackup,
    inputs: VerificationInputs,
    reading: ObjectReading,
    began: number,
    log: Logger,
  ): Promise<HandlerResult | undefined> {
    const outcome = verificationOutcome({ ...inputs, now: this.now() }, reading, this.retry);
    await this.writeStatus(b, {
      verification: outcome.verification,
      conditions: withCondition(inputs.status.conditions, outcome.condition, this.now()),
    });
    const result = typeof outcome.result === "string" ? outcome.result : "retry";
    this.metrics.verifications.inc({ namespace: b.metadata!.namespace!, cluster: b.spec!.cluster, result });
    const seconds = (performance.now() - began) / 1000;
    log.info(
      { result, reason: outcome.condition.reason, message: outcome.condition.message, seconds },
      "backup verification",
    );
    return typeof outcome.result === "string" ? undefined : { requeueAfterMs: outcome.result.retryAfterMs };
  }

  /**
   * A `pvc` backup is read back by a Job that mounts its claim (./verifyFile.ts): created once per
   * verification (a new request, or a retry of an unfinished one, gets a new Job), then its
   * reading once it ended. Undefined while it runs: its Job's events bring the backup back.
   */
  private async verifyByJob(
    b: RqBackup,
    status: RqBackupStatus,
    request: string | undefined,
  ): Promise<ObjectReading | undefined> {
    const v = status.verification;
    const tries = v && v.request === request && v.result === undefined ? (v.attempts ?? 0) : 0;
    const suffix = `${createHash("sha256")
      .update(request ?? "")
      .digest("hex")
      .slice(0, 8)}-${tries + 1}`;
    const name = verifyJobName(b.metadata!.name!, suffix);
    const job = await this.findJob(b, name);
    if (!job) {
      const image = await this.resolveJobImage().catch((err: Error) => err);
      if (image instanceof Error) return { kind: "unreadable", reason: image.message };
      await this.writer.create(
        renderVerifyJob({
          backup: jobOwner(b),
          suffix,
          image,
          claimName: b.spec!.destination.pvc!.claimName,
          file: pvcBackupFile(b),
          format: b.spec!.format ?? "binary",
          compress: b.spec!.compress ?? true,
          maxBytes: this.opts.verifyMaxBytes ?? DEFAULT_VERIFY_MAX_BYTES,
          deadlineSeconds: Math.ceil(this.deadlineMs / 1000),
        }),
      );
      return undefined;
    }
    const pods = await this.podsOf(job);
    const outcome = jobOutcome(job, pods);
    if (outcome.kind === "running") return undefined;
    const message = pods
      .map((p) => p.status?.containerStatuses?.find((c) => c.name === BACKUP_JOB_CONTAINER)?.state?.terminated?.message)
      .find((m) => m !== undefined);
    const reading = parseReading(message);
    if (reading) return reading;
    return {
      kind: "unreadable",
      reason: outcome.kind === "failed" ? outcome.reason : `Job ${name} reported no reading`,
    };
  }

  /** Asks for a slot for `key`; false (and the reason logged once) when it has to wait. */
  private acquireSlot(key: string, log: Logger): boolean {
    const d = acquire(this.slots, key, this.slotLimits);
    const known = this.slots.waiting.includes(key);
    this.slots = d.slots;
    if (!d.start && !known) log.info({ reason: d.reason }, "backup waits for a slot");
    return d.start;
  }

  private releaseSlot(key: string): void {
    const { slots, wake } = release(this.slots, key, this.slotLimits);
    this.slots = slots;
    for (const k of wake) this.wake(k);
  }

  /** Writes a failed attempt's status (and counts it), and says when to look again. */
  private async failAttempt(b: RqBackup, attempt: number, failure: AttemptFailure): Promise<HandlerResult | undefined> {
    const next = failedAttempt({ now: this.now() }, this.retry, attempt, failure);
    if (next.kind !== "status") return undefined;
    await this.writeStatus(b, next.status);
    this.countAttempt(b, "failed");
    return next.retryAfterMs === undefined ? undefined : { requeueAfterMs: next.retryAfterMs };
  }

  /**
   * Starts attempt `attempt` of a `pvc` backup: creates its Job (adopting one a previous try
   * created before its status write was lost), then says Running. The Job's events bring the
   * backup back when it ends.
   */
  private async startJob(
    b: RqBackup,
    attempt: number,
    running: RqBackupStatus,
    src: PvcSource,
    log: Logger,
  ): Promise<HandlerResult | undefined> {
    const image = await this.resolveJobImage().catch((err: Error) => err);
    if (image instanceof Error) return this.failAttempt(b, attempt, { reason: image.message, permanent: false });
    const job = renderBackupJob({
      backup: jobOwner(b),
      attempt,
      image,
      claimName: src.claimName,
      file: src.file,
      leaderUrl: src.access.url,
      leaderId: src.leader,
      ...(src.access.auth ? { auth: src.access.auth } : {}),
      ...(src.access.ca ? { ca: src.access.ca } : {}),
      format: b.spec!.format ?? "binary",
      compress: b.spec!.compress ?? true,
      vacuum: b.spec!.vacuum ?? false,
      deadlineSeconds: Math.ceil(this.deadlineMs / 1000),
    });
    try {
      await this.writer.create(job);
    } catch (err) {
      const cause = (err as Error).cause;
      if (!(cause instanceof KubeApiError && cause.status === 409)) throw err;
      // Ours from a try whose status write was lost is adopted; a namesake left by a deleted
      // RqBackup of the same name waits for the garbage collector (the queue retries).
      if (!(await this.findJob(b, backupJobName(b.metadata!.name!, attempt)))) {
        throw new Error(
          `Job ${job.metadata!.namespace}/${job.metadata!.name} exists but is not this RqBackup's (left by a deleted namesake?); waiting until it is deleted`,
          { cause: err },
        );
      }
    }
    await this.writeStatus(b, {
      ...running,
      leader: src.leader,
      location: src.location,
      ...(src.rqliteVersion ? { rqliteVersion: src.rqliteVersion } : {}),
    });
    log.info({ attempt, leader: src.leader, location: src.location, job: job.metadata!.name }, "backup Job created");
    return undefined;
  }

  /** The attempt's Job: from the cache, or, as the cache lags a Job just created, from the API server. */
  private async findJob(b: RqBackup, name: string): Promise<V1Job | undefined> {
    const ns = b.metadata!.namespace!;
    const owned = (j: V1Job | undefined) =>
      j?.metadata?.ownerReferences?.some((o) => o.uid === b.metadata!.uid) ? j : undefined;
    const cached = owned(this.jobs.get(ns, name));
    if (cached) return cached;
    // A list narrowed to the one name: the role needs no get.
    const listed = await this.mgr.client.request<{ items: V1Job[] }>({
      method: "GET",
      path: objectPath({ apiVersion: "batch/v1", resource: "jobs", namespace: ns }),
      query: { fieldSelector: `metadata.name=${name}` },
      timeoutMs: 30_000,
    });
    return owned(listed.items[0]);
  }

  private async podsOf(job: V1Job): Promise<V1Pod[]> {
    const pods = await this.mgr.client.request<{ items: V1Pod[] }>({
      method: "GET",
      path: objectPath({ apiVersion: "v1", resource: "pods", namespace: job.metadata!.namespace! }),
      query: { labelSelector: `batch.kubernetes.io/controller-uid=${job.metadata!.uid}` },
      timeoutMs: 30_000,
    });
    return pods.items;
  }

  private async attempt(
    b: RqBackup,
    attempt: number,
    running: RqBackupStatus,
    src: Source,
    log: Logger,
    signal: AbortSignal,
  ): Promise<HandlerResult | undefined> {
    const uid = b.metadata!.uid!;
    const stop = new AbortController();
    // A controller that stops (the Lease lost or handed over) abandons the transfer; the next
    // leader starts it again.
    const abandon = () => stop.abort();
    signal.addEventListener("abort", abandon, { once: true });
    if (signal.aborted) stop.abort();
    this.inFlight.set(uid, stop);
    let overdue = false;
    let body: BackupStream["body"] | undefined;
    const deadline = setTimeout(() => {
      overdue = true;
      body?.destroy();
      stop.abort();
    }, this.deadlineMs);
    const labels = { namespace: b.metadata!.namespace!, cluster: b.spec!.cluster };
    const began = performance.now();
    try {
      await this.writeStatus(b, {
        ...running,
        leader: src.leader,
        location: src.location,
        ...(src.rqliteVersion ? { rqliteVersion: src.rqliteVersion } : {}),
      });
      log.info({ attempt, leader: src.leader, location: src.location }, "backup attempt started");
      const format = b.spec!.format ?? "binary";
      const compress = b.spec!.compress ?? true;
      let outcome: RqBackupStatus;
      let retryAfterMs: number | undefined;
      try {
        // The size only picks the upload's part size; without it the parts are the smallest.
        const expectedBytes = (await src.rqlite.nodeStats().catch(() => undefined))?.dbSizeBytes;
        const stream = await src.rqlite.backupStream({ format, compress, vacuum: b.spec!.vacuum ?? false });
        body = stream.body;
        if (overdue) body.destroy();
        const done = await transfer(
          stream,
          { s3: src.s3, bucket: src.bucket, key: src.key },
          { format, compress, signal: stop.signal, ...(expectedBytes ? { expectedBytes } : {}) },
        );
        outcome = completedStatus(this.now(), attempt, {
          ...done,
          location: src.location,
          leader: src.leader,
          ...(src.rqliteVersion ? { rqliteVersion: src.rqliteVersion } : {}),
        });
        const seconds = (performance.now() - began) / 1000;
        this.metrics.bytes.inc(labels, done.size);
        this.metrics.duration.observe({ ...labels, result: "completed" }, seconds);
        this.countAttempt(b, "completed");
        log.info({ attempt, size: done.size, sha256: done.sha256, seconds }, "backup completed");
      } catch (err) {
        const failure = describeFailure(err, src, stop.signal.aborted, overdue ? this.deadlineMs : undefined);
        const next = failedAttempt({ now: this.now() }, this.retry, attempt, failure);
        outcome = next.kind === "status" ? next.status : { phase: "Failed", reason: failure.reason };
        retryAfterMs = next.kind === "status" ? next.retryAfterMs : undefined;
        this.metrics.duration.observe({ ...labels, result: "failed" }, (performance.now() - began) / 1000);
        this.countAttempt(b, "failed");
        log.warn({ attempt, reason: failure.reason, phase: outcome.phase }, "backup attempt failed");
        // The reason is what tenants see; what actually broke stays in this log, at debug.
        log.debug({ attempt, err: (err as Error).message }, "backup attempt failed: the error");
      }
      await this.writeStatus(b, outcome);
      return retryAfterMs === undefined ? undefined : { requeueAfterMs: retryAfterMs };
    } finally {
      clearTimeout(deadline);
      signal.removeEventListener("abort", abandon);
      this.inFlight.delete(uid);
      src.s3.destroy();
    }
  }

  private countAttempt(b: RqBackup, result: "completed" | "failed"): void {
    this.metrics.attempts.inc({ namespace: b.metadata!.namespace!, cluster: b.spec!.cluster, result });
  }

  private async writeStatus(b: RqBackup, status: RqBackupStatus): Promise<void> {
    const uid = b.metadata!.uid!;
    const events = this.recorder({ namespace: b.metadata!.namespace!, name: b.metadata!.name!, uid });
    if (status.phase === "Completed") {
      events.normal(
        "BackupCompleted",
        `${status.size} bytes to ${status.location} from leader ${status.leader} (sha256 ${status.sha256})`,
      );
    } else if (status.phase === "Failed") events.warning("BackupFailed", status.reason ?? "failed");
    else if (status.phase === "Pending" && status.reason) events.warning("BackupAttemptFailed", status.reason);
    else if (status.phase === "Running") {
      events.normal("BackupStarted", `attempt ${status.attempts}: from leader ${status.leader} to ${status.location}`);
    }
    if (status.verification?.result === "Verified")
      events.normal("BackupVerified", status.verification.message ?? "verified");
    else if (status.verification?.result === "Failed")
      events.warning("BackupVerificationFailed", status.verification.message ?? "verification failed");
    const patch = {
      ...status,
      // A merge patch keeps the keys it does not name: a verification replaces the last one whole.
      ...(status.verification ? { verification: wholeVerification(status.verification) } : {}),
      observedGeneration: b.metadata!.generation ?? 1,
    };
    await this.writer.patchStatus(
      { ...BACKUP_TYPE, metadata: { name: b.metadata!.name!, namespace: b.metadata!.namespace! } },
      { status: patch },
    );
    // Remembered only once written: a Completed that did not reach the API server must not stop
    // the next reconcile from seeing the attempt as unfinished (and taking the backup again).
    this.written.set(uid, { ...this.written.get(uid), ...status });
    // Sent once the status says the same.
    events.flush();
  }

  /** Sets the last-success and verification gauges of every cluster from the caches, and drops clusters that went. */
  refreshLastSuccess(): void {
    if (!this.clusters.hasSynced() || !this.backups.hasSynced()) return;
    const labels = (key: string) => {
      const [namespace, cluster] = key.split("/") as [string, string];
      return { namespace, cluster };
    };
    const latest = lastSuccessBy(this.clusters.list(), this.backups.list());
    this.metrics.lastSuccess.reset();
    for (const [key, seconds] of latest) this.metrics.lastSuccess.set(labels(key), seconds);
    const { verified, lastVerified } = verificationBy(this.clusters.list(), this.backups.list());
    this.metrics.verified.reset();
    this.metrics.lastVerified.reset();
    for (const [key, ok] of verified) this.metrics.verified.set(labels(key), ok ? 1 : 0);
    for (const [key, seconds] of lastVerified) this.metrics.lastVerified.set(labels(key), seconds);
  }
}

/** The most bytes a verification stages in the scratch folder unless --backup-verify-max-bytes says otherwise. */
export const DEFAULT_VERIFY_MAX_BYTES = 1 << 30;

/** status.verification with every field the schema has, null where unset, for a merge patch. */
/** The RqBackup a Job on its claim belongs to: what the Job's name, labels and owner reference name. */
function jobOwner(b: RqBackup): { name: string; namespace: string; uid: string; cluster: string } {
  return {
    name: b.metadata!.name!,
    namespace: b.metadata!.namespace!,
    uid: b.metadata!.uid!,
    cluster: b.spec!.cluster,
  };
}

function wholeVerification(v: NonNullable<RqBackupStatus["verification"]>): Record<string, unknown> {
  const fields = Object.keys(verificationSchema.properties ?? {});
  return Object.fromEntries(fields.map((f) => [f, (v as Record<string, unknown>)[f] ?? null]));
}

/**
 * Turns what broke an attempt into a reason a person can act on, and whether retrying can help.
 * `overdueAfterMs`: the attempt was ended by the operator's deadline, of that length.
 */
export function describeFailure(err: unknown, src: Source, aborted: boolean, overdueAfterMs?: number): AttemptFailure {
  const message = err instanceof Error ? err.message : String(err);
  if (overdueAfterMs !== undefined)
    return {
      reason: `the backup from leader ${src.leader} did not finish within ${overdueAfterMs / 1000} s, the operator's limit for one attempt (--backup-deadline); it was abandoned, and no object was left`,
      permanent: false,
    };
  if (aborted)
    return { reason: "the operator stopped during the transfer; the next leader starts again", permanent: false };
  if (err instanceof SourceError || err instanceof RqliteError) {
    const unauthorized = err instanceof RqliteError && err.kind === "unauthorized";
    return {
      reason: `reading the backup from leader ${src.leader} failed: ${message}`,
      permanent: unauthorized,
    };
  }
  const name = (err as { name?: string; Code?: string }).Code ?? (err as { name?: string }).name;
  const endpoint = src.endpoint ? displayEndpoint(src.endpoint) : `AWS S3 (${src.region})`;
  const where = `S3 at ${endpoint}, bucket "${src.bucket}"`;
  if (isPermanentS3Error(name)) {
    const fix =
      name === "NoSuchBucket" || name === "InvalidBucketName"
        ? "create the bucket or fix spec.destination.s3.bucket"
        : src.credentialsSecret
          ? `fix the access key in Secret ${src.credentialsSecret} (spec.destination.s3.credentialsSecret)`
          : "give the operator S3 credentials (spec.destination.s3.credentialsSecret)";
    return {
      reason: `${where} refused the upload (${name}: ${message}): ${fix}, then create a new RqBackup`,
      permanent: true,
    };
  }
  // Below HTTP, every failure reads the same: see describeS3Error.
  const answered = (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
  if (answered === undefined)
    return { reason: `${where} could not be written: ${couldNotConnect()}`, permanent: false };
  return { reason: `${where} could not be written: HTTP ${answered}${name ? ` (${name})` : ""}`, permanent: false };
}
