// PURE rendering of the Job that deletes a `pvc` backup's file when an RqScheduledBackup's
// retention drops it: as for writing it (controller/rqbackup/job.ts), the operator cannot mount a
// user's claim itself, so a one-Pod Job of its own image mounts the claim and runs toFile.js
// --delete. Owned by the RqBackup whose file it deletes, so it goes with that RqBackup.
import { createHash } from "node:crypto";
import type { V1Job } from "@kubernetes/client-node";
import { API_VERSION, BACKUP_KIND, DNS_LABEL_MAX_LENGTH, LABEL_MANAGED_BY, MANAGER_NAME } from "../../shared/index.js";
import {
  BACKUP_JOB_CONTAINER,
  BACKUP_MOUNT,
  LABEL_BACKUP_JOB,
  TERMINATION_LOG,
  TO_FILE_ENTRY,
} from "../rqbackup/job.js";

export interface PruneJobInput {
  backup: { name: string; namespace: string; uid: string };
  image: string;
  claimName: string;
  /** The file's path inside the volume, relative, as its location says. */
  file: string;
}

/** The Job's name: <backup>-prune, shortened with a hash as the backup Job's is. */
export function pruneJobName(backup: string): string {
  const suffix = "-prune";
  const room = DNS_LABEL_MAX_LENGTH - suffix.length;
  if (backup.length <= room) return `${backup}${suffix}`;
  const hash = createHash("sha256").update(backup).digest("hex").slice(0, 8);
  return `${backup.slice(0, room - 9).replace(/[-.]+$/, "")}-${hash}${suffix}`;
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
  const labels = { [LABEL_MANAGED_BY]: MANAGER_NAME, [LABEL_BACKUP_JOB]: i.backup.name };
  return {
    apiVersion: "batch/v1",
    kind: "Job",
    metadata: {
      name: pruneJobName(i.backup.name),
      namespace: i.backup.namespace,
      labels,
      ownerReferences: [
        { apiVersion: API_VERSION, kind: BACKUP_KIND, name: i.backup.name, uid: i.backup.uid, controller: true },
      ],
    },
    spec: {
      backoffLimit: 2,
      activeDeadlineSeconds: 600,
      template: {
        metadata: { labels },
        spec: {
          restartPolicy: "Never",
          automountServiceAccountToken: false,
          enableServiceLinks: false,
          securityContext: {
            runAsNonRoot: true,
            runAsUser: 65532,
            runAsGroup: 65532,
            fsGroup: 65532,
            seccompProfile: { type: "RuntimeDefault" },
          },
          containers: [
            {
              name: BACKUP_JOB_CONTAINER,
              image: i.image,
              command: ["node", TO_FILE_ENTRY],
              args: [`--delete=${BACKUP_MOUNT}/${i.file}`, `--termination-log=${TERMINATION_LOG}`],
              volumeMounts: [{ name: "backup", mountPath: BACKUP_MOUNT }],
              terminationMessagePath: TERMINATION_LOG,
              terminationMessagePolicy: "FallbackToLogsOnError",
              resources: { requests: { cpu: "10m", memory: "32Mi" }, limits: { memory: "128Mi" } },
              securityContext: {
                allowPrivilegeEscalation: false,
                readOnlyRootFilesystem: true,
                runAsNonRoot: true,
                capabilities: { drop: ["ALL"] },
                seccompProfile: { type: "RuntimeDefault" },
              },
            },
          ],
          volumes: [{ name: "backup", persistentVolumeClaim: { claimName: i.claimName } }],
        },
      },
    },
  };
}
