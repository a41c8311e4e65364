// Admission rules for spec.backup and spec.restore beyond their schema, and the transition rule
// that spec.restore is set at creation only.
import { isDeepStrictEqual } from "node:util";
import { LATEST_KEY, durationSeconds } from "./backup-schema.js";
import type { FieldError, ValidationResult } from "./field-errors.js";
import { getOwn, objectAt, type JsonObject } from "./json-value.js";
import { dns1123Subdomain } from "./k8s-names.js";
import { s3ConnectionErrors, type S3Policy } from "./s3-endpoint.js";

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

function secretNameErrors(s3: JsonObject | undefined, base: string): FieldError[] {
  const name = s3 && getOwn(objectAt(s3, "credentialsSecret") ?? {}, "name");
  if (typeof name !== "string") return [];
  return dns1123Subdomain(name).map((message) => ({
    field: `${base}.credentialsSecret.name`,
    type: "Invalid" as const,
    value: name,
    message,
  }));
}

export function backupSpecErrors(spec: JsonObject, { errors, warnings }: ValidationResult): void {
  const backup = objectAt(spec, "backup");
  if (backup) {
    const s3 = objectAt(backup, "s3");
    errors.push(...dollarErrors(s3, "spec.backup.s3", ["bucket", "path", "endpoint", "region"]));
    errors.push(...secretNameErrors(s3, "spec.backup.s3"));
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
    const hasBackup = getOwn(restore, "backup") !== undefined;
    const s3 = objectAt(restore, "s3");
    if (hasBackup === (s3 !== undefined)) {
      errors.push({ field: "spec.restore", type: "Invalid", value: "", message: "set exactly one of backup and s3" });
    }
    const name = getOwn(restore, "backup");
    if (typeof name === "string") {
      for (const message of dns1123Subdomain(name))
        errors.push({ field: "spec.restore.backup", type: "Invalid", value: name, message });
    }
    errors.push(...dollarErrors(s3, "spec.restore.s3", ["bucket", "path", "endpoint", "region", "key"]));
    errors.push(...secretNameErrors(s3, "spec.restore.s3"));
    const key = s3 && getOwn(s3, "key");
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
