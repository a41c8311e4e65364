// Names of the RqBackup kind and of the objects backups become, in one place, so the RqBackup
// controller that writes a backup and the restore that reads it can never disagree.
import { DNS1123_SUBDOMAIN_PATTERN } from "./k8s-names.js";
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

/**
 * Epoch ms of an RFC 3339 time with its offset (Z or ±HH:MM), as spec.restore.s3.before takes it;
 * undefined for anything else. Date.parse alone also takes local times and other spellings, and
 * rolls 2026-02-30 over into March: the pattern and the calendar check refuse both.
 */
export function parseRfc3339(text: string): number | undefined {
  const m = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?([Zz]|([+-])(\d{2}):(\d{2}))$/.exec(text);
  if (!m) return undefined;
  const [y, mo, d, h, mi, s] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  if (!validCalendarTime(y, mo, d, h, mi, s)) return undefined;
  if (m[9] && (Number(m[10]) > 23 || Number(m[11]) > 59)) return undefined;
  const fraction = m[7] ? Math.floor(Number(`0${m[7]}`) * 1000) : 0;
  const offsetMin = m[9] ? (m[9] === "-" ? -1 : 1) * (Number(m[10]) * 60 + Number(m[11])) : 0;
  return Date.UTC(y, mo - 1, d, h, mi, s, fraction) - offsetMin * 60_000;
}

/** Whether these fields name a real UTC time (no 30 February, no 24:00, no leap second). */
export function validCalendarTime(y: number, mo: number, d: number, h: number, mi: number, s: number): boolean {
  const at = new Date(Date.UTC(y, mo - 1, d, h, mi, s));
  return (
    y >= 1970 &&
    at.getUTCFullYear() === y &&
    at.getUTCMonth() === mo - 1 &&
    at.getUTCDate() === d &&
    at.getUTCHours() === h &&
    at.getUTCMinutes() === mi &&
    at.getUTCSeconds() === s
  );
}

/**
 * What is wrong with a path inside a mounted volume (a `pvc` backup's folder), or undefined: it
 * must stay inside the mount, so it is relative and has no "." or ".." segment, and it holds no
 * control character (a name is a path: see DESIGN's lessons).
 */
export function volumePathProblem(path: string): string | undefined {
  if (path.startsWith("/")) return "must be relative to the volume's root, not start with /";
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f\\]/.test(path)) return "may not contain control characters or backslashes";
  if (path.split("/").some((s) => s === "." || s === ".."))
    return "may not have . or .. segments: the path stays inside the volume";
  return undefined;
}

/**
 * What is wrong with spec.restore.pvc.path, the file a restore loads, or undefined: a path inside
 * the volume (volumePathProblem) that names a file, not the volume's root or a folder.
 */
export function restoreFileProblem(path: string): string | undefined {
  if (path === "" || path.endsWith("/")) return "must name a file inside the volume, e.g. nightly/db.sqlite.gz";
  return volumePathProblem(path);
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

/** status.location of a backup in a claim. */
export function pvcLocation(claimName: string, file: string): string {
  return `pvc://${claimName}/${file}`;
}

/**
 * The claim and file of a pvc:// location (a `pvc` RqBackup's status.location); undefined for
 * anything else, or for a file a restore may not load (restoreFileProblem).
 */
export function parsePvcLocation(location: string): { claimName: string; file: string } | undefined {
  const m = /^pvc:\/\/([^/]+)\/(.+)$/.exec(location);
  if (!m || !new RegExp(DNS1123_SUBDOMAIN_PATTERN).test(m[1]!) || restoreFileProblem(m[2]!)) return undefined;
  return { claimName: m[1]!, file: m[2]! };
}

/** The Secret with rqlite's auto-backup and auto-restore configuration files (no credentials). */
export function backupConfigSecretName(cluster: string): string {
  return `${cluster}-backup-config`;
}
