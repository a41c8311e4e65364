// Backup verification's pure decisions (controller/rqbackup/verification.ts), the gauges it feeds
// (metrics.ts verificationBy), the webhook's rule for spec.verify, and the throwaway check
// (checkDb.ts, run as the operator runs it: its own process under Node's permission model) on
// real SQLite files: whole, with a damaged page, and not a database at all.
import { strict as assert } from "node:assert";
import { createHash } from "node:crypto";
import { gzipSync } from "node:zlib";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import type { RqCluster } from "../../../../shared/index.js";
import { STRICT_S3_POLICY, validateBackup } from "../../../../shared/index.js";
import { verificationBy } from "../../../../controller/rqbackup/metrics.js";
import type { RqBackup, RqBackupStatus } from "../../../../controller/rqbackup/types.js";
import {
  parseCheckReport,
  parseReading,
  planVerification,
  VERIFY_ATTEMPTS,
  verificationOutcome,
  withCondition,
  type ObjectReading,
} from "../../../../controller/rqbackup/verification.js";
import { runCheck } from "../../../../controller/rqbackup/verifyObject.js";
import { readingMessage, verifyFile } from "../../../../controller/rqbackup/verifyFile.js";
import { renderVerifyJob } from "../../../../controller/rqbackup/job.js";
import { restoreTarget } from "../../../../controller/rqcluster/backup/plan.js";

const POLICY = { maxAttempts: 5, baseDelayMs: 10_000, maxDelayMs: 300_000 };
const NOW = Date.parse("2026-12-07T12:00:00Z");
const SHA = "a".repeat(64);
const completed: RqBackupStatus = {
  phase: "Completed",
  size: 4096,
  sha256: SHA,
  location: "s3://b/k.sqlite.gz",
};
const ok: ObjectReading = {
  kind: "read",
  size: 4096,
  sha256: SHA,
  check: { integrityCheck: ["ok"], tables: 2, rows: 1000 },
};

describe("rqbackup verification: when to read a backup back", () => {
  const plan = (over: Partial<Parameters<typeof planVerification>[0]>) =>
    planVerification({ now: NOW, verify: true, status: completed, ...over }, POLICY).kind;

  it("reads a Completed backup (S3 or pvc) with verify once, and never one that is not Completed", () => {
    assert.equal(plan({}), "verify");
    assert.equal(plan({ verify: false }), "none");
    for (const phase of ["Pending", "Running", "Failed"] as const)
      assert.equal(plan({ status: { ...completed, phase } }), "none", phase);
    for (const result of ["Verified", "Failed", "Skipped"] as const)
      assert.equal(plan({ status: { ...completed, verification: { result } } }), "none", result);
  });

  it("reads again for each new value of the verify-requested annotation, verify or not", () => {
    const answered = { ...completed, verification: { result: "Verified" as const, request: "1" } };
    assert.equal(plan({ verify: false, request: "1" }), "verify");
    assert.equal(plan({ verify: false, request: "1", status: answered }), "none");
    assert.equal(plan({ verify: false, request: "2", status: answered }), "verify");
    assert.equal(plan({ request: "2", status: answered }), "verify");
  });

  it("backs off after a read that could not finish, from when it ended", () => {
    const unfinished = {
      ...completed,
      verification: { attempts: 1, verifiedAt: new Date(NOW - 4_000).toISOString() },
    };
    const step = planVerification({ now: NOW, verify: true, status: unfinished }, POLICY);
    assert.deepEqual(step, { kind: "wait", afterMs: 6_000 });
    assert.equal(plan({ now: NOW + 6_000, status: unfinished }), "verify");
  });
});

describe("rqbackup verification: what a reading says", () => {
  const outcome = (reading: ObjectReading, status: RqBackupStatus = completed, request?: string) =>
    verificationOutcome({ now: NOW, status, ...(request ? { request } : {}) }, reading, POLICY);

  it("a reading of the bytes written that opens with integrity_check ok is Verified, with what it held", () => {
    const o = outcome(ok);
    assert.equal(o.result, "verified");
    assert.deepEqual(o.condition, {
      type: "Verified",
      status: "True",
      reason: "Verified",
      message: "s3://b/k.sqlite.gz restores: sha256 and size as written, integrity_check ok, 2 tables with 1000 rows",
    });
    assert.deepEqual(o.verification, {
      verifiedAt: new Date(NOW).toISOString(),
      sha256: SHA,
      size: 4096,
      tables: 2,
      rows: 1000,
      integrityCheck: "ok",
      result: "Verified",
      message: o.condition.message,
    });
  });

  it("names each way a backup fails, checksum first", () => {
    const cases: Array<[ObjectReading, string, RegExp]> = [
      [
        { ...ok, sha256: "b".repeat(64), problem: "the compressed backup is damaged: incorrect header check" },
        "ChecksumMismatch",
        /read back is 4096 bytes with sha256 bbbbbbbbbbbbbbbb…, but the backup wrote 4096 bytes with sha256 aaaaaaaaaaaaaaaa…: the object changed after it was uploaded; do not restore from it/,
      ],
      [{ ...ok, size: 4095 }, "ChecksumMismatch", /4095 bytes/],
      [
        { kind: "read", size: 4096, sha256: SHA, problem: 'it does not start with "SQLite format 3"' },
        "NotRestorable",
        /cannot be restored: it does not start/,
      ],
      [
        { kind: "read", size: 4096, sha256: SHA, check: { error: "file is not a database" } },
        "NotRestorable",
        /could not be opened as a database: file is not a database/,
      ],
      [
        { ...ok, check: { integrityCheck: ["Page 3: btreeInitPage() returns error code 11"], tables: 1, rows: 0 } },
        "IntegrityCheckFailed",
        /damaged database: PRAGMA integrity_check says Page 3/,
      ],
    ];
    for (const [reading, reason, message] of cases) {
      const o = outcome(reading);
      assert.equal(o.result, "failed", reason);
      assert.equal(o.condition.status, "False");
      assert.equal(o.condition.reason, reason);
      assert.match(o.condition.message, message);
      assert.equal(o.verification.result, "Failed");
      assert.equal(o.verification.message, o.condition.message);
    }
  });

  it("a read that cannot finish is tried again with backoff, then fails as unreadable", () => {
    const unreadable: ObjectReading = { kind: "unreadable", reason: "reading s3://b/k: could not connect" };
    const first = outcome(unreadable);
    assert.deepEqual(first.result, { retryAfterMs: 10_000 });
    assert.equal(first.condition.status, "Unknown");
    assert.equal(first.verification.attempts, 1);
    assert.equal(first.verification.result, undefined);
    let status: RqBackupStatus = { ...completed, verification: first.verification };
    for (let n = 2; n < VERIFY_ATTEMPTS; n++) {
      const o = outcome(unreadable, status);
      assert.equal(o.verification.attempts, n);
      status = { ...completed, verification: o.verification };
    }
    const last = outcome(unreadable, status);
    assert.equal(last.result, "failed");
    assert.equal(last.condition.reason, "ObjectUnreadable");
    assert.match(last.condition.message, /could not be read back \(3 tries\): reading s3:\/\/b\/k: could not connect/);
    // A new request starts counting afresh.
    assert.equal(outcome(unreadable, status, "again").verification.attempts, 1);
  });

  it("a backup too large to stage is Skipped (Unknown), not Failed", () => {
    const o = outcome({ kind: "tooLarge", maxBytes: 1024 });
    assert.equal(o.result, "skipped");
    assert.equal(o.condition.status, "Unknown");
    assert.equal(o.condition.reason, "TooLarge");
    assert.match(o.condition.message, /more than 1024 bytes .*--backup-verify-max-bytes/);
  });

  it("the condition's transition time moves only when its status does", () => {
    const first = withCondition([], { type: "Verified", status: "True", reason: "Verified", message: "a" }, NOW);
    const same = withCondition(
      first,
      { type: "Verified", status: "True", reason: "Verified", message: "b" },
      NOW + 1000,
    );
    assert.equal(same[0]!.lastTransitionTime, new Date(NOW).toISOString());
    assert.equal(same[0]!.message, "b");
    const flipped = withCondition(same, { type: "Verified", status: "False", reason: "X", message: "c" }, NOW + 2000);
    assert.equal(flipped.length, 1);
    assert.equal(flipped[0]!.lastTransitionTime, new Date(NOW + 2000).toISOString());
  });

  it("takes only a well-formed report from the check's output", () => {
    assert.deepEqual(parseCheckReport('noise\n{"integrityCheck":["ok"],"tables":1,"rows":2}\n'), {
      integrityCheck: ["ok"],
      tables: 1,
      rows: 2,
    });
    assert.deepEqual(parseCheckReport('{"error":"boom"}'), { error: "boom" });
    for (const bad of ["", "Segmentation fault", '{"integrityCheck":"ok","tables":1,"rows":2}', '{"tables":1.5}'])
      assert.ok("error" in parseCheckReport(bad), bad);
  });
});

describe("rqbackup verification: the gauges", () => {
  const cluster = (name: string) => ({ metadata: { namespace: "db", name } }) as RqCluster;
  const backup = (cluster: string, verification: RqBackupStatus["verification"]) =>
    ({ metadata: { namespace: "db", name: "x" }, spec: { cluster }, status: { verification } }) as RqBackup;
  const at = (m: number) => new Date(NOW + m * 60_000).toISOString();

  it("follow the newest conclusive verification; the last passed one dates the other; gone clusters drop", () => {
    const g = verificationBy(
      [cluster("a"), cluster("b")],
      [
        backup("a", { result: "Verified", verifiedAt: at(0) }),
        backup("a", { result: "Failed", verifiedAt: at(5) }),
        backup("a", { attempts: 1, verifiedAt: at(9) }),
        backup("a", { result: "Skipped", verifiedAt: at(9) }),
        backup("b", { result: "Failed", verifiedAt: at(1) }),
        backup("b", { result: "Verified", verifiedAt: at(2) }),
        backup("gone", { result: "Verified", verifiedAt: at(2) }),
      ],
    );
    assert.deepEqual(
      [...g.verified],
      [
        ["db/a", false],
        ["db/b", true],
      ],
    );
    assert.deepEqual(
      [...g.lastVerified],
      [
        ["db/a", (NOW + 0) / 1000],
        ["db/b", (NOW + 120_000) / 1000],
      ],
    );
  });
});

describe("rqbackup verification: spec.verify on a pvc backup", () => {
  it("is allowed by the rules the webhook and the controller share; a verify that is no boolean is not", () => {
    const spec = (destination: object, verify: boolean) => ({
      metadata: { name: "b", namespace: "t" },
      spec: { cluster: "c", destination, verify },
    });
    assert.deepEqual(validateBackup(spec({ pvc: { claimName: "claim" } }, true), STRICT_S3_POLICY).errors, []);
    assert.deepEqual(validateBackup(spec({ pvc: { claimName: "claim" } }, false), STRICT_S3_POLICY).errors, []);
    const notBool = validateBackup(
      spec({ pvc: { claimName: "claim" } }, "yes" as unknown as boolean),
      STRICT_S3_POLICY,
    );
    assert.deepEqual(
      notBool.errors.map((e) => e.field),
      ["spec.verify"],
    );
  });
});

describe("rqbackup verification: the throwaway check on real files", function () {
  this.timeout(60_000);
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), "rqo-verify-"));
    const db = new DatabaseSync(join(dir, "whole.sqlite"));
    db.exec('CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT); CREATE TABLE "odd ""name" (x)');
    const insert = db.prepare("INSERT INTO items(name) VALUES (?)");
    db.exec("BEGIN");
    for (let i = 0; i < 2000; i++) insert.run(`item-${i}-${"x".repeat(50)}`);
    db.exec("COMMIT");
    db.prepare('INSERT INTO "odd ""name" VALUES (1)').run();
    db.close();
  });
  after(() => rmSync(dir, { recursive: true, force: true }));
  const signal = () => AbortSignal.timeout(30_000);

  it("counts the tables and rows of a whole database, integrity_check ok", async () => {
    assert.deepEqual(await runCheck(join(dir, "whole.sqlite"), "binary", signal()), {
      integrityCheck: ["ok"],
      tables: 2,
      rows: 2001,
    });
  });

  it("finds a page of the table overwritten", async () => {
    const bytes = readFileSync(join(dir, "whole.sqlite"));
    const pageSize = bytes.readUInt16BE(16);
    // Page 3 onwards hold the items table's b-tree; zeroing a leaf's cell area breaks its records.
    bytes.fill(0xff, pageSize * 3 + 8, pageSize * 3 + 64);
    writeFileSync(join(dir, "damaged.sqlite"), bytes);
    const report = await runCheck(join(dir, "damaged.sqlite"), "binary", signal());
    assert.ok(!("error" in report) && report.integrityCheck.join() !== "ok", JSON.stringify(report));
  });

  it("reports a file that is no database, and an SQL dump loads as a restore would", async () => {
    writeFileSync(join(dir, "text"), "not a database at all, ".repeat(300));
    assert.deepEqual(await runCheck(join(dir, "text"), "binary", signal()), { error: "file is not a database" });
    writeFileSync(
      join(dir, "dump.sql"),
      "BEGIN TRANSACTION;\nCREATE TABLE t(a);\nINSERT INTO t VALUES(1);\nINSERT INTO t VALUES(2);\nCOMMIT;\n",
    );
    assert.deepEqual(await runCheck(join(dir, "dump.sql"), "sql", signal()), {
      integrityCheck: ["ok"],
      tables: 1,
      rows: 2,
    });
  });
});

describe("rqbackup verification: spec.restore.backup", () => {
  it("refuses a backup whose verification found it damaged, and takes one that passed or was never read back", () => {
    const backup = (verification?: RqBackupStatus["verification"]) =>
      ({
        metadata: { namespace: "db", name: "nightly" },
        spec: { cluster: "c", destination: { s3: { bucket: "b" } } },
        status: { ...completed, location: "s3://b/k.sqlite.gz", ...(verification ? { verification } : {}) },
      }) as RqBackup;
    const refused = restoreTarget({ backup: "nightly" }, "db", backup({ result: "Failed", message: "changed" }));
    assert.deepEqual(refused, {
      problem: "RqBackup db/nightly (spec.restore.backup) failed verification (changed); name a backup that restores",
    });
    for (const v of [undefined, { result: "Verified" as const }])
      assert.equal((restoreTarget({ backup: "nightly" }, "db", backup(v)) as { key?: string }).key, "k.sqlite.gz");
  });
});

describe("rqbackup verification of a pvc backup: the Job's reading (verifyFile.ts)", function () {
  this.timeout(60_000);
  let dir: string;
  let gz: Buffer;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), "rqo-verifyfile-"));
    const db = new DatabaseSync(join(dir, "db.sqlite"));
    db.exec("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT)");
    const insert = db.prepare("INSERT INTO items(name) VALUES (?)");
    db.exec("BEGIN");
    for (let i = 0; i < 500; i++) insert.run(`item-${i}`);
    db.exec("COMMIT");
    db.close();
    gz = gzipSync(readFileSync(join(dir, "db.sqlite")));
    writeFileSync(join(dir, "db.sqlite.gz"), gz);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));
  const opts = (file: string) => ({
    file: join(dir, file),
    format: "binary" as const,
    compress: true,
    maxBytes: 10 << 20,
    scratch: dir,
    timeoutMs: 30_000,
  });
  const status = (sha256: string, size: number): RqBackupStatus => ({
    phase: "Completed",
    location: "pvc://claim/db.sqlite.gz",
    sha256,
    size,
  });

  it("reads a whole file as the S3 read-back does, through its termination message, and verifies it", async () => {
    const reading = await verifyFile(opts("db.sqlite.gz"));
    const sha = createHash("sha256").update(gz).digest("hex");
    const parsed = parseReading(readingMessage(reading));
    assert.deepEqual(parsed, reading);
    const outcome = verificationOutcome({ now: NOW, status: status(sha, gz.length) }, parsed, POLICY);
    assert.equal(outcome.result, "verified");
    assert.match(outcome.condition.message, /1 tables with 500 rows/);
  });

  it("fails a file with one byte flipped: the checksum against status", async () => {
    const flipped = Buffer.from(gz);
    flipped[flipped.length >> 1]! ^= 0xff;
    writeFileSync(join(dir, "flipped.sqlite.gz"), flipped);
    const reading = parseReading(readingMessage(await verifyFile(opts("flipped.sqlite.gz"))))!;
    const sha = createHash("sha256").update(gz).digest("hex");
    const outcome = verificationOutcome({ now: NOW, status: status(sha, gz.length) }, reading, POLICY);
    assert.equal(outcome.result, "failed");
    assert.equal(outcome.condition.reason, "ChecksumMismatch");
  });

  it("says a missing file is unreadable, and a message that is no reading is none", async () => {
    assert.deepEqual(await verifyFile(opts("none.sqlite.gz")), {
      kind: "unreadable",
      reason: `there is no file ${join(dir, "none.sqlite.gz")} in the claim`,
    });
    for (const bad of [undefined, "", "oops", '{"kind":"read","size":1,"sha256":"xyz"}', '{"kind":"tooLarge"}'])
      assert.equal(parseReading(bad), undefined, String(bad));
  });

  it("fits many findings into a termination message", () => {
    const reading: ObjectReading = {
      kind: "read",
      size: 1,
      sha256: "a".repeat(64),
      check: { integrityCheck: Array.from({ length: 20 }, () => "x".repeat(500)), tables: 1, rows: 2 },
    };
    const text = readingMessage(reading);
    assert.ok(text.length <= 4000, `${text.length} bytes`);
    const parsed = parseReading(text)!;
    assert.ok(parsed.kind === "read" && parsed.check && "integrityCheck" in parsed.check);
    assert.ok(parsed.check.integrityCheck.length >= 1);
  });

  it("renders the Job restricted, the claim read-only, a bounded scratch folder", () => {
    const job = renderVerifyJob({
      backup: { name: "nightly", namespace: "t", uid: "u", cluster: "c" },
      suffix: "abc-1",
      image: "op:1",
      claimName: "claim",
      file: "n/x.sqlite.gz",
      format: "binary",
      compress: true,
      maxBytes: 1000,
      deadlineSeconds: 600,
    });
    const pod = job.spec!.template.spec!;
    assert.equal(job.metadata!.name, "nightly-verify-abc-1");
    assert.deepEqual(pod.volumes, [
      { name: "backup", persistentVolumeClaim: { claimName: "claim", readOnly: true } },
      { name: "scratch", emptyDir: { sizeLimit: "2000" } },
    ]);
    assert.equal(pod.containers[0]!.securityContext!.readOnlyRootFilesystem, true);
    assert.deepEqual(pod.containers[0]!.command, ["node", "dist/controller/rqbackup/verifyFile.js"]);
    assert.ok(pod.containers[0]!.args!.includes("--file=/backup/n/x.sqlite.gz"));
  });
});
