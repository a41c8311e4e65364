// Names of the RqBackup kind and of the objects backups become, in one place, so the RqBackup
// controller that writes a backup and the restore that reads it can never disagree.
import { GROUP } from "./names.js";

export const BACKUP_KIND = "RqBackup";
export const BACKUP_LIST_KIND = "RqBackupList";
export const BACKUP_PLURAL = "rqbackups";
export const BACKUP_SINGULAR = "rqbackup";
export const BACKUP_SHORT_NAME = "rqb";
export const BACKUP_CRD_NAME = `${BACKUP_PLURAL}.${GROUP}`;

/**
 * On the Pod of a backup Job: the RqCluster it reads. The cluster's NetworkPolicy admits such
 * Pods of its own namespace to the HTTP API, whatever spec.network.clientSelector says.
 */
export const LABEL_BACKUP_OF = `${GROUP}/backup-of`;

/** The file name of a backup: <name>.sqlite or <name>.sql, plus .gz when compressed. */
export function backupFileName(name: string, format: "binary" | "sql", compress: boolean): string {
  return `${name}.${format === "sql" ? "sql" : "sqlite"}${compress ? ".gz" : ""}`;
}

/** Joins key segments with single slashes, dropping empty ones and slashes at either end. */
export function joinKey(...segments: string[]): string {
  return segments
    .flatMap((s) => s.split("/"))
    .filter((s) => s !== "")
    .join("/");
}

/** UTC time as YYYYMMDDTHHMMSSZ, the stamp in an RqBackup's object key. */
export function compactUtc(at: Date): string {
  return at
    .toISOString()
    .replace(/[-:]/g, "")
    .replace(/\.\d+Z$/, "Z");
}

/**
 * The S3 object key of an RqBackup: <path>/<namespace>-<name>-<YYYYMMDDTHHMMSSZ>.<ext>. The stamp
 * (when the backup started) keeps a recreated RqBackup of the same name from overwriting the last.
 */
export function s3BackupKey(
  path: string | undefined,
  namespace: string,
  name: string,
  format: "binary" | "sql",
  compress: boolean,
  at: Date,
): string {
  return joinKey(path ?? "", backupFileName(`${namespace}-${name}-${compactUtc(at)}`, format, compress));
}

/** status.location of a backup in S3. */
export function s3Location(bucket: string, key: string): string {
  return `s3://${bucket}/${key}`;
}

/** The bucket and key of an s3:// location; undefined for anything else (a pvc:// location). */
export function parseS3Location(location: string): { bucket: string; key: string } | undefined {
  const m = /^s3:\/\/([^/]+)\/(.+)$/.exec(location);
  return m ? { bucket: m[1]!, key: m[2]! } : undefined;
}

/** The Secret with rqlite's auto-backup and auto-restore configuration files (no credentials). */
export function backupConfigSecretName(cluster: string): string {
  return `${cluster}-backup-config`;
}
