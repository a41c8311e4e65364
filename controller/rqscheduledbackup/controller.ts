// The RqScheduledBackup controller, declared and applied: it reconciles RqScheduledBackups, and
// wakes one when an RqBackup it owns changes (a backup finished: retention, the next firing may
// go) or when the Job deleting one of their files does. One reconcile is observe -> plan (pure,
// ./plan.ts, with the injected clock) -> apply (create, skip, prune) -> status, and it asks to be
// queued again at the next firing.
import type { KubernetesObject, V1Job } from "@kubernetes/client-node";
import {
  ANNOTATION_SCHEDULED_AT,
  API_VERSION,
  BACKUP_KIND,
  formatErrors,
  GROUP,
  LABEL_MANAGED_BY,
  LABEL_SCHEDULED_BY,
  MANAGER_NAME,
  parseS3Location,
  SCHEDULED_BACKUP_KIND,
  validateScheduledBackup,
  type RqScheduledBackup as GeneratedSchedule,
} from "../../shared/index.js";
import { operatorImage } from "../access/operatorImage.js";
import { deleteObject, describeS3Error, s3ClientFor, type S3Gate } from "../access/s3.js";
import { s3Connection } from "../access/s3Connection.js";
import { JOB, RQBACKUP, RQSCHEDULEDBACKUP } from "../kinds.js";
import { LABEL_BACKUP_JOB } from "../rqbackup/job.js";
import type { RqBackup } from "../rqbackup/types.js";
import { Controller, watch } from "../runtime/controller.js";
import { makeEventRecorder, type EventRecorder } from "../runtime/events.js";
import type { Informer } from "../runtime/informer.js";
import { KubeApiError } from "../runtime/kubeClient.js";
import { componentLogger, type Logger } from "../runtime/log.js";
import type { Manager } from "../runtime/manager.js";
import type { HandlerResult } from "../runtime/workqueue.js";
import { makeWriter, type Writer } from "../runtime/writer.js";
import { planSchedule, type Child, type ScheduleAction } from "./plan.js";
import { prunableFile, pruneJobName, renderPruneJob } from "./pruneJob.js";

export type RqScheduledBackup = KubernetesObject & GeneratedSchedule;

const CONTROLLER = "rqscheduledbackup";
/** How often a file delete in flight (its Job) is looked at, should no Job event come. */
const PRUNE_RECHECK_MS = 2_000;
/** How long a failed file delete waits before the schedule looks again. */
const PRUNE_FAILED_RECHECK_MS = 60_000;
const BACKUP_TYPE = { apiVersion: API_VERSION, kind: BACKUP_KIND };
const SCHEDULE_TYPE = { apiVersion: API_VERSION, kind: SCHEDULED_BACKUP_KIND };

export interface ScheduledBackupControllerOptions {
  /** Names this replica in Events. */
  identity: string;
  /** Where S3 requests (retention's deletes) may go and with whose credentials. */
  s3: S3Gate;
  /** The image of the Job that deletes a `pvc` backup's file: as the RqBackup controller's. */
  jobImage?: string;
  operatorNamespace?: string;
  /** The clock every decision is given (ms since the epoch). Default Date.now. */
  now?: () => number;
}

/** Declares the RqScheduledBackup controller to the manager. */
export function setupScheduledBackupController(mgr: Manager, opts: ScheduledBackupControllerOptions): void {
  const schedules = mgr.cache<RqScheduledBackup>(RQSCHEDULEDBACKUP);
  const backups = mgr.cache<RqBackup>(RQBACKUP);
  // The RqBackup controller's selector: one selector per kind in the shared cache.
  const jobs = mgr.cache<V1Job>(JOB, { labelSelector: `${LABEL_MANAGED_BY}=${MANAGER_NAME},${LABEL_BACKUP_JOB}` });
  const r = new ScheduleReconciler(mgr, opts, backups, jobs);
  mgr.add(
    new Controller<RqScheduledBackup>(mgr, {
      name: CONTROLLER,
      for: schedules,
      owns: [backups],
      workers: 1,
      logger: r.log,
      watches: [
        // A prune Job belongs to the RqBackup whose file it deletes; that one's schedule looks again.
        watch(jobs, (e) => {
          const ns = e.obj.metadata?.namespace ?? "";
          const owner = e.obj.metadata?.ownerReferences?.find((o) => o.kind === BACKUP_KIND)?.name;
          const schedule = owner ? backups.get(ns, owner)?.metadata?.labels?.[LABEL_SCHEDULED_BY] : undefined;
          return schedule ? [`${ns}/${schedule}`] : [];
        }),
      ],
      reconcile: (s) => r.reconcile(s),
    }),
  );
}

class ScheduleReconciler {
  readonly log: Logger = componentLogger("controller", { controller: CONTROLLER });
  private readonly writer: Writer;
  private readonly recorder: EventRecorder;
  private readonly now: () => number;
  private readonly jobImage: () => Promise<string>;

  constructor(
    private readonly mgr: Manager,
    private readonly opts: ScheduledBackupControllerOptions,
    private readonly backups: Informer<RqBackup>,
    private readonly jobs: Informer<V1Job>,
  ) {
    this.writer = makeWriter(mgr.client, MANAGER_NAME);
    this.now = opts.now ?? Date.now;
    this.jobImage = operatorImage(mgr.client, opts.jobImage, opts.operatorNamespace);
    this.recorder = makeEventRecorder(
      mgr.client,
      {
        component: MANAGER_NAME,
        instance: opts.identity,
        involvedApiVersion: API_VERSION,
        involvedKind: SCHEDULED_BACKUP_KIND,
      },
      (err) => this.log.warn({ err: (err as Error).message }, "could not record an Event"),
    );
  }

  /** The RqBackups `s` owns (by uid, not only by label: a label is anyone's to write). */
  private children(s: RqScheduledBackup): RqBackup[] {
    return this.backups
      .list(s.metadata!.namespace)
      .filter((b) => b.metadata?.ownerReferences?.some((o) => o.controller && o.uid === s.metadata!.uid));
  }

  async reconcile(s: RqScheduledBackup): Promise<HandlerResult | undefined> {
    // Its RqBackups go with it (garbage collection), each with nothing more to do.
    if (s.metadata?.deletionTimestamp) return undefined;
    const key = `${s.metadata!.namespace}/${s.metadata!.name}`;
    const log = this.log.child({ rqscheduledbackup: key });
    const events = this.recorder({ namespace: s.metadata!.namespace!, name: s.metadata!.name!, uid: s.metadata!.uid! });
    // Judged again as the webhook judges it: an object the webhook never saw may say anything.
    const errors = validateScheduledBackup(s, this.opts.s3.policy).errors;
    const invalid =
      errors.length > 0
        ? `${formatErrors(`${SCHEDULED_BACKUP_KIND}.${GROUP}`, s.metadata!.name!, errors)}; fix the spec`
        : undefined;
    const owned = this.children(s);
    const plan = planSchedule({
      now: this.now(),
      name: s.metadata!.name!,
      createdAt: Date.parse(s.metadata!.creationTimestamp as unknown as string),
      spec: s.spec!,
      status: s.status ?? {},
      ...(invalid !== undefined ? { invalid } : {}),
      children: owned.map(childOf),
    });
    if (invalid !== undefined && s.status?.reason !== invalid) events.warning("InvalidSpec", invalid);
    let requeueAfterMs = plan.requeueAfterMs;
    const soon = (ms: number) => (requeueAfterMs = Math.min(requeueAfterMs ?? ms, ms));
    for (const action of plan.actions) {
      const again = await this.apply(s, action, owned, events, log);
      if (again !== undefined) soon(again);
    }
    await this.writeStatus(s, plan.status);
    events.flush();
    return requeueAfterMs === undefined ? undefined : { requeueAfterMs };
  }

  /** Does one action; returns when to look again, if sooner than the next firing. */
  private async apply(
    s: RqScheduledBackup,
    a: ScheduleAction,
    owned: RqBackup[],
    events: ReturnType<EventRecorder>,
    log: Logger,
  ): Promise<number | undefined> {
    const ns = s.metadata!.namespace!;
    switch (a.kind) {
      case "create": {
        const child = {
          ...BACKUP_TYPE,
          metadata: {
            name: a.name,
            namespace: ns,
            labels: { [LABEL_SCHEDULED_BY]: s.metadata!.name! },
            annotations: { [ANNOTATION_SCHEDULED_AT]: new Date(a.scheduledAt).toISOString() },
            ownerReferences: [
              {
                apiVersion: API_VERSION,
                kind: SCHEDULED_BACKUP_KIND,
                name: s.metadata!.name!,
                uid: s.metadata!.uid!,
                controller: true,
              },
            ],
          },
          spec: a.spec,
        };
        try {
          await this.writer.create(child);
          events.normal(
            "BackupCreated",
            `RqBackup ${a.name} for the firing of ${new Date(a.scheduledAt).toISOString()}`,
          );
          log.info({ rqbackup: a.name, scheduledAt: new Date(a.scheduledAt).toISOString() }, "backup created");
        } catch (err) {
          // Created by an earlier try whose status write was lost, or the cache had not shown it.
          const cause = (err as Error).cause;
          if (!(cause instanceof KubeApiError && cause.status === 409)) throw err;
        }
        return undefined;
      }
      case "skip":
        events.warning("FiringSkipped", a.message);
        log.info({ scheduledAt: new Date(a.scheduledAt).toISOString() }, a.message);
        return undefined;
      case "prune": {
        const child = owned.find((b) => b.metadata?.name === a.name);
        if (!child) return undefined;
        return this.prune(child, a.location, events, log);
      }
    }
  }

  /**
   * Retention of one backup: its S3 object or its file first, then the RqBackup. A delete that
   * fails leaves the RqBackup, so it is tried again, and says why in an Event.
   */
  private async prune(
    child: RqBackup,
    location: string | undefined,
    events: ReturnType<EventRecorder>,
    log: Logger,
  ): Promise<number | undefined> {
    const name = child.metadata!.name!;
    const ref = { ...BACKUP_TYPE, metadata: { name, namespace: child.metadata!.namespace! } };
    const dest = child.spec?.destination;
    if (location && dest?.s3) {
      const target = parseS3Location(location);
      // Only where the backup's own destination points: status is not the spec.
      if (target && target.bucket === dest.s3.bucket) {
        try {
          const client = await s3ClientFor(
            this.writer,
            this.opts.s3,
            child,
            s3Connection(dest.s3),
            "spec.destination.s3.credentialsSecret",
          );
          try {
            await deleteObject(client, target.bucket, target.key);
          } finally {
            client.destroy();
          }
        } catch (err) {
          const why = describeS3Error(err, `deleting ${location}`, dest.s3.endpoint);
          events.warning("RetentionFailed", `RqBackup ${name}: ${why}`);
          return PRUNE_FAILED_RECHECK_MS;
        }
      }
    } else if (location && dest?.pvc) {
      const file = prunableFile(location, dest.pvc.claimName);
      if (file) {
        const waiting = await this.deleteFile(child, dest.pvc.claimName, file, events);
        if (waiting !== undefined) return waiting;
      }
    }
    await this.writer.delete(ref);
    events.normal("BackupPruned", `RqBackup ${name}${location ? ` and ${location}` : ""} deleted (history limit)`);
    log.info({ rqbackup: name, location }, "backup pruned");
    return undefined;
  }

  /** Runs the Job that deletes a `pvc` backup's file; undefined once it succeeded, else when to look again. */
  private async deleteFile(
    child: RqBackup,
    claimName: string,
    file: string,
    events: ReturnType<EventRecorder>,
  ): Promise<number | undefined> {
    const ns = child.metadata!.namespace!;
    const jobName = pruneJobName(child.metadata!.name!);
    const job = this.jobs.get(ns, jobName);
    const ours = job?.metadata?.ownerReferences?.some((o) => o.uid === child.metadata!.uid);
    if (!job || !ours) {
      const image = await this.jobImage();
      const rendered = renderPruneJob({
        backup: { name: child.metadata!.name!, namespace: ns, uid: child.metadata!.uid! },
        image,
        claimName,
        file,
      });
      try {
        await this.writer.create(rendered);
      } catch (err) {
        const cause = (err as Error).cause;
        if (!(cause instanceof KubeApiError && cause.status === 409)) throw err;
      }
      return PRUNE_RECHECK_MS;
    }
    const done = (type: string) => job.status?.conditions?.some((c) => c.type === type && c.status === "True");
    if (done("Complete")) return undefined;
    if (done("Failed")) {
      events.warning(
        "RetentionFailed",
        `Job ${ns}/${jobName} could not delete ${file} from claim ${claimName}; the RqBackup ${child.metadata!.name} is kept (delete the Job to try again)`,
      );
      return PRUNE_FAILED_RECHECK_MS;
    }
    return PRUNE_RECHECK_MS;
  }

  /** Writes the status when it changed: a schedule between firings causes no write. */
  private async writeStatus(s: RqScheduledBackup, status: NonNullable<RqScheduledBackup["status"]>): Promise<void> {
    const next = { ...status, observedGeneration: s.metadata!.generation ?? 1 };
    const current = s.status ?? {};
    const fields = new Set([...Object.keys(next), ...Object.keys(current)]);
    const patch: Record<string, unknown> = {};
    for (const f of fields) {
      const want = (next as Record<string, unknown>)[f];
      if (JSON.stringify(want) !== JSON.stringify((current as Record<string, unknown>)[f])) patch[f] = want ?? null;
    }
    if (Object.keys(patch).length === 0) return;
    await this.writer.patchStatus(
      { ...SCHEDULE_TYPE, metadata: { name: s.metadata!.name!, namespace: s.metadata!.namespace! } },
      { status: patch },
    );
  }
}

function childOf(b: RqBackup): Child {
  const stamp = b.metadata?.annotations?.[ANNOTATION_SCHEDULED_AT];
  const created = b.metadata?.creationTimestamp as unknown as string | undefined;
  const scheduledAt = Date.parse(stamp ?? created ?? "");
  return {
    name: b.metadata!.name!,
    scheduledAt: Number.isNaN(scheduledAt) ? 0 : scheduledAt,
    ...(b.status?.phase ? { phase: b.status.phase } : {}),
    ...(b.status?.completedAt ? { completedAt: b.status.completedAt } : {}),
    ...(b.status?.location ? { location: b.status.location } : {}),
    deleting: Boolean(b.metadata?.deletionTimestamp),
  };
}
