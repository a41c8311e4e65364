// PURE rendering of the Job that deletes a `pvc` backup's file when an RqScheduledBackup's
// retention drops it: as for writing it (controller/rqbackup/job.ts), the operator cannot mount a
// user's claim itself, so a one-Pod Job of its own image mounts the claim and runs toFile.js
// --delete. Owned by the RqBackup whose file it deletes, so it goes with that RqBackup.
import type { V1Job } from "@kubernetes/client-node";
import { BACKUP_MOUNT, renderToFileJob, toFileJobName } from "../rqbackup/job.js";

export interface PruneJobInput {
  backup: { name: string; namespace: string; uid: string };
  image: string;
  claimName: string;
  /** The file's path inside the volume, relative, as its location says. */
  file: string;
}

/** The Job's name: <backup>-prune, shortened as the backup Job's is. */
export function pruneJobName(backup: string): string {
  return toFileJobName(backup, "-prune");
}

/**
 * The file of a pvc://<claim>/<file> location, when it is a plain relative path inside the
 * volume and on `claimName`; undefined for anything else (nothing outside the volume is deleted).
 */
export function prunableFile(location: string, claimName: string): string | undefined {
  const prefix = `pvc://${claimName}/`;
  if (!location.startsWith(prefix)) return undefined;
  const file = location.slice(prefix.length);
  const segments = file.split("/");
  if (file === "" || segments.some((s) => s === "" || s === "." || s === "..")) return undefined;
  return file;
}

export function renderPruneJob(i: PruneJobInput): V1Job {
  return renderToFileJob({
    name: pruneJobName(i.backup.name),
    backup: i.backup,
    backoffLimit: 2,
    activeDeadlineSeconds: 600,
    image: i.image,
    claimName: i.claimName,
    args: [`--delete=${BACKUP_MOUNT}/${i.file}`],
    resources: { requests: { cpu: "10m", memory: "32Mi" }, limits: { memory: "128Mi" } },
  });
}
