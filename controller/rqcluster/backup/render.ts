// rqlite's own auto-backup and auto-restore, rendered: the JSON files rqlited reads
// (auto/backup/config.go and auto/restore/config.go of rqlite v8, format version 1), the Secret
// that carries them into the Pods, and the flags, environment and volume of the rqlite container.
// No credential is ever written here: the files say `$RQLITE_BACKUP_ACCESS_KEY_ID`, which rqlited
// expands (os.ExpandEnv) from environment variables the kubelet fills from the user's Secret.
import { createHash } from "node:crypto";
import type { V1EnvVar, V1Secret, V1Volume, V1VolumeMount } from "@kubernetes/client-node";
import { backupConfigSecretName, durationSeconds, parsePvcLocation, parseS3Location } from "../../../shared/index.js";
import type { S3CredentialsSecretRef } from "../../../shared/types.generated.js";
import { credentialsOf, s3Connection as connectionOf, type S3Connection } from "../../access/s3Connection.js";
import type { ClusterView } from "../render/cluster.js";
import type { DesiredNode } from "../render/members.js";

export const BACKUP_CONFIG_DIR = "/rqlite/backup";
export const BACKUP_CONFIG_VOLUME = "backup-config";
/**
 * rqlited stages every upload and the auto-restore download in a temporary file (Go's os.TempDir,
 * /tmp); the container's root is read-only, so /tmp is a volume of its own wherever rqlite backs
 * up or restores. Without it each upload and the restore fail with "read-only file system"
 * (found on a real kubelet: the simulated runtime runs rqlited on the host's /tmp).
 */
export const BACKUP_TMP_VOLUME = "backup-tmp";
export const AUTO_BACKUP_FILE = "auto-backup.json";
export const AUTO_RESTORE_FILE = "auto-restore.json";
/** The restore source as the operator resolved it, so every later reconcile renders the same Pods. */
export const RESTORE_SOURCE_FILE = "restore-source.json";
/** Digest of the auto-backup file: rqlited reads it at start, so a change rolls the Pods. */
export const BACKUP_HASH_ANNOTATION = "rqlite.io/backup-config-hash";

/** How long a founding voter may take to download the backup before rqlited gives up (and restarts). */
export const RESTORE_DOWNLOAD_TIMEOUT = "30m";

interface EnvNames {
  accessKeyId: string;
  secretAccessKey: string;
}
export const BACKUP_ENV: EnvNames = {
  accessKeyId: "RQLITE_BACKUP_ACCESS_KEY_ID",
  secretAccessKey: "RQLITE_BACKUP_SECRET_ACCESS_KEY",
};
export const RESTORE_ENV: EnvNames = {
  accessKeyId: "RQLITE_RESTORE_ACCESS_KEY_ID",
  secretAccessKey: "RQLITE_RESTORE_SECRET_ACCESS_KEY",
};

/** spec.restore resolved to one S3 object: where it is and how to reach it. */
export interface S3Restore extends S3Connection {
  /** s3://<bucket>/<key>. */
  location: string;
  key: string;
  /** Why this object, when the spec named a time rather than the object (spec.restore.s3.before). */
  chosen?: string;
}

/**
 * spec.restore resolved to a file in a claim (spec.restore.pvc, or a `pvc` RqBackup): no founding
 * voter downloads it; a loader Pod streams it into the leader (./loader.ts).
 */
export interface PvcRestore {
  /** pvc://<claimName>/<file>. */
  location: string;
  claimName: string;
  file: string;
  /** The size and sha256 the RqBackup recorded: the loader refuses a file that differs. */
  expect?: { size: number; sha256: string };
  chosen?: undefined;
}

export type ResolvedRestore = S3Restore | PvcRestore;

export const isPvcRestore = (r: ResolvedRestore | undefined): r is PvcRestore => r !== undefined && "claimName" in r;

/** rqlite's `sub` object for type s3 (auto/aws S3Config), credentials as $ENV references. */
function s3Sub(conn: S3Connection, path: string, env: EnvNames): Record<string, unknown> {
  return {
    ...(conn.endpoint ? { endpoint: conn.endpoint } : {}),
    region: conn.region,
    // Empty credentials make rqlite's AWS SDK take its default chain (instance role, IRSA).
    access_key_id: conn.credentialsSecret ? `$${env.accessKeyId}` : "",
    secret_access_key: conn.credentialsSecret ? `$${env.secretAccessKey}` : "",
    bucket: conn.bucket,
    path,
    force_path_style: conn.forcePathStyle,
  };
}

/** rqlite takes a Go duration; whole seconds (or milliseconds) say the same without `d`. */
function goDuration(text: string): string {
  const seconds = durationSeconds(text);
  if (seconds === undefined) throw new Error(`"${text}" is not a duration such as 30s, 1h or 1d`);
  return Number.isInteger(seconds) ? `${seconds}s` : `${Math.round(seconds * 1000)}ms`;
}

type Backup = NonNullable<ClusterView["spec"]["backup"]>;

/** Where spec.backup's uploads go: rqlite sends them there, retention lists and deletes there. */
export function backupConnection({ s3 }: Backup): S3Connection {
  return connectionOf(s3);
}

/** The -auto-backup file for spec.backup (rqlite auto/backup Config, version 1). */
export function renderAutoBackupConfig(backup: Backup): string {
  return JSON.stringify({
    version: 1,
    type: "s3",
    interval: goDuration(backup.interval ?? "1h"),
    timestamp: backup.timestamp ?? true,
    vacuum: backup.vacuum ?? false,
    no_compress: !(backup.compress ?? true),
    sub: s3Sub(backupConnection(backup), backup.s3.path, BACKUP_ENV),
  });
}

/** The -auto-restore file (rqlite auto/restore Config, version 1): one exact object, never a prefix. */
export function renderAutoRestoreConfig(source: S3Restore): string {
  return JSON.stringify({
    version: 1,
    type: "s3",
    timeout: RESTORE_DOWNLOAD_TIMEOUT,
    // A failed download must stop the node: a restore that continued would be an empty cluster.
    continue_on_failure: false,
    sub: s3Sub(source, source.key, RESTORE_ENV),
  });
}

/** Reads back a RESTORE_SOURCE_FILE; undefined when it is not one. */
export function parseResolvedRestore(text: string | undefined): ResolvedRestore | undefined {
  if (!text) return undefined;
  try {
    const p = JSON.parse(text) as Partial<PvcRestore>;
    if (typeof p.claimName === "string") {
      const at = typeof p.location === "string" ? parsePvcLocation(p.location) : undefined;
      if (!at || at.claimName !== p.claimName || at.file !== p.file) return undefined;
      const e = p.expect;
      if (e !== undefined && (typeof e.size !== "number" || typeof e.sha256 !== "string")) return undefined;
      return { location: p.location!, claimName: at.claimName, file: at.file, ...(e ? { expect: e } : {}) };
    }
    const r = p as unknown as Partial<S3Restore>;
    const at = typeof r.location === "string" ? parseS3Location(r.location) : undefined;
    if (!at || at.bucket !== r.bucket || at.key !== r.key || typeof r.region !== "string") return undefined;
    if (r.chosen !== undefined && typeof r.chosen !== "string") return undefined;
    return r as S3Restore;
  } catch {
    return undefined;
  }
}

/** The files of the config Secret: auto-backup.json with spec.backup, the restore files with a resolved restore. */
export function backupConfigFiles(c: ClusterView): Record<string, string> | undefined {
  const files: Record<string, string> = {};
  if (c.spec.backup) files[AUTO_BACKUP_FILE] = renderAutoBackupConfig(c.spec.backup);
  if (c.spec.restore && c.restore) {
    if (!isPvcRestore(c.restore)) files[AUTO_RESTORE_FILE] = renderAutoRestoreConfig(c.restore);
    files[RESTORE_SOURCE_FILE] = JSON.stringify(c.restore);
  }
  return Object.keys(files).length > 0 ? files : undefined;
}

export function renderBackupConfigSecret(c: ClusterView): V1Secret | undefined {
  const files = backupConfigFiles(c);
  if (!files) return undefined;
  return {
    apiVersion: "v1",
    kind: "Secret",
    type: "Opaque",
    metadata: {
      name: backupConfigSecretName(c.name),
      namespace: c.namespace,
      labels: c.labels,
      ownerReferences: [c.ownerReference],
    },
    data: Object.fromEntries(Object.entries(files).map(([k, v]) => [k, Buffer.from(v).toString("base64")])),
  };
}

/**
 * Whether this node's Pod loads spec.restore: only a founding voter (ordinal below
 * -bootstrap-expect) while the restore is still due (`pending`: not done, no adopted volume; see
 * ./plan.ts). Later voters and read replicas, and any founding voter's Pod made after the
 * restore (a lost node's replacement), join a cluster that has the data and copy it from the
 * leader: a download then would only fail once the object is gone and stop the node.
 */
export const restores = (c: ClusterView, member: DesiredNode, bootstrapExpect: number, pending: boolean) =>
  pending &&
  c.spec.restore !== undefined &&
  c.restore !== undefined &&
  // A claim's file is loaded into the formed cluster by ./loader.ts: the voters start empty.
  !isPvcRestore(c.restore) &&
  member.role === "voter" &&
  member.ordinal < bootstrapExpect;

/** rqlited flags for this node; none without spec.backup or a restore to load. */
export function backupArgs(c: ClusterView, restoring: boolean): string[] {
  return [
    ...(c.spec.backup ? [`-auto-backup=${BACKUP_CONFIG_DIR}/${AUTO_BACKUP_FILE}`] : []),
    ...(restoring ? [`-auto-restore=${BACKUP_CONFIG_DIR}/${AUTO_RESTORE_FILE}`] : []),
  ];
}

/**
 * A startup probe for a Pod that restores: rqlited downloads the object before its HTTP server
 * starts, so without it the liveness probe would kill a download longer than about 70 s, and the
 * restarted node download again, forever. It allows rqlite's own download timeout, after which
 * rqlited gives up by itself, plus the liveness probe's budget for the rest of its start.
 */
export function restoreStartupProbe(path: string, scheme: "HTTP" | "HTTPS", livenessBudgetSeconds: number) {
  const periodSeconds = 10;
  const budget = (durationSeconds(RESTORE_DOWNLOAD_TIMEOUT) ?? 1800) + livenessBudgetSeconds;
  return {
    httpGet: { path, port: "http", scheme },
    periodSeconds,
    timeoutSeconds: 2,
    failureThreshold: Math.ceil(budget / periodSeconds),
  };
}

/**
 * Credentials from the user's Secret. Optional: a Secret deleted later must not keep a node from
 * starting; uploads then fail and status.backup.lastFailure says so, and a node that already has
 * data never downloads.
 */
function credentialEnv(ref: Required<S3CredentialsSecretRef> | undefined, env: EnvNames): V1EnvVar[] {
  if (!ref) return [];
  const from = (key: string) => ({ secretKeyRef: { name: ref.name, key, optional: true } });
  return [
    { name: env.accessKeyId, valueFrom: from(ref.accessKeyIdKey) },
    { name: env.secretAccessKey, valueFrom: from(ref.secretAccessKeyKey) },
  ];
}

export function backupEnv(c: ClusterView, restoring: boolean): V1EnvVar[] {
  const backup = c.spec.backup?.s3.credentialsSecret;
  return [
    ...credentialEnv(backup && credentialsOf(backup), BACKUP_ENV),
    ...(restoring && !isPvcRestore(c.restore) ? credentialEnv(c.restore!.credentialsSecret, RESTORE_ENV) : []),
  ];
}

export function backupVolume(c: ClusterView, restoring: boolean): { volumes: V1Volume[]; mounts: V1VolumeMount[] } {
  if (!c.spec.backup && !restoring) return { volumes: [], mounts: [] };
  return {
    volumes: [
      { name: BACKUP_CONFIG_VOLUME, secret: { secretName: backupConfigSecretName(c.name) } },
      { name: BACKUP_TMP_VOLUME, emptyDir: {} },
    ],
    mounts: [
      { name: BACKUP_CONFIG_VOLUME, mountPath: BACKUP_CONFIG_DIR, readOnly: true },
      { name: BACKUP_TMP_VOLUME, mountPath: "/tmp" },
    ],
  };
}

/** The annotation that rolls the Pods when the auto-backup file changes. */
export function backupAnnotations(c: ClusterView): Record<string, string> {
  if (!c.spec.backup) return {};
  const digest = createHash("sha256").update(renderAutoBackupConfig(c.spec.backup)).digest("hex").slice(0, 16);
  return { [BACKUP_HASH_ANNOTATION]: digest };
}
