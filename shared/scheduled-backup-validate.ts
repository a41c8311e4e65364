// The rules of an RqScheduledBackup beyond its schema: a schedule that parses and has a firing,
// a time zone the platform knows, a name that leaves room for the firing's stamp, and the
// RqBackup rules for the spec each firing copies. The webhook and the controller both run them.
import { validateBackup } from "./backup-validate.js";
import { CronError, isKnownTimeZone, parseCron } from "./cron.js";
import type { FieldError, ValidationResult } from "./field-errors.js";
import { getOwn, isPlainObject, objectAt } from "./json-value.js";
import { DNS1123_SUBDOMAIN_MAX_LENGTH } from "./k8s-names.js";
import type { S3Policy } from "./s3-endpoint.js";
import { rqScheduledBackupSpecSchema } from "./scheduled-backup-schema.js";
import { schemaErrors } from "./schema-validator.js";

/** "-" and the firing's UTC stamp YYYYMMDDHHMMSS, appended to the schedule's name. */
export const FIRING_SUFFIX_LENGTH = 15;
export const SCHEDULED_BACKUP_NAME_MAX = DNS1123_SUBDOMAIN_MAX_LENGTH - FIRING_SUFFIX_LENGTH;

/** Every rule an RqScheduledBackup must meet, all errors at once; no input makes it throw. */
export function validateScheduledBackup(obj: unknown, policy: S3Policy): ValidationResult {
  const result: ValidationResult = { errors: [], warnings: [] };
  if (!isPlainObject(obj)) {
    result.errors.push({ field: "", type: "TypeInvalid", value: obj, message: "must be an RqScheduledBackup object" });
    return result;
  }
  const metadata = objectAt(obj, "metadata");
  const name = metadata && getOwn(metadata, "name");
  if (typeof name === "string" && name.length > SCHEDULED_BACKUP_NAME_MAX) {
    result.errors.push({
      field: "metadata.name",
      type: "TooLong",
      value: name,
      message: `may have at most ${SCHEDULED_BACKUP_NAME_MAX} characters: each backup is named <name>-<YYYYMMDDHHMMSS>`,
    });
  }
  const spec = getOwn(obj, "spec");
  if (spec === undefined) {
    result.errors.push({ field: "spec", type: "Required", message: "" });
    return result;
  }
  result.errors.push(...schemaErrors(rqScheduledBackupSpecSchema, spec, "spec"));
  if (!isPlainObject(spec)) return result;
  const schedule = getOwn(spec, "schedule");
  if (typeof schedule === "string") result.errors.push(...scheduleErrors(schedule));
  const timeZone = getOwn(spec, "timeZone");
  if (typeof timeZone === "string" && !isKnownTimeZone(timeZone)) {
    result.errors.push({
      field: "spec.timeZone",
      type: "Invalid",
      value: timeZone,
      message: "is not a time zone this operator knows: use an IANA name such as UTC or Europe/Paris",
    });
  }
  if (typeof timeZone === "string" && typeof schedule === "string" && schedule.trim().startsWith("@every")) {
    result.warnings.push("spec.timeZone: @every counts from the Unix epoch in UTC, so the time zone changes nothing");
  }
  const backup = getOwn(spec, "backup");
  const destination = isPlainObject(backup) ? objectAt(backup, "destination") : undefined;
  if (destination && (getOwn(destination, "s3") === undefined) === (getOwn(destination, "pvc") === undefined)) {
    result.errors.push({
      field: "spec.backup.destination",
      type: "Invalid",
      value: "",
      message: "set exactly one of s3 and pvc",
    });
  }
  if (isPlainObject(backup)) {
    // The RqBackup rules, as each firing's RqBackup will be judged (its own schema errors are
    // already reported above, under spec.backup).
    const namespace = metadata && getOwn(metadata, "namespace");
    const child = validateBackup({ metadata: { namespace }, spec: backup }, policy);
    const moved = (e: FieldError): FieldError => ({ ...e, field: e.field.replace(/^spec/, "spec.backup") });
    const known = new Set(result.errors.map((e) => `${e.field}\n${e.message}`));
    result.errors.push(...child.errors.map(moved).filter((e) => !known.has(`${e.field}\n${e.message}`)));
    result.warnings.push(...child.warnings.map((w) => w.replace(/^spec\./, "spec.backup.")));
  }
  return result;
}

function scheduleErrors(schedule: string): FieldError[] {
  try {
    parseCron(schedule);
    return [];
  } catch (err) {
    if (!(err instanceof CronError)) throw err;
    return [{ field: "spec.schedule", type: "Invalid", value: schedule, message: err.message }];
  }
}
