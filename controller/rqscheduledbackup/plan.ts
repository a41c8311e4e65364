// PURE decisions for one RqScheduledBackup: from what was observed (its spec and status, the
// RqBackups it owns, the clock as an input) to the RqBackup a firing creates, the firing a
// running backup makes it skip, the old backups retention deletes, the status, and when to look
// again. No I/O and no clock; table-tested in test/unit/controller/rqscheduledbackup/plan.test.ts.
import { latestFiring, nextFiring, parseCron } from "../../shared/cron.js";
import type { RqBackupSpec, RqScheduledBackupSpec, RqScheduledBackupStatus } from "../../shared/index.js";
import { DEFAULT_FAILED_HISTORY, DEFAULT_SUCCESSFUL_HISTORY } from "../../shared/scheduled-backup-schema.js";

/** One RqBackup this schedule owns, as the plan needs it. */
export interface Child {
  name: string;
  /** The firing it was created for (its annotation), ms since the epoch. */
  scheduledAt: number;
  phase?: "Pending" | "Running" | "Completed" | "Failed";
  completedAt?: string;
  /** status.location: where its object or file is. */
  location?: string;
  deleting: boolean;
}

export interface ScheduleFacts {
  now: number;
  name: string;
  /** metadata.creationTimestamp: the first firing is the first after it. */
  createdAt: number;
  spec: RqScheduledBackupSpec;
  status: RqScheduledBackupStatus;
  /** Why the spec is refused, as the webhook would say it; undefined when it is valid. */
  invalid?: string;
  children: Child[];
}

export type ScheduleAction =
  /** Create RqBackup `name` for the firing at `scheduledAt`, with `spec`. */
  | { kind: "create"; name: string; scheduledAt: number; spec: RqBackupSpec }
  /** A firing skipped: an earlier backup of this schedule is unfinished (concurrencyPolicy Forbid). */
  | { kind: "skip"; scheduledAt: number; message: string }
  /** Retention: delete what the backup wrote (`location`, when it wrote something), then the RqBackup. */
  | { kind: "prune"; name: string; location?: string };

export interface SchedulePlan {
  actions: ScheduleAction[];
  status: RqScheduledBackupStatus;
  /** Look again then, at the latest (the next firing); undefined: only events wake it. */
  requeueAfterMs?: number;
}

const isFinal = (c: Child) => c.phase === "Completed" || c.phase === "Failed";

/** UTC YYYYMMDDHHMMSS of a firing, the suffix of its RqBackup's name. */
export function firingStamp(at: number): string {
  return new Date(at).toISOString().replace(/[-:T]/g, "").slice(0, 14);
}

/**
 * The RqBackup of the firing at `at`: a function of the schedule's name and the firing only, so a
 * restarted controller, or a second one, asks to create the same name, which exists at most once.
 */
export function childName(schedule: string, at: number): string {
  return `${schedule}-${firingStamp(at)}`;
}

export function planSchedule(f: ScheduleFacts): SchedulePlan {
  const live = f.children.filter((c) => !c.deleting);
  const byNewest = [...live].sort((a, b) => b.scheduledAt - a.scheduledAt);
  const active = byNewest.filter((c) => !isFinal(c)).map((c) => c.name);
  const completed = byNewest.filter((c) => c.phase === "Completed");
  const lastSuccess = [...completed].sort(
    (a, b) => Date.parse(b.completedAt ?? "") - Date.parse(a.completedAt ?? ""),
  )[0];
  const base: RqScheduledBackupStatus = {
    ...f.status,
    active,
    ...(lastSuccess
      ? {
          lastSuccessfulBackup: lastSuccess.name,
          ...(lastSuccess.completedAt ? { lastSuccessfulTime: lastSuccess.completedAt } : {}),
        }
      : {}),
  };
  if (f.invalid !== undefined) {
    const { nextScheduleTime: _next, ...rest } = base;
    return { actions: [], status: { ...rest, reason: f.invalid } };
  }
  const cron = parseCron(f.spec.schedule);
  const tz = f.spec.timeZone ?? "UTC";
  const actions: ScheduleAction[] = [];
  // The last firing acted on: the status says it, and so does the newest RqBackup (its status
  // write may have been lost after the create).
  const recorded = f.status.lastScheduleTime ? Date.parse(f.status.lastScheduleTime) : NaN;
  let last = Math.max(
    f.createdAt,
    Number.isNaN(recorded) ? -Infinity : recorded,
    byNewest[0]?.scheduledAt ?? -Infinity,
  );
  const due = f.spec.suspend ? undefined : latestFiring(cron, last, f.now, tz);
  if (due !== undefined) {
    const name = childName(f.name, due);
    if (!f.children.some((c) => c.name === name)) {
      if ((f.spec.concurrencyPolicy ?? "Forbid") === "Forbid" && active.length > 0) {
        actions.push({
          kind: "skip",
          scheduledAt: due,
          message: `skipped the firing of ${new Date(due).toISOString()}: RqBackup ${active.join(", ")} of this schedule is not finished (concurrencyPolicy Forbid)`,
        });
      } else {
        actions.push({ kind: "create", name, scheduledAt: due, spec: f.spec.backup });
        active.unshift(name);
      }
    }
    last = due;
  }
  actions.push(...retention(byNewest, f.spec));
  const next = f.spec.suspend ? undefined : nextFiring(cron, f.now, tz);
  const { nextScheduleTime: _old, ...withoutNext } = base;
  const status: RqScheduledBackupStatus = {
    ...withoutNext,
    active,
    ...(last > f.createdAt ? { lastScheduleTime: new Date(last).toISOString() } : {}),
    ...(next !== undefined ? { nextScheduleTime: new Date(next).toISOString() } : {}),
    reason: "",
  };
  return { actions, status, ...(next !== undefined ? { requeueAfterMs: Math.max(1, next - f.now) } : {}) };
}

/**
 * The finished backups past the history limits, oldest first: Completed beyond
 * successfulBackupsHistoryLimit (at least 1, so the newest is always kept), Failed beyond
 * failedBackupsHistoryLimit. Unfinished ones are never pruned.
 */
function retention(byNewest: Child[], spec: RqScheduledBackupSpec): ScheduleAction[] {
  const keepOk = Math.max(1, spec.successfulBackupsHistoryLimit ?? DEFAULT_SUCCESSFUL_HISTORY);
  const keepFailed = Math.max(0, spec.failedBackupsHistoryLimit ?? DEFAULT_FAILED_HISTORY);
  const old = [
    ...byNewest.filter((c) => c.phase === "Completed").slice(keepOk),
    ...byNewest.filter((c) => c.phase === "Failed").slice(keepFailed),
  ].sort((a, b) => a.scheduledAt - b.scheduledAt);
  // Only a Completed backup left an object or a file: a failed attempt leaves none.
  return old.map((c) => ({
    kind: "prune",
    name: c.name,
    ...(c.location && c.phase === "Completed" ? { location: c.location } : {}),
  }));
}
