// spec.restore.s3.before, the pure parts: reading a backup's time from its name (rqlite's
// auto-backup and an RqBackup's object), the choice of the newest one taken strictly before a
// time (ties, offsets, names that are no backup's or are hostile), the RFC 3339 parse admission
// and the controller share, and the admission errors.
import { strict as assert } from "node:assert";
import { datedBackups, newestBefore, stampOf } from "../../../../../controller/rqcluster/backup/before.js";
import { planBackupSecret, restoreTarget } from "../../../../../controller/rqcluster/backup/plan.js";
import { backupConfigFiles } from "../../../../../controller/rqcluster/backup/render.js";
import { restoredCondition, restoreStatus } from "../../../../../controller/rqcluster/backup/status.js";
import { clusterView } from "../../../../../controller/rqcluster/render/cluster.js";
import type { Observed } from "../../../../../controller/rqcluster/plan/types.js";
import type { StoredObject } from "../../../../../controller/access/s3.js";
import {
  applyDefaults,
  parseEndpointAllow,
  parseRfc3339,
  s3BackupKey,
  STRICT_S3_POLICY,
  validateCreate,
  type RqClusterSpec,
} from "../../../../../shared/index.js";

const at = (iso: string) => Date.parse(iso);
const obj = (key: string, lastModified = 0): StoredObject => ({ key, lastModified });
const WHERE = "s3://b/prod/";
const choose = (objects: StoredObject[], before: string) => newestBefore(objects, "prod/", at(before), WHERE);
const chosenKey = (objects: StoredObject[], before: string) => {
  const c = choose(objects, before);
  assert.ok("chosen" in c, JSON.stringify(c));
  return c.chosen.key;
};

describe("restore before a time: a backup's time from its name", () => {
  it("reads rqlite's auto-backup stamp and an RqBackup's, both UTC", () => {
    assert.deepEqual(stampOf("20261207115959_db.sqlite.gz"), {
      takenAt: at("2026-12-07T11:59:59Z"),
      form: "rqlite auto-backup",
    });
    // The very key the RqBackup controller writes, read back.
    const key = s3BackupKey("p", "ns", "nightly", "binary", true, new Date("2026-12-07T02:00:05.700Z"));
    assert.deepEqual(stampOf(key.slice(2)), { takenAt: at("2026-12-07T02:00:05Z"), form: "RqBackup" });
    assert.deepEqual(stampOf("ns-a-b-20261207T020005Z.sqlite"), {
      takenAt: at("2026-12-07T02:00:05Z"),
      form: "RqBackup",
    });
  });

  it("leaves alone names that carry no time, or no real one, or no restorable file", () => {
    for (const name of [
      "db.sqlite.gz",
      "notes.txt",
      "2026120711595_db.sqlite", // 13 digits
      "20261307115959_db.sqlite", // month 13
      "20260230115959_db.sqlite", // 30 February
      "20261207245959_db.sqlite", // hour 24
      "20261207235960_db.sqlite", // a leap second
      "20261207115959_", // no name after the stamp
      "ns-nightly-20261207T020005Z.sql.gz", // an sql dump: rqlite cannot load it
      "ns-nightly-20261207T020005Z.sqlite.bak",
      "ns-nightly-20261207T020005.sqlite", // no Z: no zone said
      "-20261207T020005Z.sqlite", // no name before the stamp
      "19691231235959_db.sqlite", // before the epoch
    ])
      assert.equal(stampOf(name), undefined, name);
  });

  it("leaves alone hostile names: rqlited would expand $NAME, control characters have no place", () => {
    assert.equal(stampOf("20261207115959_$RQLITE_RESTORE_SECRET_ACCESS_KEY"), undefined);
    assert.equal(stampOf("20261207115959_db\n.sqlite"), undefined);
    assert.equal(stampOf("20261207115959_db\u0000.sqlite"), undefined);
    assert.equal(stampOf("ns-x-20261207T020005Z${HOME}.sqlite"), undefined);
  });

  it("takes only objects directly in the folder: deeper ones are another folder's backups", () => {
    const objects = [
      obj("prod/20261207100000_db.sqlite.gz"),
      obj("prod/other/20261207110000_db.sqlite.gz"),
      obj("prodx/20261207110000_db.sqlite.gz"),
      obj("20261207110000_db.sqlite.gz"),
      obj("prod/../20261207110000_db.sqlite.gz"),
    ];
    assert.deepEqual(
      datedBackups(objects, "prod/").map((b) => b.key),
      ["prod/20261207100000_db.sqlite.gz"],
    );
    assert.deepEqual(
      datedBackups(objects, "").map((b) => b.key),
      ["20261207110000_db.sqlite.gz"],
    );
  });
});

describe("restore before a time: the choice", () => {
  const five = [
    obj("prod/20261207100000_db.sqlite.gz", 5),
    obj("prod/20261207110000_db.sqlite.gz", 4),
    obj("prod/ns-manual-20261207T113000Z.sqlite.gz", 3),
    obj("prod/20261207120000_db.sqlite.gz", 2),
    obj("prod/20261207130000_db.sqlite.gz", 1),
    obj("prod/README.txt", 9),
  ];

  it("picks the newest taken strictly before, whatever S3's modification times say", () => {
    assert.equal(chosenKey(five, "2026-12-07T12:30:00Z"), "prod/20261207120000_db.sqlite.gz");
    assert.equal(chosenKey(five, "2026-12-07T11:45:00Z"), "prod/ns-manual-20261207T113000Z.sqlite.gz");
    assert.equal(chosenKey(five, "2030-01-01T00:00:00Z"), "prod/20261207130000_db.sqlite.gz");
  });

  it("a backup qualifies only once its whole second has ended", () => {
    assert.equal(chosenKey(five, "2026-12-07T12:00:00Z"), "prod/ns-manual-20261207T113000Z.sqlite.gz");
    assert.equal(chosenKey(five, "2026-12-07T12:00:00.999Z"), "prod/ns-manual-20261207T113000Z.sqlite.gz");
    assert.equal(chosenKey(five, "2026-12-07T12:00:01Z"), "prod/20261207120000_db.sqlite.gz");
  });

  it("reads the time in any offset: the same instant picks the same backup", () => {
    for (const t of ["2026-12-07T12:30:00Z", "2026-12-07T13:30:00+01:00", "2026-12-07T07:00:00-05:30"])
      assert.equal(newestBeforeKey(t), "prod/20261207120000_db.sqlite.gz", t);
    // 12:30 in UTC+5 is 07:30Z: before every backup but the first two.
    assert.equal(newestBeforeKey("2026-12-07T12:30:00+05:00"), undefined);
    function newestBeforeKey(t: string) {
      const ms = parseRfc3339(t)!;
      const c = newestBefore(five, "prod/", ms, WHERE);
      return "chosen" in c && c.chosen.takenAt >= at("2026-12-07T11:00:00Z") ? c.chosen.key : undefined;
    }
  });

  it("breaks a tie of one second by S3's modification time, then by key, the same every time", () => {
    const tied = [
      obj("prod/20261207110000_a.sqlite", 100),
      obj("prod/ns-b-20261207T110000Z.sqlite", 200),
      obj("prod/20261207110000_c.sqlite", 100),
    ];
    assert.equal(chosenKey(tied, "2026-12-07T12:00:00Z"), "prod/ns-b-20261207T110000Z.sqlite");
    const sameTime = tied.map((o) => ({ ...o, lastModified: 1 }));
    assert.equal(chosenKey(sameTime, "2026-12-07T12:00:00Z"), "prod/ns-b-20261207T110000Z.sqlite");
    assert.equal(chosenKey([...sameTime].reverse(), "2026-12-07T12:00:00Z"), "prod/ns-b-20261207T110000Z.sqlite");
  });

  it("says why it chose, and what it left out", () => {
    const c = choose(five, "2026-12-07T12:30:00Z");
    assert.ok("why" in c);
    assert.equal(
      c.why,
      "the newest of 4 backups in s3://b/prod/ taken before 2026-12-07T12:30:00Z (1 later left out): prod/20261207120000_db.sqlite.gz, rqlite auto-backup of 2026-12-07T12:00:00Z",
    );
  });

  it("a clear problem when none qualifies, or none has a time", () => {
    const none = choose(five, "2026-12-07T10:00:00Z");
    assert.deepEqual(none, {
      problem:
        "none of the 5 backups in s3://b/prod/ was taken before 2026-12-07T10:00:00Z: the oldest is from 2026-12-07T10:00:00Z",
    });
    const untimed = choose([obj("prod/db.sqlite.gz"), obj("prod/20261307000000_x")], "2026-12-07T10:00:00Z");
    assert.ok("problem" in untimed);
    assert.match(untimed.problem, /^no object directly in s3:\/\/b\/prod\/ has a backup's timestamp in its name/);
    assert.ok("problem" in choose([], "2026-12-07T10:00:00Z"));
  });
});

describe("restore before a time: the spec", () => {
  it("parses RFC 3339 with its offset, and nothing else", () => {
    assert.equal(parseRfc3339("2026-12-07T12:30:00Z"), at("2026-12-07T12:30:00Z"));
    assert.equal(parseRfc3339("2026-12-07t12:30:00.25z"), at("2026-12-07T12:30:00.250Z"));
    assert.equal(parseRfc3339("2026-12-07T13:30:00+01:00"), at("2026-12-07T12:30:00Z"));
    assert.equal(parseRfc3339("2026-12-07T00:30:00-00:30"), at("2026-12-07T01:00:00Z"));
    for (const bad of [
      "2026-12-07T12:30:00", // local time: which zone?
      "2026-12-07 12:30:00Z",
      "2026-12-07",
      "Mon Dec 07 2026 12:30:00 GMT",
      "1765110600000",
      "2026-02-30T12:00:00Z",
      "2026-12-07T24:00:00Z",
      "2026-12-07T12:30:00+24:00",
      "2026-12-07T12:30:00+01:60",
      " 2026-12-07T12:30:00Z",
      "",
    ])
      assert.equal(parseRfc3339(bad), undefined, bad);
  });

  const POLICY = {
    ...STRICT_S3_POLICY,
    allow: parseEndpointAllow("127.0.0.1/32"),
    ambientCredentialsNamespaces: ["*"],
  };
  const errorsOf = (spec: RqClusterSpec) =>
    validateCreate(
      applyDefaults({ apiVersion: "rqlite.io/v1alpha1", kind: "RqCluster", metadata: { name: "db" }, spec }),
      POLICY,
    ).errors.map((e) => `${e.field}: ${e.message}`);

  it("admission: exactly one of key and before, and before an RFC 3339 time, field-pathed", () => {
    assert.deepEqual(
      errorsOf({ restore: { s3: { bucket: "backups", path: "prod", before: "2026-12-07T12:30:00Z" } } }),
      [],
    );
    assert.deepEqual(errorsOf({ restore: { s3: { bucket: "backups" } } }), [
      'spec.restore.s3: set exactly one of key (an object, or "latest") and before (an RFC 3339 time)',
    ]);
    assert.deepEqual(
      errorsOf({ restore: { s3: { bucket: "backups", key: "latest", before: "2026-12-07T12:30:00Z" } } }),
      ['spec.restore.s3: set exactly one of key (an object, or "latest") and before (an RFC 3339 time)'],
    );
    for (const bad of ["yesterday", "2026-12-07T12:30:00", "2026-12-07T12:30:00Z$X", "x".repeat(65)])
      assert.ok(
        errorsOf({ restore: { s3: { bucket: "backups", before: bad } } }).some((e) =>
          e.startsWith("spec.restore.s3.before: "),
        ),
        bad,
      );
    assert.deepEqual(errorsOf({ restore: { s3: { bucket: "backups", before: 5 as unknown as string } } }), [
      "spec.restore.s3.before: must be of type string",
    ]);
  });

  it("the controller judges again what admission did: a target only for a real time", () => {
    const target = restoreTarget(
      { s3: { bucket: "b", path: "/prod//", before: "2026-12-07T13:30:00+01:00" } },
      "ns",
      undefined,
    );
    assert.ok("before" in target, JSON.stringify(target));
    assert.equal(target.before, at("2026-12-07T12:30:00Z"));
    assert.equal(target.folder, "prod/");
    assert.equal(target.describe, "the newest backup in s3://b/prod/ taken before 2026-12-07T13:30:00+01:00");
    assert.deepEqual(restoreTarget({ s3: { bucket: "b", before: "tomorrow" } }, "ns", undefined), {
      problem: 'spec.restore.s3.before: "tomorrow" is not an RFC 3339 time with its offset',
    });
    assert.deepEqual(restoreTarget({ s3: { bucket: "b" } }, "ns", undefined), {
      problem: "spec.restore.s3 names no object: set key or before",
    });
  });
});

describe("restore before a time: the choice told", () => {
  const why = "the newest of 3 backups in s3://b/prod/ taken before 2026-12-07T12:45:00Z (2 later left out): prod/x";
  const spec: RqClusterSpec = {
    replicas: 3,
    restore: { s3: { bucket: "b", path: "prod", before: "2026-12-07T12:45:00Z" } },
  };
  const c = {
    ...clusterView({
      apiVersion: "rqlite.io/v1alpha1",
      kind: "RqCluster",
      metadata: { name: "db", namespace: "ns", uid: "u" },
      spec,
    }),
    restore: {
      bucket: "b",
      region: "us-east-1",
      forcePathStyle: false,
      key: "prod/x",
      location: "s3://b/prod/x",
      chosen: why,
    },
  };
  const o = (backupConfig: Observed["backupConfig"]) => ({ cluster: c, backupConfig }) as unknown as Observed;

  it("once, in the Event of the write that fixes the source; never again once it is kept", () => {
    const [create] = planBackupSecret(o({ exists: false, data: {} }));
    assert.equal(create!.reason, "RestoreSourceChosen");
    assert.equal(create!.message, `chose s3://b/prod/x to restore: ${why}; created Secret db-backup-config`);
    const kept = backupConfigFiles(c)!;
    assert.deepEqual(planBackupSecret(o({ exists: true, data: kept })), []);
  });

  it("in status.restore and the Restored condition's message", () => {
    const inputs = {
      cluster: c,
      previous: undefined,
      pods: [],
      now: new Date("2026-12-07T13:00:00Z"),
      restoreCounts: new Map([["db-0", { restored: 1, failed: 0, skipped: 0 }]]),
    };
    assert.deepEqual(restoreStatus(inputs), {
      location: "s3://b/prod/x",
      resolvedAt: "2026-12-07T13:00:00Z",
      chosen: why,
    });
    assert.equal(restoredCondition(inputs)!.message, `restored from s3://b/prod/x, ${why}`);
  });
});
