// Table tests of the RqBackup controller's pure parts: the plan (what to do given the status and
// what was observed), the retry policy, the checks that a backup arrived whole, and the
// last-success gauge's source.
import { strict as assert } from "node:assert";
import { lastSuccessBy } from "../../../../controller/rqbackup/metrics.js";
import {
  backoffMs,
  completedStatus,
  failedAttempt,
  isPermanentS3Error,
  JOB_RECHECK_MS,
  planBackup,
  planStep,
  type BackupAction,
  type BackupFacts,
  type BackupObservation,
  type StepAction,
  type RetryPolicy,
} from "../../../../controller/rqbackup/plan.js";
import type { RqBackup, RqBackupStatus } from "../../../../controller/rqbackup/types.js";
import { BackupVerifier } from "../../../../controller/rqbackup/verify.js";
import { MIN_PART_SIZE, partSizeFor } from "../../../../controller/rqbackup/transfer.js";
import type { RqCluster } from "../../../../shared/index.js";

const NOW = Date.parse("2026-11-30T12:00:00Z");
const iso = (ms: number) => new Date(ms).toISOString();
const POLICY: RetryPolicy = { maxAttempts: 3, baseDelayMs: 10_000, maxDelayMs: 25_000 };
const facts = (status: RqBackupStatus, extra: Partial<BackupFacts> = {}): BackupFacts => ({
  now: NOW,
  status,
  inFlight: false,
  ...extra,
});

describe("RqBackup plan", () => {
  const rows: Array<[string, BackupFacts, (a: BackupAction) => void]> = [
    [
      "a new backup starts attempt 1, Running",
      facts({}),
      (a) => {
        assert.equal(a.kind, "transfer");
        assert.deepEqual(a.kind === "transfer" && a.status, { phase: "Running", startedAt: iso(NOW), attempts: 1 });
      },
    ],
    ["Completed is final", facts({ phase: "Completed" }), (a) => assert.deepEqual(a, { kind: "none" })],
    [
      "Failed is final, even with attempts left",
      facts({ phase: "Failed", attempts: 1 }),
      (a) => assert.deepEqual(a, { kind: "none" }),
    ],
    [
      "a transfer in this process is left alone",
      facts({ phase: "Running", attempts: 1 }, { inFlight: true }),
      (a) => assert.deepEqual(a, { kind: "none" }),
    ],
    [
      "Running with no transfer here was interrupted: it counts as failed and is retried",
      facts({ phase: "Running", attempts: 1 }),
      (a) => {
        assert.equal(a.kind, "status");
        const s = a.kind === "status" ? a.status : {};
        assert.equal(s.phase, "Pending");
        assert.equal(s.attempts, 1);
        assert.match(s.reason!, /attempt 1 of 3 failed, retrying in 10 s: the transfer was interrupted/);
        assert.equal(a.kind === "status" && a.retryAfterMs, 10_000);
      },
    ],
    [
      "an interrupted last attempt fails the backup",
      facts({ phase: "Running", attempts: 3 }),
      (a) => {
        assert.equal(a.kind === "status" && a.status.phase, "Failed");
      },
    ],
    [
      "backs off after a failed attempt",
      facts({ phase: "Pending", attempts: 1, lastAttemptTime: iso(NOW - 4_000) }),
      (a) => assert.deepEqual(a, { kind: "wait", afterMs: 6_000 }),
    ],
    [
      "the backoff doubles",
      facts({ phase: "Pending", attempts: 2, lastAttemptTime: iso(NOW - 4_000) }),
      (a) => assert.deepEqual(a, { kind: "wait", afterMs: 16_000 }),
    ],
    [
      "after the backoff, the next attempt",
      facts({ phase: "Pending", attempts: 2, lastAttemptTime: iso(NOW - 20_000) }),
      (a) => {
        assert.equal(a.kind, "transfer");
        assert.equal(a.kind === "transfer" && a.attempt, 3);
      },
    ],
    [
      "no attempts left: Failed, keeping the last reason",
      facts({ phase: "Pending", attempts: 3, reason: "S3 down", lastAttemptTime: iso(NOW - 60_000) }),
      (a) => {
        assert.equal(a.kind === "status" && a.status.phase, "Failed");
        assert.equal(a.kind === "status" && a.status.reason, "S3 down");
      },
    ],
    [
      "a transient blocker (no leader) uses up an attempt and retries",
      facts({}, { blocker: { reason: "no leader", permanent: false } }),
      (a) => {
        assert.equal(a.kind === "status" && a.status.phase, "Pending");
        assert.equal(a.kind === "status" && a.status.attempts, 1);
        assert.equal(a.kind === "status" && a.retryAfterMs, 10_000);
      },
    ],
    [
      "a transient blocker on the last attempt fails, saying how many were made",
      facts(
        { phase: "Pending", attempts: 2, lastAttemptTime: iso(NOW - 60_000) },
        { blocker: { reason: "RqCluster db/x does not exist", permanent: false } },
      ),
      (a) => {
        assert.equal(a.kind === "status" && a.status.phase, "Failed");
        assert.match(
          a.kind === "status" ? a.status.reason! : "",
          /RqCluster db\/x does not exist \(gave up after 3 attempts\)/,
        );
      },
    ],
    [
      "a permanent blocker fails at once",
      facts({}, { blocker: { reason: "pvc is not supported", permanent: true } }),
      (a) => {
        assert.deepEqual(a.kind === "status" && a.status, {
          phase: "Failed",
          attempts: 1,
          lastAttemptTime: iso(NOW),
          completedAt: iso(NOW),
          reason: "pvc is not supported",
        });
      },
    ],
  ];
  for (const [name, f, check] of rows) it(name, () => check(planBackup(f, POLICY)));

  it("backoff: base, doubling, capped", () => {
    assert.deepEqual(
      [1, 2, 3, 4].map((n) => backoffMs(POLICY, n)),
      [10_000, 20_000, 25_000, 25_000],
    );
  });

  it("a failed transfer: permanent fails at once, transient retries until the last attempt", () => {
    const perm = failedAttempt({ now: NOW }, POLICY, 1, { reason: "bad key", permanent: true });
    assert.equal(perm.kind === "status" && perm.status.phase, "Failed");
    const retry = failedAttempt({ now: NOW }, POLICY, 2, { reason: "S3 down", permanent: false });
    assert.equal(retry.kind === "status" && retry.status.phase, "Pending");
    assert.equal(retry.kind === "status" && retry.retryAfterMs, 20_000);
    const last = failedAttempt({ now: NOW }, POLICY, 3, { reason: "S3 down", permanent: false });
    assert.equal(last.kind === "status" && last.status.phase, "Failed");
  });

  it("Completed carries size, sha256, location, leader and version, and clears a retry's reason", () => {
    assert.deepEqual(
      completedStatus(NOW, 2, {
        size: 10,
        sha256: "ab",
        location: "s3://b/k",
        leader: "db-0",
        rqliteVersion: "v8.43.4",
      }),
      {
        phase: "Completed",
        completedAt: iso(NOW),
        attempts: 2,
        size: 10,
        sha256: "ab",
        location: "s3://b/k",
        leader: "db-0",
        rqliteVersion: "v8.43.4",
        reason: "",
      },
    );
  });

  it("S3 errors no retry can fix", () => {
    for (const n of [
      "InvalidAccessKeyId",
      "SignatureDoesNotMatch",
      "AccessDenied",
      "NoSuchBucket",
      "XAdminUserNotFound",
    ])
      assert.ok(isPermanentS3Error(n), n);
    for (const n of ["Error", "TimeoutError", "InternalError", "SlowDown", undefined])
      assert.ok(!isPermanentS3Error(n), String(n));
  });
});

describe("RqBackup step plan: what one reconcile does, from what it observed", () => {
  const seen = (status: RqBackupStatus, extra: Partial<BackupObservation> = {}): BackupObservation => ({
    now: NOW,
    status,
    inFlight: false,
    deleting: false,
    ...extra,
  });
  const running: RqBackupStatus = {
    phase: "Running",
    attempts: 2,
    startedAt: iso(NOW - 90_000),
    leader: "db-0",
    location: "pvc://c/f",
  };
  const rows: Array<[string, BackupObservation, StepAction]> = [
    ["being deleted: abandon, whatever the status", seen(running, { deleting: true }), { kind: "abandon" }],
    [
      "an invalid spec fails the backup with the reason, keeping the rest of the status",
      seen({ phase: "Pending", attempts: 1 }, { invalid: "spec.cluster: bad" }),
      { kind: "status", status: { phase: "Failed", attempts: 1, reason: "spec.cluster: bad" } },
    ],
    [
      "an invalid spec of a finished backup changes nothing",
      seen({ phase: "Completed" }, { invalid: "spec.cluster: bad" }),
      { kind: "none" },
    ],
    [
      "a running Job is watched, holding its slot",
      seen(running, { job: { kind: "running" } }),
      { kind: "watchJob", afterMs: JOB_RECHECK_MS },
    ],
    [
      "a running Job whose Pod cannot be placed says why",
      seen(running, { job: { kind: "running", waiting: "claim not bound" } }),
      { kind: "watchJob", afterMs: JOB_RECHECK_MS, reason: "claim not bound" },
    ],
    [
      "the same reason is not written twice",
      seen({ ...running, reason: "claim not bound" }, { job: { kind: "running", waiting: "claim not bound" } }),
      { kind: "watchJob", afterMs: JOB_RECHECK_MS },
    ],
    [
      "a Job that succeeded completes the attempt, counted with its length and size",
      seen(running, { job: { kind: "succeeded", size: 42, sha256: "ab" } }),
      {
        kind: "status",
        status: {
          phase: "Completed",
          completedAt: iso(NOW),
          attempts: 2,
          size: 42,
          sha256: "ab",
          location: "pvc://c/f",
          leader: "db-0",
          reason: "",
        },
        count: "completed",
        seconds: 90,
        bytes: 42,
      },
    ],
    [
      "a Job that failed is a failed attempt, retried with backoff",
      seen(running, { job: { kind: "failed", reason: "disk full" } }),
      {
        kind: "status",
        retryAfterMs: 20_000,
        status: {
          phase: "Pending",
          attempts: 2,
          lastAttemptTime: iso(NOW),
          reason: "attempt 2 of 3 failed, retrying in 20 s: disk full",
        },
        count: "failed",
        seconds: 90,
      },
    ],
    [
      "no Job for a Running pvc attempt: interrupted, as for S3",
      seen(running, { job: "missing" }),
      {
        kind: "status",
        retryAfterMs: 20_000,
        status: {
          phase: "Pending",
          attempts: 2,
          lastAttemptTime: iso(NOW),
          reason:
            "attempt 2 of 3 failed, retrying in 20 s: the transfer was interrupted (the operator restarted or handed over)",
        },
        count: "failed",
      },
    ],
    [
      "the clock is the one given: a backoff not yet over waits for the rest",
      seen({ phase: "Pending", attempts: 1, lastAttemptTime: iso(NOW - 1_000) }),
      { kind: "wait", afterMs: 9_000 },
    ],
  ];
  for (const [name, o, want] of rows) it(name, () => assert.deepEqual(planStep(o, POLICY), want));

  it("a blocker found when the source is read uses up an attempt, counted as failed", () => {
    const a = planStep(seen({}), POLICY, { reason: "no leader", permanent: false });
    assert.equal(a.kind === "status" && a.count, "failed");
    assert.equal(a.kind === "status" && a.status.attempts, 1);
  });

  it("giving up after the last attempt is not counted again", () => {
    const a = planStep(seen({ phase: "Pending", attempts: 3, lastAttemptTime: iso(NOW - 60_000) }), POLICY);
    assert.equal(a.kind === "status" && a.status.phase, "Failed");
    assert.equal(a.kind === "status" && a.count, undefined);
  });
});

describe("RqBackup verifier: a backup arrived whole", () => {
  /** A minimal SQLite header for `pages` pages of 4096 bytes, followed by the pages. */
  const sqliteFile = (pages: number) => {
    const b = Buffer.alloc(4096 * pages);
    b.write("SQLite format 3\0", 0, "latin1");
    b.writeUInt16BE(4096, 16);
    b.writeUInt32BE(7, 24);
    b.writeUInt32BE(pages, 28);
    b.writeUInt32BE(7, 92);
    return b;
  };
  const check = (format: "binary" | "sql", ...chunks: Buffer[]) => {
    const v = new BackupVerifier(format);
    chunks.forEach((c) => v.update(c));
    return v.problem();
  };

  it("accepts a whole SQLite file in any chunking", () => {
    const f = sqliteFile(3);
    assert.equal(check("binary", f), undefined);
    assert.equal(check("binary", f.subarray(0, 10), f.subarray(10, 5000), f.subarray(5000)), undefined);
  });
  it("refuses a cut-off file, one with bytes appended, and one that is not SQLite", () => {
    const f = sqliteFile(3);
    assert.match(check("binary", f.subarray(0, 4096 * 2))!, /header says 3 pages/);
    assert.match(check("binary", f, Buffer.from("leader not found"))!, /cut short or has bytes appended/);
    assert.match(check("binary", Buffer.from("<html>nope</html>".repeat(10)))!, /not an SQLite file/);
  });
  it("an SQL dump must end with its COMMIT", () => {
    assert.equal(check("sql", Buffer.from("PRAGMA foreign_keys=OFF;\nBEGIN TRANSACTION;\nCOMMIT;\n")), undefined);
    assert.match(check("sql", Buffer.from("PRAGMA foreign_keys=OFF;\nBEGIN TRANSACTION;\nINSERT INTO"))!, /cut short/);
  });
});

describe("RqBackup upload part size", () => {
  const GiB = 1 << 30;
  it("is S3's smallest part unless the database needs more than 8 000 of them", () => {
    assert.equal(partSizeFor(undefined, "binary"), MIN_PART_SIZE);
    assert.equal(partSizeFor(1 * GiB, "binary"), MIN_PART_SIZE);
    assert.equal(partSizeFor(100 * GiB, "binary"), 16 << 20);
    assert.equal(partSizeFor(100 * GiB, "sql"), 32 << 20);
    for (const size of [40, 100, 1000].map((g) => g * GiB)) {
      assert.ok(size * 1.25 <= partSizeFor(size, "binary") * 10_000, `${size} bytes fit in 10 000 parts`);
    }
  });
});

describe("backup last-success gauge source", () => {
  const cluster = (name: string, last?: string) =>
    ({
      metadata: { namespace: "db", name },
      status: last ? { backup: { lastSuccessfulTime: last } } : {},
    }) as unknown as RqCluster;
  const backup = (cluster: string, phase: RqBackupStatus["phase"], completedAt?: string) =>
    ({
      metadata: { namespace: "db", name: `b-${completedAt}` },
      spec: { cluster, destination: {} },
      status: { phase, completedAt },
    }) as RqBackup;

  it("takes the later of the cluster's status and its newest Completed RqBackup", () => {
    const got = lastSuccessBy(
      [cluster("a", "2026-11-30T10:00:00Z"), cluster("b"), cluster("c", "2026-11-30T10:00:00Z")],
      [
        backup("a", "Completed", "2026-11-30T09:00:00Z"),
        backup("b", "Completed", "2026-11-30T11:00:00Z"),
        backup("b", "Failed", "2026-11-30T12:00:00Z"),
        backup("c", "Completed", "2026-11-30T11:30:00Z"),
        backup("gone", "Completed", "2026-11-30T11:30:00Z"),
      ],
    );
    assert.deepEqual(Object.fromEntries(got), {
      "db/a": Date.parse("2026-11-30T10:00:00Z") / 1000,
      "db/b": Date.parse("2026-11-30T11:00:00Z") / 1000,
      "db/c": Date.parse("2026-11-30T11:30:00Z") / 1000,
    });
  });
});
