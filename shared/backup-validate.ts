// Admission rules for spec.backup and spec.restore beyond their schema, the transition rule
// that spec.restore is set at creation only, and the rules of an RqBackup. The webhook and the
// controller both run them, so an object the webhook never saw is judged the same way.
import { isDeepStrictEqual } from "node:util";
import { parseRfc3339, restoreFileProblem, volumePathProblem } from "./backup-names.js";
import { LATEST_KEY, durationSeconds, rqBackupSpecSchema } from "./backup-schema.js";
import type { FieldError, ValidationResult } from "./field-errors.js";
import { getOwn, isPlainObject, objectAt, type JsonObject } from "./json-value.js";
import { dotKeyErrors } from "./k8s-names.js";
import { s3ConnectionErrors, type S3Policy } from "./s3-endpoint.js";
import { schemaErrors } from "./schema-validator.js";

/** rqlited expands $NAME in its config files (os.ExpandEnv), so a literal `$` would be rewritten. */
function dollarErrors(holder: JsonObject | undefined, base: string, fields: string[]): FieldError[] {
  if (!holder) return [];
  return fields.flatMap((f) => {
    const v = getOwn(holder, f);
    return typeof v === "string" && v.includes("$")
      ? [
          {
            field: `${base}.${f}`,
            type: "Invalid" as const,
            value: v,
            message: "may not contain $: rqlited expands $NAME in its backup configuration",
          },
        ]
      : [];
  });
}

/** The schema's patterns check the Secret's name and its keys' characters; "." and ".." are left. */
function credentialKeyErrors(s3: JsonObject, base: string): FieldError[] {
  const ref = objectAt(s3, "credentialsSecret");
  if (!ref) return [];
  return ["accessKeyIdKey", "secretAccessKeyKey"].flatMap((k) =>
    dotKeyErrors(getOwn(ref, k), `${base}.credentialsSecret.${k}`),
  );
}

/** A rule for one S3 location; `base` is its field path, e.g. spec.destination.s3. */
export type S3ConnectionCheck = (s3: JsonObject, base: string) => FieldError[];

/**
 * The rules every S3 location obeys, wherever it is set: spec.backup.s3 and spec.restore.s3 of
 * an RqCluster, spec.destination.s3 of an RqBackup. A new rule for S3 locations goes here.
 */
export const S3_CONNECTION_CHECKS: S3ConnectionCheck[] = [credentialKeyErrors];

function s3Errors(s3: JsonObject | undefined, base: string): FieldError[] {
  return s3 ? S3_CONNECTION_CHECKS.flatMap((check) => check(s3, base)) : [];
}

export function backupSpecErrors(spec: JsonObject, { errors, warnings }: ValidationResult): void {
  const backup = objectAt(spec, "backup");
  if (backup) {
    const s3 = objectAt(backup, "s3");
    errors.push(...dollarErrors(s3, "spec.backup.s3", ["bucket", "path", "endpoint", "region"]));
    errors.push(...s3Errors(s3, "spec.backup.s3"));
    const path = s3 && getOwn(s3, "path");
    if (typeof path === "string" && (path === "" || path.endsWith("/"))) {
      errors.push({
        field: "spec.backup.s3.path",
        type: "Invalid",
        value: path,
        message: "must name an object, e.g. backups/db.sqlite.gz, not a folder",
      });
    }
    const interval = getOwn(backup, "interval");
    const seconds = typeof interval === "string" ? durationSeconds(interval) : undefined;
    if (seconds !== undefined && seconds < 1) {
      errors.push({ field: "spec.backup.interval", type: "Invalid", value: interval, message: "must be at least 1s" });
    }
    const retention = objectAt(backup, "retention");
    if (retention && getOwn(backup, "timestamp") === false) {
      warnings.push(
        "spec.backup.retention: with timestamp false rqlite overwrites one object, so there is nothing to retain",
      );
    }
  }
  const restore = objectAt(spec, "restore");
  if (restore) {
    const s3 = objectAt(restore, "s3");
    const sources = ["backup", "s3", "pvc"].filter((k) => getOwn(restore, k) !== undefined);
    if (sources.length !== 1) {
      errors.push({
        field: "spec.restore",
        type: "Invalid",
        value: "",
        message: "set exactly one of backup, s3 and pvc",
      });
    }
    const pvcPath = getOwn(objectAt(restore, "pvc") ?? {}, "path");
    const pvcProblem = typeof pvcPath === "string" ? restoreFileProblem(pvcPath) : undefined;
    if (pvcProblem)
      errors.push({ field: "spec.restore.pvc.path", type: "Invalid", value: pvcPath, message: pvcProblem });
    errors.push(...dollarErrors(s3, "spec.restore.s3", ["bucket", "path", "endpoint", "region", "key"]));
    errors.push(...s3Errors(s3, "spec.restore.s3"));
    const key = s3 && getOwn(s3, "key");
    const before = s3 && getOwn(s3, "before");
    if (s3 && (key === undefined) === (before === undefined)) {
      errors.push({
        field: "spec.restore.s3",
        type: "Invalid",
        value: "",
        message: `set exactly one of key (an object, or "${LATEST_KEY}") and before (an RFC 3339 time)`,
      });
    }
    if (typeof before === "string" && parseRfc3339(before) === undefined) {
      errors.push({
        field: "spec.restore.s3.before",
        type: "Invalid",
        value: before,
        message: "must be an RFC 3339 time with its offset, e.g. 2026-12-07T09:30:00Z or 2026-12-07T10:30:00+01:00",
      });
    }
    if (typeof key === "string" && (key === "" || key.endsWith("/"))) {
      errors.push({
        field: "spec.restore.s3.key",
        type: "Invalid",
        value: key,
        message: `must name an object, or be "${LATEST_KEY}" for the newest object under path`,
      });
    }
  }
}

/**
 * Where spec.backup and spec.restore may send requests, and with whose credentials: the
 * administrator's policy for the namespace the object lives in.
 */
export function backupS3PolicyErrors(
  spec: JsonObject,
  namespace: string | undefined,
  policy: S3Policy,
  { errors, warnings }: ValidationResult,
): void {
  for (const at of ["backup", "restore"]) {
    const s3 = objectAt(spec, at, "s3");
    const found = s3ConnectionErrors(s3, `spec.${at}.s3`, namespace, policy);
    errors.push(...found);
    if (
      s3 &&
      getOwn(s3, "credentialsSecret") === undefined &&
      found.every((e) => !e.field.endsWith("credentialsSecret"))
    )
      warnings.push(
        `spec.${at}.s3.credentialsSecret is unset: rqlited and the operator use their ambient AWS credentials, as this namespace is allowed to`,
      );
  }
}

/** spec.restore says where a NEW cluster's data comes from; later it could only mislead. */
export function restoreUpdateErrors(oldSpec: JsonObject, newSpec: JsonObject): FieldError[] {
  const before = getOwn(oldSpec, "restore");
  const after = getOwn(newSpec, "restore");
  if (isDeepStrictEqual(before, after)) return [];
  const message =
    before === undefined
      ? "may be set only when the cluster is created; to restore a backup, create a new RqCluster with spec.restore"
      : "may not be changed or removed after the cluster is created; it records where the cluster's data came from";
  return [{ field: "spec.restore", type: "Forbidden", message }];
}

/** A rule of an RqBackup's spec beyond its schema. */
type BackupCheck = (spec: JsonObject, result: ValidationResult) => void;

const BACKUP_CHECKS: BackupCheck[] = [
  (spec, { errors }) => errors.push(...s3Errors(objectAt(spec, "destination", "s3"), "spec.destination.s3")),
  (spec, { errors }) => {
    // The Job writes <mount>/<path>/<file>: a path that climbs out would write beside the mount.
    const path = getOwn(objectAt(spec, "destination", "pvc") ?? {}, "path");
    const problem = typeof path === "string" ? volumePathProblem(path) : undefined;
    if (problem) errors.push({ field: "spec.destination.pvc.path", type: "Invalid", value: path, message: problem });
  },
];

/**
 * Every rule an RqBackup must meet, all errors at once; no input makes it throw. Its spec is
 * immutable (the CRD says so), so there are no transition rules: an update is judged as a create.
 */
export function validateBackup(obj: unknown, policy: S3Policy): ValidationResult {
  const result: ValidationResult = { errors: [], warnings: [] };
  if (!isPlainObject(obj)) {
    result.errors.push({ field: "", type: "TypeInvalid", value: obj, message: "must be an RqBackup object" });
    return result;
  }
  const spec = getOwn(obj, "spec");
  if (spec === undefined) {
    result.errors.push({ field: "spec", type: "Required", message: "" });
    return result;
  }
  result.errors.push(...schemaErrors(rqBackupSpecSchema, spec, "spec"));
  if (!isPlainObject(spec)) return result;
  for (const check of BACKUP_CHECKS) check(spec, result);
  const namespace = objectAt(obj, "metadata")?.namespace;
  const s3 = objectAt(spec, "destination", "s3");
  result.errors.push(
    ...s3ConnectionErrors(s3, "spec.destination.s3", typeof namespace === "string" ? namespace : undefined, policy),
  );
  return result;
}
