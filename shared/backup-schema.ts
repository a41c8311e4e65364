// The backup and restore API: the RqBackup kind, and RqCluster's spec.backup and spec.restore.
// Like schema.ts, these objects are the single source of the CRDs, the validator and the types.
import { conditionsSchema, resourceSchema } from "./kube-schema.js";
import type { JsonSchema } from "./json-schema.js";
import {
  DATA_KEY_PATTERN,
  DNS1123_LABEL_PATTERN,
  DNS1123_SUBDOMAIN_MAX_LENGTH,
  DNS1123_SUBDOMAIN_PATTERN,
} from "./k8s-names.js";

export const BACKUP_FORMATS = ["binary", "sql"] as const;
export const BACKUP_PHASES = ["Pending", "Running", "Completed", "Failed"] as const;
export const VERIFICATION_RESULTS = ["Verified", "Failed", "Skipped"] as const;
/** On an RqBackup: a new value asks for its object to be verified again. */
export const VERIFY_REQUEST_ANNOTATION = "rqlite.io/verify-requested";

/** Keys of the credentials Secret when credentialsSecret does not name others (the AWS CLI's names). */
export const DEFAULT_ACCESS_KEY_ID_KEY = "AWS_ACCESS_KEY_ID";
export const DEFAULT_SECRET_ACCESS_KEY_KEY = "AWS_SECRET_ACCESS_KEY";
export const DEFAULT_S3_REGION = "us-east-1";
/** spec.restore.s3.key that means "the newest object under path". */
export const LATEST_KEY = "latest";

/**
 * A duration as rqlite's flags and Go spell it, plus days: 30s, 90m, 1h30m, 7d. Whole numbers
 * only, so the operator can render it to rqlite as seconds without rounding.
 */
export const DURATION_PATTERN = "^([0-9]+(ms|s|m|h|d))+$";

// Bounds on every string the RqBackup's CEL immutability rule compares, so the API server's cost
// estimate of `self == oldSelf` stays within its budget.
const PATH_MAX = 1024;

const str = (description: string, maxLength: number, extra: Partial<JsonSchema> = {}): JsonSchema => ({
  description,
  type: "string",
  maxLength,
  ...extra,
});

/**
 * A name of an object in the same namespace: a DNS-1123 subdomain, as Kubernetes names Secrets,
 * claims and custom resources. A pattern, not free text: a name is one path segment, never a path.
 */
export const objectNameSchema = (description: string): JsonSchema =>
  str(description, DNS1123_SUBDOMAIN_MAX_LENGTH, { pattern: DNS1123_SUBDOMAIN_PATTERN });

/** A key of a Secret's data. */
const dataKeySchema = (description: string, dflt: string): JsonSchema =>
  str(description, DNS1123_SUBDOMAIN_MAX_LENGTH, { pattern: DATA_KEY_PATTERN, default: dflt });

const credentialsSecretSchema: JsonSchema = {
  title: "S3CredentialsSecretRef",
  description:
    "Secret in the same namespace holding the access key id and the secret access key. Unset: the ambient " +
    "credentials of rqlited and the operator (instance role, IRSA, AWS_* environment).",
  type: "object",
  required: ["name"],
  properties: {
    name: objectNameSchema("Name of the Secret."),
    accessKeyIdKey: dataKeySchema("Key holding the access key id.", DEFAULT_ACCESS_KEY_ID_KEY),
    secretAccessKeyKey: dataKeySchema("Key holding the secret access key.", DEFAULT_SECRET_ACCESS_KEY_KEY),
  },
};

/** The connection fields every S3 location shares; `path` means something different in each. */
const s3Connection = (pathDescription: string): Record<string, JsonSchema> => ({
  bucket: str("Bucket name.", 63, { pattern: "^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$" }),
  path: str(pathDescription, PATH_MAX),
  endpoint: str(
    "URL of an S3-compatible server, e.g. https://minio.example:9000 or http://127.0.0.1:7070. Unset: AWS S3 in region.",
    2048,
    { pattern: "^https?://[^/?#\\s]+(/[^?#\\s]*)?$" },
  ),
  region: str("Region of the bucket.", 64, { default: DEFAULT_S3_REGION }),
  forcePathStyle: {
    description:
      "Address the bucket as <endpoint>/<bucket> rather than <bucket>.<endpoint>; most S3-compatible servers need it.",
    type: "boolean",
    default: false,
  },
  credentialsSecret: credentialsSecretSchema,
});

export const s3DestinationSchema: JsonSchema = {
  title: "S3Destination",
  description:
    "An S3 bucket the backup is written to as <path>/<namespace>-<name>-<YYYYMMDDTHHMMSSZ>.<ext> (multipart upload).",
  type: "object",
  required: ["bucket"],
  properties: s3Connection("Key prefix (a folder) of the object; empty for the bucket's root."),
};

export const pvcDestinationSchema: JsonSchema = {
  title: "PVCDestination",
  description: "A PersistentVolumeClaim in the same namespace the backup is written to as <path>/<name>.<ext>.",
  type: "object",
  required: ["claimName"],
  properties: {
    claimName: objectNameSchema("Name of the PersistentVolumeClaim."),
    path: str("Folder inside the volume; empty for its root.", PATH_MAX),
  },
};

export const rqBackupSpecSchema: JsonSchema = {
  title: "RqBackupSpec",
  description: "A one-shot backup of an RqCluster, taken from its leader. Immutable once created.",
  type: "object",
  required: ["cluster", "destination"],
  "x-kubernetes-validations": [
    { rule: "self == oldSelf", message: "spec is immutable; create a new RqBackup instead" },
  ],
  properties: {
    cluster: str("Name of the RqCluster in the same namespace.", 63, { pattern: DNS1123_LABEL_PATTERN }),
    destination: {
      title: "BackupDestination",
      description: "Where the backup goes: exactly one of s3 and pvc.",
      type: "object",
      "x-kubernetes-validations": [{ rule: "has(self.s3) != has(self.pvc)", message: "set exactly one of s3 and pvc" }],
      properties: { s3: s3DestinationSchema, pvc: pvcDestinationSchema },
    },
    format: {
      description:
        "binary: the SQLite file (restorable with spec.restore); sql: a SQL text dump (GET /db/backup?fmt=sql).",
      type: "string",
      enum: [...BACKUP_FORMATS],
      default: "binary",
    },
    compress: { description: "gzip the backup (rqlite's compress).", type: "boolean", default: true },
    vacuum: { description: "VACUUM the copy before it is sent, for a smaller file.", type: "boolean", default: false },
    verify: {
      description:
        "Once Completed, read the backup back and prove it restores: its sha256 and size against status, " +
        "then the SQLite file (or the SQL dump loaded) through PRAGMA integrity_check, with the tables and rows it " +
        "holds; the result is the Verified condition and status.verification. From S3 the operator reads the " +
        "object; from a claim a restricted Job mounts it read-only and reads the file. The " +
        `annotation ${VERIFY_REQUEST_ANNOTATION} asks for it again (any new value), verify or not.`,
      type: "boolean",
      default: false,
    },
  },
};

/** The result of reading a Completed backup back and checking that it restores (spec.verify). */
export const verificationSchema: JsonSchema = {
  title: "BackupVerification",
  description: "The last verification of the backup: what was read back and what it held.",
  type: "object",
  properties: {
    result: { type: "string", enum: [...VERIFICATION_RESULTS] },
    verifiedAt: { description: "When the verification ended.", type: "string", format: "date-time" },
    sha256: { description: "Hex SHA-256 of the bytes read back from the destination.", type: "string" },
    size: { description: "Bytes read back.", type: "integer", format: "int64" },
    tables: { description: "Tables in the restored database.", type: "integer", format: "int64" },
    rows: { description: "Rows in all those tables together.", type: "integer", format: "int64" },
    integrityCheck: { description: 'What PRAGMA integrity_check said ("ok", or its first findings).', type: "string" },
    message: { description: "What was checked, or what is wrong with the backup.", type: "string" },
    attempts: {
      description: "Reads of the object that could not finish (S3 unreachable).",
      type: "integer",
      format: "int32",
    },
    request: { description: `The ${VERIFY_REQUEST_ANNOTATION} annotation this verification answered.`, type: "string" },
  },
};

export const rqBackupStatusSchema: JsonSchema = {
  title: "RqBackupStatus",
  description: "What happened to the backup.",
  type: "object",
  properties: {
    observedGeneration: { type: "integer", format: "int64" },
    phase: { type: "string", enum: [...BACKUP_PHASES] },
    startedAt: { type: "string", format: "date-time" },
    completedAt: { type: "string", format: "date-time" },
    size: { description: "Bytes written to the destination.", type: "integer", format: "int64" },
    sha256: { description: "Hex SHA-256 of the bytes written.", type: "string" },
    location: {
      description: "Where the backup is: s3://<bucket>/<key> or pvc://<claimName>/<path>.",
      type: "string",
    },
    leader: { description: "Node id of the leader the backup was taken from.", type: "string" },
    rqliteVersion: { description: "rqlited's version on that node, e.g. v8.43.4.", type: "string" },
    reason: { description: "Why the backup Failed, and what to do about it.", type: "string" },
    attempts: { description: "Attempts made so far.", type: "integer", format: "int32" },
    lastAttemptTime: {
      description: "When the last attempt failed; the retry backoff counts from it.",
      type: "string",
      format: "date-time",
    },
    verification: verificationSchema,
    conditions: conditionsSchema("BackupCondition"),
  },
};

export const rqBackupSchema: JsonSchema = resourceSchema(
  "RqBackup",
  "A one-shot backup of an RqCluster to S3 or a PersistentVolumeClaim.",
  rqBackupSpecSchema,
  rqBackupStatusSchema,
);

// RqCluster's side.

export const clusterBackupSchema: JsonSchema = {
  title: "ClusterBackupSpec",
  description:
    "Scheduled backups by rqlite's own auto-backup: the leader uploads the database every interval when it " +
    "changed. Changing this rolls the Pods.",
  type: "object",
  required: ["s3"],
  properties: {
    s3: {
      title: "S3BackupTarget",
      description: "The S3 object rqlite uploads to.",
      type: "object",
      required: ["bucket", "path"],
      properties: s3Connection(
        "Object key, e.g. backups/prod/db.sqlite.gz; with timestamp the last segment gets a prefix: " +
          "backups/prod/20260102150405_db.sqlite.gz.",
      ),
    },
    interval: str("How often the leader checks for changes and uploads, e.g. 30s, 1h, 1d.", 32, {
      pattern: DURATION_PATTERN,
      default: "1h",
    }),
    timestamp: {
      description: "Keep every upload as its own object (a UTC timestamp prefix) instead of overwriting one.",
      type: "boolean",
      default: true,
    },
    vacuum: { description: "VACUUM the copy before upload.", type: "boolean", default: false },
    compress: { description: "gzip each upload.", type: "boolean", default: true },
    retention: {
      title: "BackupRetention",
      description:
        "Which timestamped uploads the operator keeps; it deletes the rest. Both bounds apply; the newest object is never deleted.",
      type: "object",
      properties: {
        keepLast: { description: "Keep at most this many objects.", type: "integer", format: "int32", minimum: 1 },
        maxAge: str("Delete objects older than this, e.g. 7d or 720h.", 32, { pattern: DURATION_PATTERN }),
      },
    },
  },
};

export const clusterRestoreSchema: JsonSchema = {
  title: "ClusterRestoreSpec",
  description:
    "Where a new cluster's data comes from; set only at creation. Exactly one of backup, s3 and pvc. From S3 the " +
    "founding voters load it through rqlite's auto-restore; from a claim (pvc, or an RqBackup written to one) a " +
    "one-shot Pod of the operator's image mounts the claim read-only and loads the file into the leader once the " +
    "founding voters have formed the cluster. The cluster is not Available until the data is in.",
  type: "object",
  properties: {
    backup: objectNameSchema("Name of a Completed RqBackup in the same namespace, of format binary (S3 or pvc)."),
    pvc: {
      title: "PVCRestoreSource",
      description:
        "A backup file in a PersistentVolumeClaim of the same namespace, e.g. one a `pvc` RqBackup wrote: a binary " +
        "SQLite file, gzipped or not. The claim is mounted read-only; a ReadWriteOnce claim must not be in use on " +
        "another node meanwhile.",
      type: "object",
      required: ["claimName", "path"],
      properties: {
        claimName: objectNameSchema("Name of the PersistentVolumeClaim."),
        path: str("The file's path inside the volume, e.g. nightly/db.sqlite.gz.", PATH_MAX),
      },
    },
    s3: {
      title: "S3RestoreSource",
      description: "An object in S3: exactly one of key and before.",
      type: "object",
      required: ["bucket"],
      properties: {
        ...s3Connection('Key prefix (a folder) that "latest" and before search in.'),
        key: str('The object key, or "latest" for the newest object under path.', PATH_MAX),
        before: str(
          "An RFC 3339 time with its offset, e.g. 2026-12-07T09:30:00Z or 2026-12-07T10:30:00+01:00: restore the " +
            "newest backup directly under path taken strictly before it, by the UTC timestamp in its name " +
            "(rqlite's auto-backup YYYYMMDDHHMMSS_<name>, or an RqBackup's <namespace>-<name>-YYYYMMDDTHHMMSSZ.sqlite[.gz]). " +
            "A name's timestamp has whole seconds, so a backup qualifies when that whole second ended by then.",
          64,
        ),
      },
    },
  },
};

/** Parses DURATION_PATTERN text into seconds; undefined for anything else. */
export function durationSeconds(text: string): number | undefined {
  if (!new RegExp(DURATION_PATTERN).test(text)) return undefined;
  const units: Record<string, number> = { ms: 0.001, s: 1, m: 60, h: 3600, d: 86400 };
  return [...text.matchAll(/([0-9]+)(ms|s|m|h|d)/g)].reduce((sum, [, n, u]) => sum + Number(n) * units[u!]!, 0);
}
