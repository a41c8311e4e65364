// The RqBackup controller, declared: it reconciles RqBackups, and wakes a backup when its
// cluster appears or changes, or when its Job (a `pvc` backup's) changes. One reconcile
// (./apply.ts) is observe -> plan (pure, ./plan.ts) -> apply. An S3 attempt's transfer runs
// inside the reconcile, so one backup is never transferred twice at once, and a worker is busy
// for as long as the copy takes; a `pvc` attempt creates its Job (./job.ts, ./toFile.ts) and
// the Job's events bring the backup back to read its result.
import { BackupReconciler } from "./apply.js";
import type { KubernetesObject, V1Job } from "@kubernetes/client-node";
import { type RqCluster } from "../../shared/index.js";
import { LABEL_MANAGED_BY, MANAGER_NAME } from "../../shared/names.js";
import { JOB, RQBACKUP, RQCLUSTER } from "../kinds.js";
import { Controller, watch } from "../runtime/controller.js";
import { objectKey } from "../runtime/informer.js";
import type { Manager } from "../runtime/manager.js";
import type { Addressing } from "../access/clusterView.js";
import { type S3Gate } from "../access/s3.js";
import { LABEL_BACKUP_JOB } from "./job.js";
import { isFinal, type RetryPolicy } from "./plan.js";
import type { RqBackup } from "./types.js";

const CONTROLLER = "rqbackup";

export interface BackupControllerOptions {
  /** Names this replica in Events. */
  identity: string;
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
  /**
   * The image of a `pvc` backup's Job: the operator's own. Undefined: read from this process's
   * own Pod (its hostname, in `operatorNamespace`) when first needed.
   */
  jobImage?: string;
  operatorNamespace?: string;
  /** ca.crt per tls.http Secret as last read, shared with the RqCluster controller (access/cluster.ts readCas). */
  knownCas?: Map<string, string>;
  /** Scratch folder where a verification stages the backup it reads back. Default os.tmpdir(). */
  verifyDir?: string;
  /** The most bytes one verification stages (compressed, and again uncompressed). Default 1 GiB. */
  verifyMaxBytes?: number;
  /** The clock every decision is given (ms since the epoch). Default Date.now. */
  now?: () => number;
}

/** Declares the RqBackup controller to the manager. */
export function setupBackupController(mgr: Manager, opts: BackupControllerOptions): void {
  const backups = mgr.cache<RqBackup>(RQBACKUP);
  const clusters = mgr.cache<RqCluster & KubernetesObject>(RQCLUSTER);
  const jobs = mgr.cache<V1Job>(JOB, { labelSelector: `${LABEL_MANAGED_BY}=${MANAGER_NAME},${LABEL_BACKUP_JOB}` });
  const r = new BackupReconciler(mgr, opts, backups, clusters, jobs);
  const controller = new Controller<RqBackup>(mgr, {
    name: CONTROLLER,
    for: backups,
    owns: [jobs],
    workers: opts.workers,
    logger: r.log,
    watches: [
      watch(backups, (e) => {
        if (e.type === "delete") r.forget(e.obj);
        return [];
      }),
      // A cluster that appears may unblock its backups; its backup status feeds the gauge.
      watch(clusters, (e) => {
        r.refreshLastSuccess();
        if (e.type === "delete") return [];
        const { namespace, name } = e.obj.metadata!;
        return backups
          .list(namespace)
          .filter((b) => b.spec?.cluster === name && !isFinal(b.status))
          .map((b) => objectKey(b));
      }),
    ],
    reconcile: (b, ctx) => r.reconcile(b, ctx.key, ctx.signal),
  });
  r.wake = (key) => controller.enqueue(key);
  mgr.add(controller);
  // The gauge from what the caches hold once they have listed, before any backup changes.
  mgr.add({ name: "rqbackup last-success gauge", start: () => r.refreshLastSuccess() });
}
