// PURE decisions of backup verification (spec.verify, or the verify-requested annotation): when
// a Completed backup's object is read back, and what the reading says about it, as the Verified
// condition and status.verification. The reading itself is ./verifyObject.ts; no I/O and no
// clock here (test/unit/controller/rqbackup/verification.test.ts).
import type { BackupVerification, Condition } from "../../shared/index.js";
import type { CheckReport } from "./checkDb.js";
import { backoffMs, type RetryPolicy } from "./plan.js";
import type { RqBackupStatus } from "./types.js";

export const VERIFIED = "Verified";

/** Reads of the object that could not finish (S3 unreachable, a timeout) before verification gives up. */
export const VERIFY_ATTEMPTS = 3;

export interface VerificationInputs {
  now: number;
  /** spec.verify. */
  verify: boolean;
  /** The verify-requested annotation's value, when set. */
  request?: string;
  status: RqBackupStatus;
}

export type VerificationStep = { kind: "none" } | { kind: "wait"; afterMs: number } | { kind: "verify" };

/**
 * Whether to read the backup back now. Once per backup when spec.verify asks, again for each new
 * value of the annotation; a read that could not finish is retried with the backups' backoff.
 */
export function planVerification(i: VerificationInputs, policy: RetryPolicy): VerificationStep {
  if (i.status.phase !== "Completed") return { kind: "none" };
  const v = i.status.verification;
  const requested = i.request !== undefined && i.request !== v?.request;
  const answered = v?.result !== undefined && v.request === i.request;
  if (!requested && (answered || !i.verify)) return { kind: "none" };
  // Unfinished reads of this same request back off; a new request starts afresh.
  const unfinished = !requested && v?.result === undefined ? (v?.attempts ?? 0) : 0;
  if (unfinished > 0 && v?.verifiedAt) {
    const due = Date.parse(v.verifiedAt) + backoffMs(policy, unfinished);
    if (i.now < due) return { kind: "wait", afterMs: due - i.now };
  }
  return { kind: "verify" };
}

/** What reading the object back gave. */
export type ObjectReading =
  /** The read could not finish (S3 unreachable, refused, a timeout): `reason` says why. */
  | { kind: "unreadable"; reason: string }
  /** The uncompressed backup is larger than the operator may stage (--backup-verify-max-bytes). */
  | { kind: "tooLarge"; maxBytes: number }
  | {
      kind: "read";
      size: number;
      sha256: string;
      /** The bytes are not a whole backup (gzip damaged, not SQLite, cut short), as the upload checks say it. */
      problem?: string;
      /** The throwaway process's report, when the bytes were whole enough to open. */
      check?: CheckReport;
    };

export interface VerificationOutcome {
  verification: BackupVerification;
  condition: Omit<Condition, "lastTransitionTime">;
  /** Verified, failed for good, or read again later (this long). */
  result: "verified" | "failed" | "skipped" | { retryAfterMs: number };
}

const short = (sha: string | undefined) => (sha ? sha.slice(0, 16) : "(none)");

/** The condition and status a reading leads to, from what the backup wrote (status) and what was read. */
export function verificationOutcome(
  i: Pick<VerificationInputs, "now" | "request" | "status">,
  reading: ObjectReading,
  policy: RetryPolicy,
): VerificationOutcome {
  const at = new Date(i.now).toISOString();
  const where = i.status.location ?? "the backup's object";
  const base: BackupVerification = { verifiedAt: at, ...(i.request !== undefined ? { request: i.request } : {}) };
  const failed = (reason: string, message: string, extra: BackupVerification = {}): VerificationOutcome => ({
    verification: { ...base, ...extra, result: "Failed", message },
    condition: { type: VERIFIED, status: "False", reason, message },
    result: "failed",
  });
  if (reading.kind === "unreadable") {
    const previous = i.status.verification;
    const unfinished = previous && previous.request === i.request && previous.result === undefined;
    const attempts = (unfinished ? (previous.attempts ?? 0) : 0) + 1;
    if (attempts >= VERIFY_ATTEMPTS) {
      return failed(
        "ObjectUnreadable",
        `${where} could not be read back (${attempts} tries): ${reading.reason}; the backup is unproven`,
        { attempts },
      );
    }
    const retryAfterMs = backoffMs(policy, attempts);
    const message = `reading ${where} back failed (try ${attempts} of ${VERIFY_ATTEMPTS}, again in ${Math.round(retryAfterMs / 1000)} s): ${reading.reason}`;
    return {
      verification: { ...base, attempts, message },
      condition: { type: VERIFIED, status: "Unknown", reason: "Verifying", message },
      result: { retryAfterMs },
    };
  }
  if (reading.kind === "tooLarge") {
    const message = `${where} holds more than ${reading.maxBytes} bytes uncompressed, more than the operator may stage to check it (--backup-verify-max-bytes); it was not verified`;
    return {
      verification: { ...base, result: "Skipped", message },
      condition: { type: VERIFIED, status: "Unknown", reason: "TooLarge", message },
      result: "skipped",
    };
  }
  const read = { sha256: reading.sha256, size: reading.size };
  if (reading.sha256 !== i.status.sha256 || reading.size !== i.status.size) {
    return failed(
      "ChecksumMismatch",
      `${where} read back is ${reading.size} bytes with sha256 ${short(reading.sha256)}…, but the backup wrote ${i.status.size} bytes with sha256 ${short(i.status.sha256)}…: the object changed after it was uploaded; do not restore from it`,
      read,
    );
  }
  if (reading.problem) return failed("NotRestorable", `${where} cannot be restored: ${reading.problem}`, read);
  const check = reading.check;
  if (!check || "error" in check) {
    const why = check ? check.error : "the check reported nothing";
    return failed("NotRestorable", `${where} could not be opened as a database: ${why}`, read);
  }
  const integrity = check.integrityCheck.join("; ");
  const counts = { tables: check.tables, rows: check.rows, integrityCheck: integrity };
  if (integrity !== "ok") {
    return failed(
      "IntegrityCheckFailed",
      `${where} restores to a damaged database: PRAGMA integrity_check says ${integrity}`,
      { ...read, ...counts },
    );
  }
  const message = `${where} restores: sha256 and size as written, integrity_check ok, ${check.tables} tables with ${check.rows} rows`;
  return {
    verification: { ...base, ...read, ...counts, result: "Verified", message },
    condition: { type: VERIFIED, status: "True", reason: VERIFIED, message },
    result: "verified",
  };
}

/**
 * The conditions with `c` in place of its type's: the transition time moves only when the status
 * does, as metav1.Condition means it.
 */
export function withCondition(
  conditions: Condition[] | undefined,
  c: Omit<Condition, "lastTransitionTime">,
  now: number,
): Condition[] {
  const old = conditions?.find((x) => x.type === c.type);
  const lastTransitionTime = old && old.status === c.status ? old.lastTransitionTime : new Date(now).toISOString();
  return [...(conditions ?? []).filter((x) => x.type !== c.type), { ...c, lastTransitionTime }];
}

/** Parses the throwaway process's output line; anything else is reported as what it is. */
export function parseCheckReport(stdout: string): CheckReport {
  const line = stdout.trim().split("\n").pop() ?? "";
  try {
    const r = JSON.parse(line) as Partial<{ error: unknown; integrityCheck: unknown; tables: unknown; rows: unknown }>;
    if (typeof r.error === "string") return { error: r.error };
    if (
      Array.isArray(r.integrityCheck) &&
      r.integrityCheck.every((x) => typeof x === "string") &&
      Number.isSafeInteger(r.tables) &&
      Number.isSafeInteger(r.rows)
    )
      return { integrityCheck: r.integrityCheck, tables: r.tables as number, rows: r.rows as number };
  } catch {
    // Not a report: the process died before printing one.
  }
  return { error: `the check printed no report${line ? `: ${line.slice(0, 300)}` : ""}` };
}

/**
 * A `pvc` backup's verification Job's reading (./verifyFile.ts), from its termination message;
 * undefined when the message is no reading (a crash's log tail). The Pod runs on a tenant's file,
 * so every field is checked before it is believed.
 */
export function parseReading(message: string | undefined): ObjectReading | undefined {
  if (!message) return undefined;
  let r: Record<string, unknown>;
  try {
    r = JSON.parse(message) as Record<string, unknown>;
  } catch {
    return undefined;
  }
  if (typeof r !== "object" || r === null) return undefined;
  if (r.kind === "unreadable" && typeof r.reason === "string") return { kind: "unreadable", reason: r.reason };
  if (r.kind === "tooLarge" && Number.isSafeInteger(r.maxBytes))
    return { kind: "tooLarge", maxBytes: r.maxBytes as number };
  if (
    r.kind !== "read" ||
    !Number.isSafeInteger(r.size) ||
    typeof r.sha256 !== "string" ||
    !/^[0-9a-f]{64}$/.test(r.sha256)
  )
    return undefined;
  const check = r.check === undefined ? undefined : parseCheckReport(JSON.stringify(r.check));
  return {
    kind: "read",
    size: r.size as number,
    sha256: r.sha256,
    ...(typeof r.problem === "string" ? { problem: r.problem } : {}),
    ...(check ? { check } : {}),
  };
}
