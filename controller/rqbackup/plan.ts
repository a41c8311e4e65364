// PURE decisions for one RqBackup: what to do next given its status and what was observed, and
// what status a finished attempt leads to. No I/O and no clock: `now` is an input, so every
// branch is table-tested (test/unit/controller/rqbackup/plan.test.ts).
import type { JobOutcome } from "./job.js";
import type { RqBackupStatus } from "./types.js";

/** Why an attempt could not start or did not finish. */
export interface AttemptFailure {
  /** A sentence a person can act on: what failed, where, and what to do. */
  reason: string;
  /**
   * Trying again cannot help until a person changes something (bad credentials, a missing
   * bucket, an unsupported destination): the backup fails at once instead of after the retries.
   */
  permanent: boolean;
}

export interface RetryPolicy {
  /** Attempts in all, the first included, before the backup is Failed. */
  maxAttempts: number;
  /** Wait after the first failed attempt; it doubles after each one, up to maxDelayMs. */
  baseDelayMs: number;
  maxDelayMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { maxAttempts: 5, baseDelayMs: 10_000, maxDelayMs: 300_000 };

export interface BackupFacts {
  now: number;
  /**
   * The backup's status: the cached one overlaid with what this process last wrote, since the
   * cache may not show that write yet (and a field the API server pruned is still remembered,
   * so a lost attempt count never buys endless retries).
   */
  status: RqBackupStatus;
  /** This process is transferring the backup right now. */
  inFlight: boolean;
  /** What stops an attempt from starting now (no such cluster, no leader, no credentials). */
  blocker?: AttemptFailure;
}

export type BackupAction =
  /** Finished (Completed or Failed, which are final) or being transferred: nothing to do. */
  | { kind: "none" }
  /** Backing off after a failed attempt; look again after this long. */
  | { kind: "wait"; afterMs: number }
  /**
   * Write this status; when `retryAfterMs` is set, look again then. `count`: the status ends an
   * attempt, which counts in the attempts metric (with its length in `seconds` and its `bytes`,
   * when known).
   */
  | {
      kind: "status";
      status: RqBackupStatus;
      retryAfterMs?: number;
      count?: "completed" | "failed";
      seconds?: number;
      bytes?: number;
    }
  /** Write the Running status, then make attempt number `attempt`. */
  | { kind: "transfer"; attempt: number; status: RqBackupStatus };

export const isFinal = (s: RqBackupStatus | undefined) => s?.phase === "Completed" || s?.phase === "Failed";

/** The wait after `failed` failed attempts: base, doubling, capped. */
export function backoffMs(policy: RetryPolicy, failed: number): number {
  return Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.max(0, failed - 1));
}

/**
 * status.attempts counts the attempts started. Pending with n: n attempts failed, the next is
 * n + 1 once the backoff has passed. Running with n: attempt n is under way.
 */
export function planBackup(f: BackupFacts, policy: RetryPolicy = DEFAULT_RETRY): BackupAction {
  if (isFinal(f.status) || f.inFlight) return { kind: "none" };
  const action = planAttempt(f, policy);
  // A blocked attempt (it used up an attempt) or one cut off by a restart counts as failed;
  // giving up after the last one does not count again.
  if (
    action.kind === "status" &&
    ((action.status.attempts ?? 0) > (f.status.attempts ?? 0) || f.status.phase === "Running")
  )
    return { ...action, count: "failed" };
  return action;
}

function planAttempt(f: BackupFacts, policy: RetryPolicy): BackupAction {
  const started = f.status.attempts ?? 0;
  // Running, but no transfer in this process owns it: the attempt was cut off (the operator
  // restarted or handed over mid-transfer). It counts as failed and the backup starts again from
  // the beginning; a multipart upload that never completed leaves no object behind.
  if (f.status.phase === "Running") {
    return failedAttempt(f, policy, Math.max(1, started), {
      reason: "the transfer was interrupted (the operator restarted or handed over)",
      permanent: false,
    });
  }
  if (started > 0 && f.status.lastAttemptTime) {
    const due = Date.parse(f.status.lastAttemptTime) + backoffMs(policy, started);
    if (f.now < due) return { kind: "wait", afterMs: due - f.now };
  }
  if (started >= policy.maxAttempts) {
    return { kind: "status", status: failedStatus(f, started, f.status.reason ?? "too many failed attempts") };
  }
  if (f.blocker) return failedAttempt(f, policy, started + 1, f.blocker);
  return {
    kind: "transfer",
    attempt: started + 1,
    status: { phase: "Running", startedAt: new Date(f.now).toISOString(), attempts: started + 1 },
  };
}

/** How often a running backup Job's Pod is looked at (its scheduling shows in status.reason). */
export const JOB_RECHECK_MS = 30_000;

/** What one reconcile of an RqBackup saw before anything it names (Secrets, S3, a leader) is read. */
export interface BackupObservation extends Omit<BackupFacts, "blocker"> {
  /** The RqBackup is being deleted. */
  deleting: boolean;
  /** Why the spec is refused, as the webhook would say it; undefined when it is valid. */
  invalid?: string;
  /**
   * A `pvc` attempt is Running with no transfer in this process: its Job's outcome, or
   * "missing" when there is no Job (deleted, or never created). Undefined when not looked for.
   */
  job?: JobOutcome | "missing";
}

export type StepAction =
  | BackupAction
  /** Being deleted: a transfer still running is abandoned, nothing else is done. */
  | { kind: "abandon" }
  /** The attempt's Job runs and holds its slot; write `reason` (why its Pod waits) when set. */
  | { kind: "watchJob"; afterMs: number; reason?: string };

/**
 * The next step of one RqBackup from what was observed. `blocker`: what stopped the transfer
 * this plan asked for, once its source was read (the plan is asked again with it).
 */
export function planStep(o: BackupObservation, policy: RetryPolicy, blocker?: AttemptFailure): StepAction {
  if (o.deleting) return { kind: "abandon" };
  // Judged again as the webhook judges it: an RqBackup the webhook never saw may name anything.
  if (o.invalid !== undefined) {
    if (isFinal(o.status)) return { kind: "none" };
    return { kind: "status", status: { ...o.status, phase: "Failed", reason: o.invalid } };
  }
  // A `pvc` attempt runs in its Job: Running with the Job still going is in flight; with the Job
  // finished, its result is the attempt's. Without a Job the attempt was interrupted, as for S3.
  if (o.job !== undefined && o.job !== "missing") {
    const job = o.job;
    if (job.kind === "running") {
      // A Pod that cannot be placed changes nothing on the Job: look again while it runs.
      const reason = job.waiting && job.waiting !== o.status.reason ? job.waiting : undefined;
      return { kind: "watchJob", afterMs: JOB_RECHECK_MS, ...(reason ? { reason } : {}) };
    }
    const attempt = Math.max(1, o.status.attempts ?? 1);
    const seconds = o.status.startedAt ? Math.max(0, (o.now - Date.parse(o.status.startedAt)) / 1000) : 0;
    if (job.kind === "succeeded") {
      const status = completedStatus(o.now, attempt, {
        size: job.size,
        sha256: job.sha256,
        location: o.status.location ?? "",
        leader: o.status.leader ?? "",
        ...(o.status.rqliteVersion ? { rqliteVersion: o.status.rqliteVersion } : {}),
      });
      return { kind: "status", status, count: "completed", seconds, bytes: job.size };
    }
    const failed = failedAttempt(o, policy, attempt, { reason: job.reason, permanent: false });
    return failed.kind === "status" ? { ...failed, count: "failed", seconds } : failed;
  }
  return planBackup({ now: o.now, status: o.status, inFlight: o.inFlight, ...(blocker ? { blocker } : {}) }, policy);
}

/** The status after attempt `attempt` failed: Failed when it cannot help or was the last, else retry. */
export function failedAttempt(
  f: Pick<BackupFacts, "now">,
  policy: RetryPolicy,
  attempt: number,
  failure: AttemptFailure,
): BackupAction {
  if (failure.permanent || attempt >= policy.maxAttempts) {
    const why = failure.permanent ? failure.reason : `${failure.reason} (gave up after ${attempt} attempts)`;
    return { kind: "status", status: failedStatus(f, attempt, why) };
  }
  const afterMs = backoffMs(policy, attempt);
  return {
    kind: "status",
    retryAfterMs: afterMs,
    status: {
      phase: "Pending",
      attempts: attempt,
      lastAttemptTime: new Date(f.now).toISOString(),
      reason: `attempt ${attempt} of ${policy.maxAttempts} failed, retrying in ${Math.round(afterMs / 1000)} s: ${failure.reason}`,
    },
  };
}

function failedStatus(f: Pick<BackupFacts, "now">, attempts: number, reason: string): RqBackupStatus {
  return {
    phase: "Failed",
    attempts,
    lastAttemptTime: new Date(f.now).toISOString(),
    completedAt: new Date(f.now).toISOString(),
    reason,
  };
}

export interface TransferResult {
  size: number;
  sha256: string;
  location: string;
  leader: string;
  rqliteVersion?: string;
}

/** The status once attempt `attempt` copied the whole backup and the object is in place. */
export function completedStatus(now: number, attempt: number, r: TransferResult): RqBackupStatus {
  return {
    phase: "Completed",
    completedAt: new Date(now).toISOString(),
    attempts: attempt,
    size: r.size,
    sha256: r.sha256,
    location: r.location,
    leader: r.leader,
    ...(r.rqliteVersion ? { rqliteVersion: r.rqliteVersion } : {}),
    // A retry's explanation no longer applies.
    reason: "",
  };
}

/** S3 error names that no retry can fix: the credentials, the bucket or the permission are wrong. */
const PERMANENT_S3 = new Set([
  "InvalidAccessKeyId",
  "SignatureDoesNotMatch",
  "AccessDenied",
  "XAdminUserNotFound",
  "NoSuchBucket",
  "InvalidBucketName",
  "AuthorizationHeaderMalformed",
  "InvalidToken",
  "ExpiredToken",
]);

/** Whether an S3 error (by the SDK's error name) is one a retry cannot fix. */
export function isPermanentS3Error(name: string | undefined): boolean {
  return name !== undefined && PERMANENT_S3.has(name);
}
