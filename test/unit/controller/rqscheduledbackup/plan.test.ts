// Table tests of the RqScheduledBackup plan (controller/rqscheduledbackup/plan.ts) with a clock
// given as input: when a firing creates an RqBackup and under which name, what Forbid skips,
// what retention prunes, and the status and requeue; and of the schedule's admission rules.
import { strict as assert } from "node:assert";
import {
  childName,
  planSchedule,
  type Child,
  type ScheduleFacts,
} from "../../../../controller/rqscheduledbackup/plan.js";
import { prunableFile, pruneJobName, renderPruneJob } from "../../../../controller/rqscheduledbackup/pruneJob.js";
import { STRICT_S3_POLICY, validateScheduledBackup } from "../../../../shared/index.js";

const at = (iso: string) => Date.parse(iso);
const BACKUP = { cluster: "db", destination: { pvc: { claimName: "backups" } } };
const facts = (over: Partial<ScheduleFacts> = {}): ScheduleFacts => ({
  now: at("2026-03-01T02:00:30Z"),
  name: "nightly",
  createdAt: at("2026-02-27T10:00:00Z"),
  spec: { schedule: "0 2 * * *", backup: BACKUP },
  status: {},
  children: [],
  ...over,
});
const child = (name: string, scheduled: string, phase?: Child["phase"], location?: string): Child => ({
  name,
  scheduledAt: at(scheduled),
  ...(phase ? { phase } : {}),
  ...(phase === "Completed" ? { completedAt: new Date(at(scheduled) + 60_000).toISOString() } : {}),
  ...(location ? { location } : {}),
  deleting: false,
});

describe("RqScheduledBackup plan", () => {
  it("a due firing creates the RqBackup named by its time, and requeues at the next one", () => {
    const p = planSchedule(facts());
    assert.deepEqual(p.actions, [
      { kind: "create", name: "nightly-20260301020000", scheduledAt: at("2026-03-01T02:00:00Z"), spec: BACKUP },
    ]);
    assert.equal(p.status.lastScheduleTime, "2026-03-01T02:00:00.000Z");
    assert.equal(p.status.nextScheduleTime, "2026-03-02T02:00:00.000Z");
    assert.deepEqual(p.status.active, ["nightly-20260301020000"]);
    assert.equal(p.requeueAfterMs, at("2026-03-02T02:00:00Z") - at("2026-03-01T02:00:30Z"));
  });

  it("only the newest missed firing fires after a long outage, once", () => {
    const p = planSchedule(
      facts({ status: { lastScheduleTime: "2026-02-28T02:00:00Z" }, now: at("2026-03-05T12:00:00Z") }),
    );
    assert.deepEqual(
      p.actions.map((a) => a.kind === "create" && a.name),
      ["nightly-20260305020000"],
    );
  });

  it("a restart that lost the status write finds the RqBackup and creates nothing (the name says the firing)", () => {
    const kids = [child("nightly-20260301020000", "2026-03-01T02:00:00Z", "Running")];
    const p = planSchedule(facts({ children: kids }));
    assert.deepEqual(p.actions, []);
    assert.equal(p.status.lastScheduleTime, "2026-03-01T02:00:00.000Z");
    assert.equal(childName("nightly", at("2026-03-01T02:00:00Z")), "nightly-20260301020000");
  });

  it("nothing fires before the first firing after creation, nor twice for one", () => {
    assert.deepEqual(planSchedule(facts({ createdAt: at("2026-03-01T02:00:10Z") })).actions, []);
    const p = planSchedule(facts({ status: { lastScheduleTime: "2026-03-01T02:00:00Z" } }));
    assert.deepEqual(p.actions, []);
  });

  it("Forbid skips a firing while a backup runs; Allow creates it beside", () => {
    const kids = [child("nightly-20260228020000", "2026-02-28T02:00:00Z", "Running")];
    const forbid = planSchedule(facts({ children: kids }));
    assert.equal(forbid.actions.length, 1);
    assert.equal(forbid.actions[0]!.kind, "skip");
    assert.match((forbid.actions[0] as { message: string }).message, /nightly-20260228020000 .* not finished/);
    assert.equal(forbid.status.lastScheduleTime, "2026-03-01T02:00:00.000Z", "a skipped firing is not made up later");
    const allow = planSchedule(
      facts({ children: kids, spec: { schedule: "0 2 * * *", concurrencyPolicy: "Allow", backup: BACKUP } }),
    );
    assert.deepEqual(
      allow.actions.map((a) => a.kind),
      ["create"],
    );
    assert.deepEqual(allow.status.active, ["nightly-20260301020000", "nightly-20260228020000"]);
  });

  it("suspend: no firing and no next time, but retention still applies", () => {
    const kids = [
      child("nightly-20260225020000", "2026-02-25T02:00:00Z", "Completed", "pvc://backups/a"),
      child("nightly-20260226020000", "2026-02-26T02:00:00Z", "Completed", "pvc://backups/b"),
    ];
    const p = planSchedule(
      facts({
        children: kids,
        spec: { schedule: "0 2 * * *", suspend: true, successfulBackupsHistoryLimit: 1, backup: BACKUP },
      }),
    );
    assert.deepEqual(p.actions, [{ kind: "prune", name: "nightly-20260225020000", location: "pvc://backups/a" }]);
    assert.equal(p.status.nextScheduleTime, undefined);
    assert.equal(p.requeueAfterMs, undefined);
  });

  it("retention keeps the newest N Completed and M Failed; pruning a Failed one deletes no file; unfinished ones are kept", () => {
    const kids = [
      child("n-1", "2026-02-20T02:00:00Z", "Completed", "s3://b/1"),
      child("n-2", "2026-02-21T02:00:00Z", "Failed", "s3://b/2"),
      child("n-3", "2026-02-22T02:00:00Z", "Completed", "s3://b/3"),
      child("n-4", "2026-02-23T02:00:00Z", "Failed"),
      child("n-5", "2026-02-24T02:00:00Z", "Completed", "s3://b/5"),
      child("n-6", "2026-02-25T02:00:00Z", "Completed", "s3://b/6"),
      { ...child("n-0", "2026-02-19T02:00:00Z", "Completed", "s3://b/0"), deleting: true },
    ];
    const p = planSchedule(
      facts({
        children: kids,
        status: { lastScheduleTime: "2026-03-01T02:00:00Z" },
        spec: { schedule: "0 2 * * *", successfulBackupsHistoryLimit: 2, failedBackupsHistoryLimit: 1, backup: BACKUP },
      }),
    );
    assert.deepEqual(p.actions, [
      { kind: "prune", name: "n-1", location: "s3://b/1" },
      { kind: "prune", name: "n-2" },
      { kind: "prune", name: "n-3", location: "s3://b/3" },
    ]);
    assert.equal(p.status.lastSuccessfulBackup, "n-6");
  });

  it("an invalid spec (the controller's own check) fires nothing and says why", () => {
    const p = planSchedule(
      facts({ invalid: "spec.schedule: bad", status: { nextScheduleTime: "2026-03-02T02:00:00Z" } }),
    );
    assert.deepEqual(p.actions, []);
    assert.equal(p.status.reason, "spec.schedule: bad");
    assert.equal(p.status.nextScheduleTime, undefined);
  });

  it("reads the schedule in its time zone", () => {
    const p = planSchedule(
      facts({
        now: at("2026-07-01T00:00:30Z"),
        spec: { schedule: "0 2 * * *", timeZone: "Europe/Paris", backup: BACKUP },
      }),
    );
    assert.deepEqual(
      p.actions.map((a) => a.kind === "create" && a.name),
      ["nightly-20260701000000"],
    );
    assert.equal(p.status.nextScheduleTime, "2026-07-02T00:00:00.000Z");
  });
});

describe("RqScheduledBackup prune Job and admission", () => {
  it("deletes only a plain relative file on the backup's own claim", () => {
    assert.equal(prunableFile("pvc://backups/nightly/ns-a.sqlite.gz", "backups"), "nightly/ns-a.sqlite.gz");
    assert.equal(prunableFile("pvc://other/x.sqlite", "backups"), undefined);
    assert.equal(prunableFile("pvc://backups/../etc/passwd", "backups"), undefined);
    assert.equal(prunableFile("pvc://backups//abs", "backups"), undefined);
    assert.equal(prunableFile("pvc://backups/", "backups"), undefined);
    const job = renderPruneJob({
      backup: { name: "n-1", namespace: "ns", uid: "u" },
      image: "img",
      claimName: "backups",
      file: "nightly/a.gz",
    });
    assert.equal(job.metadata!.name, "n-1-prune");
    assert.deepEqual(job.spec!.template.spec!.containers[0]!.args, [
      "--delete=/backup/nightly/a.gz",
      "--termination-log=/dev/termination-log",
    ]);
    assert.equal(job.metadata!.ownerReferences![0]!.uid, "u");
    assert.ok(pruneJobName("x".repeat(250)).length <= 63);
  });

  const obj = (spec: object, name = "nightly") => ({ metadata: { name, namespace: "ns" }, spec });
  const errorsOf = (o: unknown) =>
    validateScheduledBackup(o, STRICT_S3_POLICY).errors.map((e) => `${e.field}: ${e.message}`);

  it("accepts a good schedule", () => {
    assert.deepEqual(errorsOf(obj({ schedule: "0 2 * * *", timeZone: "Europe/Paris", backup: BACKUP })), []);
  });

  it("refuses bad input with field paths", () => {
    assert.deepEqual(errorsOf(obj({ schedule: "0 2 * *", backup: BACKUP })), [
      "spec.schedule: expected 5 fields (minute hour day-of-month month day-of-week), got 4; seconds are not a cron field (use @every for intervals under a minute)",
    ]);
    assert.deepEqual(errorsOf(obj({ schedule: "@daily", timeZone: "Nowhere/Town", backup: BACKUP })), [
      "spec.timeZone: is not a time zone this operator knows: use an IANA name such as UTC or Europe/Paris",
    ]);
    assert.ok(
      errorsOf(
        obj({ schedule: "@daily", backup: { cluster: "db", destination: { pvc: { claimName: "../x" } } } }),
      ).some((e) => e.startsWith("spec.backup.destination.pvc.claimName:")),
    );
    assert.ok(
      errorsOf(obj({ schedule: "@daily", backup: { cluster: "db", destination: {} } })).includes(
        "spec.backup.destination: set exactly one of s3 and pvc",
      ),
    );
    assert.ok(errorsOf(obj({ schedule: "@daily", backup: BACKUP }, "x".repeat(239)))[0]!.startsWith("metadata.name:"));
    assert.ok(errorsOf(obj({ schedule: 5, backup: BACKUP })).some((e) => e.startsWith("spec.schedule:")));
    assert.ok(errorsOf(obj({ schedule: "@daily", successfulBackupsHistoryLimit: 0, backup: BACKUP })).length > 0);
    assert.ok(errorsOf(obj({ schedule: "@daily", concurrencyPolicy: "Replace", backup: BACKUP })).length > 0);
    assert.deepEqual(errorsOf("nope"), [": must be an RqScheduledBackup object"]);
  });
});
