// The RqScheduledBackup kind: a cron schedule that creates a one-shot RqBackup per firing, with a
// history limit per outcome (retention) and a concurrency rule. Like schema.ts and
// backup-schema.ts, this object is the single source of the CRD, the validator and the types.
import { rqBackupSpecSchema } from "./backup-schema.js";
import type { JsonSchema } from "./json-schema.js";
import { resourceSchema } from "./kube-schema.js";
import { GROUP } from "./names.js";

export const SCHEDULED_BACKUP_KIND = "RqScheduledBackup";
export const SCHEDULED_BACKUP_LIST_KIND = "RqScheduledBackupList";
export const SCHEDULED_BACKUP_PLURAL = "rqscheduledbackups";
export const SCHEDULED_BACKUP_SINGULAR = "rqscheduledbackup";
export const SCHEDULED_BACKUP_SHORT_NAME = "rqsb";
export const SCHEDULED_BACKUP_CRD_NAME = `${SCHEDULED_BACKUP_PLURAL}.${GROUP}`;

/** On each RqBackup a schedule created: the RqScheduledBackup's name (the owner reference says which one). */
export const LABEL_SCHEDULED_BY = `${GROUP}/scheduled-backup`;
/** On each RqBackup a schedule created: the firing it is for (RFC 3339, UTC). */
export const ANNOTATION_SCHEDULED_AT = `${GROUP}/scheduled-at`;

export const CONCURRENCY_POLICIES = ["Forbid", "Allow"] as const;
export const DEFAULT_SUCCESSFUL_HISTORY = 3;
export const DEFAULT_FAILED_HISTORY = 1;

/** The RqBackup spec each firing copies: the one-shot's, without its immutability (a schedule may be edited). */
const { "x-kubernetes-validations": _immutable, ...backupTemplate } = rqBackupSpecSchema;

export const rqScheduledBackupSpecSchema: JsonSchema = {
  title: "RqScheduledBackupSpec",
  description: "When to take backups of an RqCluster, where to, and how many to keep.",
  type: "object",
  required: ["schedule", "backup"],
  properties: {
    schedule: {
      description:
        "A cron schedule: five fields (minute hour day-of-month month day-of-week, e.g. 0 2 * * * for 02:00 " +
        "every day), or @yearly, @monthly, @weekly, @daily, @hourly, or @every <duration> (e.g. @every 6h: every " +
        "whole multiple of it since the Unix epoch, in UTC).",
      type: "string",
      maxLength: 128,
    },
    timeZone: {
      description: "IANA time zone the five fields are read in, e.g. Europe/Paris. Unset: UTC.",
      type: "string",
      maxLength: 64,
      pattern: "^[A-Za-z][A-Za-z0-9_+\\-/]*$",
    },
    suspend: {
      description: "Take no new backups while true; retention still applies to the ones taken.",
      type: "boolean",
      default: false,
    },
    concurrencyPolicy: {
      description:
        "Forbid: a firing while a backup of this schedule is still unfinished is skipped (with an Event). " +
        "Allow: it starts anyway.",
      type: "string",
      enum: [...CONCURRENCY_POLICIES],
      default: "Forbid",
    },
    successfulBackupsHistoryLimit: {
      description: "Completed RqBackups of this schedule to keep; older ones are deleted with their S3 object or file.",
      type: "integer",
      format: "int32",
      minimum: 1,
      maximum: 1000,
      default: DEFAULT_SUCCESSFUL_HISTORY,
    },
    failedBackupsHistoryLimit: {
      description: "Failed RqBackups of this schedule to keep (for their reason); older ones are deleted.",
      type: "integer",
      format: "int32",
      minimum: 0,
      maximum: 1000,
      default: DEFAULT_FAILED_HISTORY,
    },
    backup: { ...backupTemplate, description: "The spec of the RqBackup each firing creates." },
  },
};

export const rqScheduledBackupStatusSchema: JsonSchema = {
  title: "RqScheduledBackupStatus",
  description: "What the schedule did last and will do next.",
  type: "object",
  properties: {
    observedGeneration: { type: "integer", format: "int64" },
    lastScheduleTime: {
      description: "The last firing acted on: an RqBackup created for it, or skipped.",
      type: "string",
      format: "date-time",
    },
    nextScheduleTime: {
      description: "The next firing; unset while suspended or invalid.",
      type: "string",
      format: "date-time",
    },
    active: {
      description: "Names of this schedule's RqBackups not yet Completed or Failed.",
      type: "array",
      maxItems: 1000,
      items: { type: "string" },
    },
    lastSuccessfulBackup: { description: "Name of the newest Completed RqBackup of this schedule.", type: "string" },
    lastSuccessfulTime: { description: "When that backup completed.", type: "string", format: "date-time" },
    reason: {
      description: "Why the schedule takes no backups (an invalid spec), with the fields to fix.",
      type: "string",
    },
  },
};

export const rqScheduledBackupSchema: JsonSchema = resourceSchema(
  SCHEDULED_BACKUP_KIND,
  "Backups of an RqCluster on a cron schedule: each firing creates an RqBackup, owned by this object.",
  rqScheduledBackupSpecSchema,
  rqScheduledBackupStatusSchema,
);
