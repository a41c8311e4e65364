// The RqBackup controller: an informer for RqBackups (and one for RqClusters, to find a backup's
// cluster) feeds a work queue of backup keys. Each key is reconciled as observe -> plan (pure,
// ./plan.ts) -> apply -> status; an attempt's transfer runs inside the reconcile, so one backup
// is never transferred twice at once, and a worker is busy for as long as the copy takes.
// A `pvc` backup is written by a Job instead (./job.ts, ./toFile.ts): the attempt creates it,
// and the Job's events (a third informer) bring the backup back to read its result.
import { hostname } from "node:os";
import { performance } from "node:perf_hooks";
import type { KubernetesObject, V1Job, V1Pod } from "@kubernetes/client-node";
import type { Registry } from "prom-client";
import { RqliteError } from "../rqlite/client.js";
import { formatErrors, validateBackup, type RqCluster } from "../../shared/index.js";
import { BACKUP_KIND, BACKUP_PLURAL } from "../../shared/backup-names.js";
import { displayEndpoint } from "../../shared/s3-endpoint.js";
import { API_VERSION, GROUP, LABEL_MANAGED_BY, MANAGER_NAME, PLURAL } from "../../shared/names.js";
import { KubeApiError } from "../runtime/kubeClient.js";
import { makeEventRecorder, type EventRecorder } from "../runtime/events.js";
import { Informer, objectKey, waitForCaches } from "../runtime/informer.js";
import type { KubeClient } from "../runtime/kubeClient.js";
import { componentLogger, type Logger } from "../runtime/log.js";
import { measureReconcile, reconcileMetrics, type ReconcileMetrics } from "../runtime/reconcileMetrics.js";
import { makeWriter, type Writer } from "../runtime/writer.js";
import { objectPath } from "../runtime/paths.js";
import { sleep } from "../runtime/sleep.js";
import { WorkQueue, type HandlerResult } from "../runtime/workqueue.js";
import type { Addressing } from "../rqcluster/render/pod.js";
import { couldNotConnect, type S3Gate } from "../rqcluster/s3.js";
import { backupMetrics, lastSuccessBy, type BackupMetrics } from "./metrics.js";
import { backupJobName, jobOutcome, LABEL_BACKUP_JOB, renderBackupJob, type JobOutcome } from "./job.js";
import { isFailure, observePvcSource, observeSource, type PvcSource, type Source } from "./observe.js";
import {
  completedStatus,
  DEFAULT_RETRY,
  failedAttempt,
  isPermanentS3Error,
  planBackup,
  type AttemptFailure,
  type RetryPolicy,
} from "./plan.js";
import { SourceError, transfer } from "./transfer.js";
import { acquire, hold, NO_SLOTS, release, type BackupSlots, type SlotLimits } from "./slots.js";
import type { BackupStream } from "../rqlite/client.js";
import type { RqBackup, RqBackupStatus } from "./types.js";

const CONTROLLER = "rqbackup";
/** How often a running backup Job's Pod is looked at (its scheduling shows in status.reason). */
const JOB_RECHECK_MS = 30_000;
/** How often a backup waiting for a slot looks again, should no release wake it. */
const SLOT_RECHECK_MS = 30_000;
const BACKUP_TYPE = { apiVersion: API_VERSION, kind: BACKUP_KIND };

export interface BackupControllerOptions {
  client: KubeClient;
  /** Names this replica in Events. */
  identity: string;
  registry: Registry;
  namespaces?: string[];
  /** Backups transferred at once (a `pvc` backup's running Job counts as one). */
  workers: number;
  /** Backups of one namespace transferred at once; default: `workers`. */
  maxPerNamespace?: number;
  /** The longest one attempt may take (a `pvc` backup's Job: its activeDeadlineSeconds). Default 1 h. */
  deadlineMs?: number;
  addressing: Addressing;
  /** Where S3 requests may go and with whose credentials. */
  s3: S3Gate;
  retry?: RetryPolicy;
  cacheSyncTimeoutMs: number;
  /** run() fails once a synced cache has been unable to list or watch for this long. */
  cacheFailureTimeoutMs: number;
  /**
   * The image of a `pvc` backup's Job: the operator's own. Undefined: read from this process's
   * own Pod (its hostname, in `operatorNamespace`) when first needed.
   */
  jobImage?: string;
  operatorNamespace?: string;
  logger?: Logger;
}

export class BackupController {
  private readonly log: Logger;
  private readonly backups: Informer<RqBackup>;
  private readonly clusters: Informer<RqCluster & KubernetesObject>;
  /** The Jobs of `pvc` backups. */
  private readonly jobs: Informer<V1Job>;
  private jobImage?: string;
  private readonly queue: WorkQueue;
  private readonly writer: Writer;
  private readonly metrics: BackupMetrics;
  private readonly reconcileMetrics: ReconcileMetrics;
  private readonly retry: RetryPolicy;
  private readonly recorder: EventRecorder;
  /** Status this process wrote last, by uid: the cache may not show it yet. */
  private readonly written = new Map<string, RqBackupStatus>();
  /** Backups (by uid) whose transfer runs in this process now, with the way to stop it. */
  private readonly inFlight = new Map<string, AbortController>();
  private readonly deadlineMs: number;
  /** Which attempts may run now (./slots.ts); the decisions are pure, the state lives here. */
  private slots: BackupSlots = NO_SLOTS;
  private readonly slotLimits: SlotLimits;

  constructor(private readonly opts: BackupControllerOptions) {
    this.log = opts.logger ?? componentLogger("controller", { controller: CONTROLLER });
    const { client, namespaces } = opts;
    this.backups = new Informer({ client, namespaces, apiVersion: API_VERSION, resource: BACKUP_PLURAL });
    this.clusters = new Informer({ client, namespaces, apiVersion: API_VERSION, resource: PLURAL });
    this.jobs = new Informer<V1Job>({
      client,
      namespaces,
      apiVersion: "batch/v1",
      resource: "jobs",
      labelSelector: `${LABEL_MANAGED_BY}=${MANAGER_NAME},${LABEL_BACKUP_JOB}`,
    });
    if (opts.jobImage) this.jobImage = opts.jobImage;
    this.deadlineMs = opts.deadlineMs ?? 3_600_000;
    this.slotLimits = {
      total: opts.workers,
      perNamespace: Math.min(opts.workers, opts.maxPerNamespace ?? opts.workers),
    };
    this.queue = new WorkQueue({ name: CONTROLLER, registry: opts.registry });
    this.writer = makeWriter(client, MANAGER_NAME);
    this.metrics = backupMetrics(opts.registry);
    this.retry = opts.retry ?? DEFAULT_RETRY;
    this.recorder = makeEventRecorder(
      client,
      { component: MANAGER_NAME, instance: opts.identity, involvedApiVersion: API_VERSION, involvedKind: BACKUP_KIND },
      (err) => this.log.warn({ err: (err as Error).message }, "could not record an Event"),
    );
    this.reconcileMetrics = reconcileMetrics(opts.registry);
    const enqueue = (obj: KubernetesObject) => this.queue.add(objectKey(obj));
    this.backups.on("add", enqueue);
    this.backups.on("update", enqueue);
    this.backups.on("delete", (obj) => {
      const uid = obj.metadata?.uid ?? "";
      this.written.delete(uid);
      // A backup deleted mid-transfer is abandoned; the aborted upload leaves no object.
      this.inFlight.get(uid)?.abort();
      // A running Job goes with its owner (garbage collection); a waiter waits no more.
      if (!this.inFlight.has(uid)) this.releaseSlot(objectKey(obj));
      this.refreshLastSuccess();
    });
    // A cluster that appears may unblock its backups; its backup status feeds the gauge.
    const wakeBackupsOf = (c: KubernetesObject) => {
      for (const b of this.backups.list(c.metadata!.namespace)) {
        if (b.spec?.cluster === c.metadata!.name && !isFinal(b.status)) enqueue(b);
      }
      this.refreshLastSuccess();
    };
    this.clusters.on("add", wakeBackupsOf);
    this.clusters.on("update", wakeBackupsOf);
    this.clusters.on("delete", () => this.refreshLastSuccess());
    // A Job that finished brings its backup back to read the result.
    const wakeOwner = (job: V1Job) => {
      const owner = job.metadata?.ownerReferences?.find((o) => o.kind === BACKUP_KIND && o.controller);
      if (owner) this.queue.add(`${job.metadata!.namespace}/${owner.name}`);
    };
    this.jobs.on("add", wakeOwner);
    this.jobs.on("update", wakeOwner);
    this.jobs.on("delete", wakeOwner);
  }

  /** Reconciles one backup key; throws to make the queue retry it with backoff. */
  async reconcile(key: string): Promise<HandlerResult | undefined> {
    const cached = this.backups.getByKey(key);
    if (!cached) return undefined;
    const uid = cached.metadata!.uid!;
    const log = this.log.child({ rqbackup: key });
    // What the step left of this backup's slot: an attempt still running (a Job) keeps it, one
    // refused waits for it; anything else frees it, an S3 transfer having ended within the step.
    const slot = { keep: false };
    try {
      return await measureReconcile(this.reconcileMetrics, CONTROLLER, () => this.step(cached, uid, log, slot));
    } finally {
      if (!slot.keep) this.releaseSlot(key);
      this.refreshLastSuccess();
    }
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
    for (const k of wake) this.queue.add(k);
  }

  private async step(
    b: RqBackup,
    uid: string,
    log: Logger,
    slot: { keep: boolean },
  ): Promise<HandlerResult | undefined> {
    const key = objectKey(b);
    const status: RqBackupStatus = { ...b.status, ...this.written.get(uid) };
    // A backup being deleted needs nothing from the operator (its Job goes with it): no Secret
    // is read and no S3 server called for it; a transfer still running is abandoned.
    if (b.metadata?.deletionTimestamp) {
      this.inFlight.get(uid)?.abort();
      return undefined;
    }
    // Judged again as the webhook judges it, before anything it names is read: an RqBackup the
    // webhook never saw (stored before it was installed, or by an older operator) may name anything.
    const invalid = validateBackup(b, this.opts.s3.policy).errors;
    if (invalid.length > 0) {
      if (isFinal(status)) return undefined;
      const reason = `${formatErrors(`${BACKUP_KIND}.${GROUP}`, b.metadata!.name!, invalid)}; create a new RqBackup with a valid spec`;
      await this.writeStatus(b, uid, { ...status, phase: "Failed", reason });
      log.warn({ reason }, "backup refused: invalid spec");
      return undefined;
    }
    const pvc = Boolean(b.spec?.destination.pvc);
    // A `pvc` attempt runs in its Job, not in this process: Running with the Job still going is
    // in flight; with the Job finished, its result is the attempt's. Without a Job (deleted, or
    // never created) the plan sees an interrupted attempt, as for S3.
    if (pvc && status.phase === "Running" && !this.inFlight.has(uid)) {
      const attempt = Math.max(1, status.attempts ?? 1);
      const job = await this.findJob(b, attempt);
      if (job) {
        const outcome = jobOutcome(job, await this.podsOf(job));
        if (outcome.kind === "running") {
          // Found running (also after a restart): it holds a slot until it ends.
          this.slots = hold(this.slots, key);
          slot.keep = true;
          // A Pod that cannot be placed changes nothing on the Job: look again while it runs.
          if (outcome.waiting && outcome.waiting !== status.reason)
            await this.writeStatus(b, uid, { reason: outcome.waiting });
          return { requeueAfterMs: JOB_RECHECK_MS };
        }
        return this.finishJob(b, uid, attempt, status, outcome, log);
      }
    }
    const facts = { now: Date.now(), status, inFlight: this.inFlight.has(uid) };
    let action = planBackup(facts, this.retry);
    let source: Source | PvcSource | undefined;
    if (action.kind === "transfer" && !this.acquireSlot(key, log)) {
      // A slot that frees wakes it (releaseSlot); the recheck only covers a wake-up lost to a
      // restart of the holder's reconcile.
      slot.keep = true;
      return { requeueAfterMs: SLOT_RECHECK_MS };
    }
    if (action.kind === "transfer") {
      const deps = {
        client: this.opts.client,
        writer: this.writer,
        s3: this.opts.s3,
        addressing: this.opts.addressing,
        cluster: (ns: string, name: string) => this.clusters.get(ns, name),
      };
      const observed = pvc ? await observePvcSource(deps, b) : await observeSource(deps, b);
      if (isFailure(observed)) action = planBackup({ ...facts, blocker: observed }, this.retry);
      else source = observed;
    }
    switch (action.kind) {
      case "none":
        return undefined;
      case "wait":
        return { requeueAfterMs: action.afterMs };
      case "status":
        await this.writeStatus(b, uid, action.status);
        log.info({ phase: action.status.phase, reason: action.status.reason }, "backup attempt failed or given up");
        // A blocked attempt (it used up an attempt) or one cut off by a restart counts as failed;
        // giving up after the last one does not count again.
        if ((action.status.attempts ?? 0) > (status.attempts ?? 0) || status.phase === "Running") {
          this.countAttempt(b, "failed");
        }
        return action.retryAfterMs === undefined ? undefined : { requeueAfterMs: action.retryAfterMs };
      case "transfer": {
        const src = source!;
        if (src.kind === "pvc") {
          const started = await this.startJob(b, uid, action.attempt, action.status, src, log);
          slot.keep = this.written.get(uid)?.phase === "Running";
          return started;
        }
        return this.attempt(b, uid, action.attempt, action.status, src, log);
      }
    }
  }

  /**
   * Starts attempt `attempt` of a `pvc` backup: creates its Job (adopting one a previous try
   * created before its status write was lost), then says Running. The Job's events bring the
   * backup back when it ends.
   */
  private async startJob(
    b: RqBackup,
    uid: string,
    attempt: number,
    running: RqBackupStatus,
    src: PvcSource,
    log: Logger,
  ): Promise<HandlerResult | undefined> {
    const image = await this.resolveJobImage().catch((err: Error) => err);
    if (image instanceof Error) {
      const next = failedAttempt({ now: Date.now() }, this.retry, attempt, { reason: image.message, permanent: false });
      if (next.kind !== "status") return undefined;
      await this.writeStatus(b, uid, next.status);
      this.countAttempt(b, "failed");
      return next.retryAfterMs === undefined ? undefined : { requeueAfterMs: next.retryAfterMs };
    }
    const job = renderBackupJob({
      backup: { name: b.metadata!.name!, namespace: b.metadata!.namespace!, uid, cluster: b.spec!.cluster },
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
      if (!(await this.findJob(b, attempt))) {
        throw new Error(
          `Job ${job.metadata!.namespace}/${job.metadata!.name} exists but is not this RqBackup's (left by a deleted namesake?); waiting until it is deleted`,
          { cause: err },
        );
      }
    }
    await this.writeStatus(b, uid, {
      ...running,
      leader: src.leader,
      location: src.location,
      ...(src.rqliteVersion ? { rqliteVersion: src.rqliteVersion } : {}),
    });
    log.info({ attempt, leader: src.leader, location: src.location, job: job.metadata!.name }, "backup Job created");
    return undefined;
  }

  /** The Job's result becomes the attempt's: Completed with its size and sha256, or a failed attempt. */
  private async finishJob(
    b: RqBackup,
    uid: string,
    attempt: number,
    status: RqBackupStatus,
    outcome: Exclude<JobOutcome, { kind: "running" }>,
    log: Logger,
  ): Promise<HandlerResult | undefined> {
    const labels = { namespace: b.metadata!.namespace!, cluster: b.spec!.cluster };
    const seconds = status.startedAt ? Math.max(0, (Date.now() - Date.parse(status.startedAt)) / 1000) : 0;
    if (outcome.kind === "succeeded") {
      const done = completedStatus(Date.now(), attempt, {
        size: outcome.size,
        sha256: outcome.sha256,
        location: status.location ?? "",
        leader: status.leader ?? "",
        ...(status.rqliteVersion ? { rqliteVersion: status.rqliteVersion } : {}),
      });
      await this.writeStatus(b, uid, done);
      this.metrics.bytes.inc(labels, outcome.size);
      this.metrics.duration.observe({ ...labels, result: "completed" }, seconds);
      this.countAttempt(b, "completed");
      log.info({ attempt, size: outcome.size, sha256: outcome.sha256, seconds }, "backup completed");
      return undefined;
    }
    const next = failedAttempt({ now: Date.now() }, this.retry, attempt, { reason: outcome.reason, permanent: false });
    if (next.kind !== "status") return undefined;
    await this.writeStatus(b, uid, next.status);
    this.metrics.duration.observe({ ...labels, result: "failed" }, seconds);
    this.countAttempt(b, "failed");
    log.warn({ attempt, reason: outcome.reason, phase: next.status.phase }, "backup attempt failed");
    return next.retryAfterMs === undefined ? undefined : { requeueAfterMs: next.retryAfterMs };
  }

  /** The attempt's Job: from the cache, or, as the cache lags a Job just created, from the API server. */
  private async findJob(b: RqBackup, attempt: number): Promise<V1Job | undefined> {
    const ns = b.metadata!.namespace!;
    const name = backupJobName(b.metadata!.name!, attempt);
    const owned = (j: V1Job | undefined) =>
      j?.metadata?.ownerReferences?.some((o) => o.uid === b.metadata!.uid) ? j : undefined;
    const cached = owned(this.jobs.get(ns, name));
    if (cached) return cached;
    // A list narrowed to the one name: the role needs no get.
    const listed = await this.opts.client.request<{ items: V1Job[] }>({
      method: "GET",
      path: objectPath({ apiVersion: "batch/v1", resource: "jobs", namespace: ns }),
      query: { fieldSelector: `metadata.name=${name}` },
      timeoutMs: 30_000,
    });
    return owned(listed.items[0]);
  }

  private async podsOf(job: V1Job): Promise<V1Pod[]> {
    const pods = await this.opts.client.request<{ items: V1Pod[] }>({
      method: "GET",
      path: objectPath({ apiVersion: "v1", resource: "pods", namespace: job.metadata!.namespace! }),
      query: { labelSelector: `batch.kubernetes.io/controller-uid=${job.metadata!.uid}` },
      timeoutMs: 30_000,
    });
    return pods.items;
  }

  /** --backup-job-image, else the image this process runs from, read from its own Pod once. */
  private async resolveJobImage(): Promise<string> {
    if (this.jobImage) return this.jobImage;
    const ns = this.opts.operatorNamespace ?? process.env.POD_NAMESPACE;
    const name = hostname();
    const fix = "start the operator with --backup-job-image=<the operator's image>";
    if (!ns) throw new Error(`the backup Job's image is unknown (no POD_NAMESPACE to find the operator's Pod); ${fix}`);
    const pods = await this.opts.client
      .request<{ items: V1Pod[] }>({
        method: "GET",
        path: objectPath({ apiVersion: "v1", resource: "pods", namespace: ns }),
        query: { fieldSelector: `metadata.name=${name}` },
        timeoutMs: 30_000,
      })
      .catch((err: Error) => {
        throw new Error(
          `the backup Job's image is unknown: reading the operator's Pod ${ns}/${name}: ${err.message}; ${fix}`,
        );
      });
    const image = pods.items[0]?.spec?.containers[0]?.image;
    if (!image) throw new Error(`the backup Job's image is unknown: no Pod ${ns}/${name} runs this operator; ${fix}`);
    this.jobImage = image;
    return image;
  }

  private async attempt(
    b: RqBackup,
    uid: string,
    attempt: number,
    running: RqBackupStatus,
    src: Source,
    log: Logger,
  ): Promise<HandlerResult | undefined> {
    const stop = new AbortController();
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
      await this.writeStatus(b, uid, {
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
        outcome = completedStatus(Date.now(), attempt, {
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
        const next = failedAttempt({ now: Date.now() }, this.retry, attempt, failure);
        outcome = next.kind === "status" ? next.status : { phase: "Failed", reason: failure.reason };
        retryAfterMs = next.kind === "status" ? next.retryAfterMs : undefined;
        this.metrics.duration.observe({ ...labels, result: "failed" }, (performance.now() - began) / 1000);
        this.countAttempt(b, "failed");
        log.warn({ attempt, reason: failure.reason, phase: outcome.phase }, "backup attempt failed");
        // The reason is what tenants see; what actually broke stays in this log, at debug.
        log.debug({ attempt, err: (err as Error).message }, "backup attempt failed: the error");
      }
      await this.writeStatus(b, uid, outcome);
      return retryAfterMs === undefined ? undefined : { requeueAfterMs: retryAfterMs };
    } finally {
      clearTimeout(deadline);
      this.inFlight.delete(uid);
      src.s3.destroy();
    }
  }

  private countAttempt(b: RqBackup, result: "completed" | "failed"): void {
    this.metrics.attempts.inc({ namespace: b.metadata!.namespace!, cluster: b.spec!.cluster, result });
  }

  private async writeStatus(b: RqBackup, uid: string, status: RqBackupStatus): Promise<void> {
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
    const patch = { ...status, observedGeneration: b.metadata!.generation ?? 1 };
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

  /** Sets the last-success gauge of every cluster from the caches, and drops clusters that went. */
  private refreshLastSuccess(): void {
    if (!this.clusters.hasSynced() || !this.backups.hasSynced()) return;
    const latest = lastSuccessBy(this.clusters.list(), this.backups.list());
    this.metrics.lastSuccess.reset();
    for (const [key, seconds] of latest) {
      const [namespace, cluster] = key.split("/") as [string, string];
      this.metrics.lastSuccess.set({ namespace, cluster }, seconds);
    }
  }

  /** Runs until `signal` aborts; a transfer in flight is aborted then and retried by the next leader. */
  async run(signal: AbortSignal): Promise<void> {
    const informers = [this.backups, this.clusters, this.jobs] as Informer<KubernetesObject>[];
    informers.forEach((inf) => inf.start());
    const abortAll = () => this.inFlight.forEach((c) => c.abort());
    signal.addEventListener("abort", abortAll, { once: true });
    try {
      if (!(await waitForCaches(informers, this.opts.cacheSyncTimeoutMs, signal))) return;
      this.log.info({ workers: this.opts.workers }, `caches synced; starting workers for ${BACKUP_KIND}`);
      this.refreshLastSuccess();
      this.queue.run((key) => this.reconcile(key), this.opts.workers);
      // Backups taken from a cache that no longer follows the cluster would act on a stale view.
      while (!signal.aborted) {
        await sleep(Math.min(1000, this.opts.cacheFailureTimeoutMs), signal);
        const problem = this.cacheProblem();
        if (problem) throw new Error(`${problem}; stopping so that a fresh process takes over`);
      }
    } finally {
      signal.removeEventListener("abort", abortAll);
      abortAll();
      await this.queue.shutdown();
      await Promise.all(informers.map((inf) => inf.stop()));
    }
  }

  hasSynced(): boolean {
    return this.backups.hasSynced() && this.clusters.hasSynced() && this.jobs.hasSynced();
  }

  /** Why the caches can no longer be trusted (see ClusterController.cacheProblem), or undefined. */
  cacheProblem(): string | undefined {
    for (const inf of [this.backups, this.clusters, this.jobs] as Informer<KubernetesObject>[]) {
      const failing = inf.hasSynced() ? inf.failing() : undefined;
      const seconds = failing ? (performance.now() - failing.since) / 1000 : 0;
      if (failing && seconds * 1000 > this.opts.cacheFailureTimeoutMs) {
        return `the ${failing.resource} cache has been unable to list or watch for ${Math.round(seconds)} s (last error: ${failing.error})`;
      }
    }
    return undefined;
  }
}

const isFinal = (s: RqBackupStatus | undefined) => s?.phase === "Completed" || s?.phase === "Failed";

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
