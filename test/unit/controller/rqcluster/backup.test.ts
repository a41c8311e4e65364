// Backups and restores, the pure parts: schema defaults and admission rules, the rendered rqlite
// configuration (rqlite v8.43.4's auto/backup and auto/restore format), retention, "latest",
// the restore source, and the status they produce.
import { strict as assert } from "node:assert";
import type { V1PersistentVolumeClaim, V1Pod } from "@kubernetes/client-node";
import { clusterView, type ClusterView } from "../../../../controller/rqcluster/render/cluster.js";
import {
  AUTO_RESTORE_FILE,
  backupConfigFiles,
  parseResolvedRestore,
  renderAutoBackupConfig,
  renderAutoRestoreConfig,
  renderBackupConfigSecret,
  RESTORE_SOURCE_FILE,
  type ResolvedRestore,
} from "../../../../controller/rqcluster/backup/render.js";
import { renderPod, SPEC_HASH_ANNOTATION } from "../../../../controller/rqcluster/render/pod.js";
import {
  adoptedFoundingVolumes,
  backupNeeds,
  latestObject,
  newestCompletedBackup,
  planBackupSecret,
  planRetention,
  planRetentionDeletes,
  RESTORE_LOAD_FAILED,
  restoreOutcome,
  restorePending,
  restoreTarget,
  timestampedKeyPattern,
} from "../../../../controller/rqcluster/backup/plan.js";
import { describeS3Error, S3EndpointRefusedError } from "../../../../controller/access/s3.js";
import {
  backupStatus,
  restoredCondition,
  restoreHolds,
  restoreStatus,
  retentionOutcome,
  type BackupStatusInputs,
} from "../../../../controller/rqcluster/backup/status.js";
import {
  RESTORE_RETRY_BASE_MS,
  RESTORE_RETRY_MAX_MS,
  RestoreRetries,
  RetentionSchedule,
} from "../../../../controller/rqcluster/backup/observe.js";
import type { Observed } from "../../../../controller/rqcluster/plan/types.js";
import {
  applyDefaults,
  durationSeconds,
  parseEndpointAllow,
  parseS3Location,
  s3BackupKey,
  STRICT_S3_POLICY,
  validateBackup,
  validateCreate,
  validateUpdate,
  type RqBackup,
  type RqClusterSpec,
  type RqClusterStatus,
} from "../../../../shared/index.js";
import { loopbackAddress } from "../../../../shared/loopback-address.js";
import type { DesiredNode } from "../../../../controller/rqcluster/render/members.js";

const addressing = { kind: "static" as const, addressOf: loopbackAddress };
const NOW = Date.parse("2026-11-30T12:00:00Z");
const meta = { name: "db", namespace: "ns", uid: "uid-1" };
const s3 = {
  bucket: "backups",
  path: "prod/db.sqlite.gz",
  endpoint: "http://127.0.0.1:7070",
  forcePathStyle: true,
  credentialsSecret: { name: "s3-creds" },
};
const cluster = (spec: RqClusterSpec): ClusterView =>
  clusterView({ apiVersion: "rqlite.io/v1alpha1", kind: "RqCluster", metadata: meta, spec });
const obj = (spec: RqClusterSpec) =>
  applyDefaults({ apiVersion: "rqlite.io/v1alpha1", kind: "RqCluster", metadata: { name: "db" }, spec });
// The rules on endpoints and ambient credentials have their own suite
// (../../shared/s3-endpoint.test.ts): here the loopback S3 is allowed, explicitly, and so are the
// operator's own credentials.
const POLICY = {
  ...STRICT_S3_POLICY,
  allow: parseEndpointAllow("127.0.0.1/32"),
  ambientCredentialsNamespaces: ["*"],
};
const errorsOf = (spec: RqClusterSpec) =>
  validateCreate(obj(spec), POLICY).errors.map((e) => `${e.field}: ${e.message}`);
const member: DesiredNode = { name: "db-0", ordinal: 0, role: "voter" };
const pod = (c: ClusterView, m = member, restorePending = true) =>
  renderPod(c, { member: m, bootstrapExpect: 3, addressing, restorePending });
const resolved: ResolvedRestore = {
  bucket: "backups",
  key: "prod/20261130110000_db.sqlite.gz",
  location: "s3://backups/prod/20261130110000_db.sqlite.gz",
  endpoint: "http://127.0.0.1:7070",
  region: "us-east-1",
  forcePathStyle: true,
  credentialsSecret: { name: "restore-creds", accessKeyIdKey: "id", secretAccessKeyKey: "secret" },
};

describe("backup schema and admission", () => {
  it("defaults spec.backup as rqlite does: hourly, timestamped, compressed, us-east-1", () => {
    const spec = obj({ backup: { s3 } }).spec;
    assert.deepEqual(spec.backup, {
      s3: {
        ...s3,
        region: "us-east-1",
        credentialsSecret: {
          name: "s3-creds",
          accessKeyIdKey: "AWS_ACCESS_KEY_ID",
          secretAccessKeyKey: "AWS_SECRET_ACCESS_KEY",
        },
      },
      interval: "1h",
      timestamp: true,
      vacuum: false,
      compress: true,
    });
    assert.deepEqual(validateCreate(obj({ backup: { s3 } }), POLICY).errors, []);
  });

  it("parses durations with days, and refuses what rqlite could not take", () => {
    assert.equal(durationSeconds("1d2h30m"), 86400 + 7200 + 1800);
    assert.equal(durationSeconds("1500ms"), 1.5);
    assert.equal(durationSeconds("1.5h"), undefined);
    assert.deepEqual(errorsOf({ backup: { s3, interval: "soon" } }), [
      "spec.backup.interval: must match the regular expression '^([0-9]+(ms|s|m|h|d))+$'",
    ]);
    assert.deepEqual(errorsOf({ backup: { s3, interval: "10ms" } }), ["spec.backup.interval: must be at least 1s"]);
    assert.deepEqual(errorsOf({ backup: { s3, retention: { keepLast: 0 } } }), [
      "spec.backup.retention.keepLast: must be greater than or equal to 1",
    ]);
  });

  it("refuses $ (rqlited would expand it), folders as paths, bad bucket and Secret names", () => {
    assert.deepEqual(
      errorsOf({
        backup: { s3: { ...s3, bucket: "Bad_Bucket", path: "a/$HOME/", credentialsSecret: { name: "A!" } } },
      }),
      [
        "spec.backup.s3.bucket: must match the regular expression '^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$'",
        "spec.backup.s3.credentialsSecret.name: a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com')",
        "spec.backup.s3.path: may not contain $: rqlited expands $NAME in its backup configuration",
        "spec.backup.s3.path: must name an object, e.g. backups/db.sqlite.gz, not a folder",
      ],
    );
    assert.match(errorsOf({ backup: { s3: { ...s3, endpoint: "ftp://x" } } })[0]!, /^spec\.backup\.s3\.endpoint: /);
  });

  it("judges a name as a name in every field that names an object, and never throws", () => {
    const hostile = ["..", "../../victim/secrets/s3", "%2e%2e", "victim/s3", ""];
    for (const name of hostile) {
      const fields = [
        ...errorsOf({ restore: { backup: name } }),
        ...errorsOf({ auth: { secretName: name }, podTemplateConfigMap: { name } }),
        ...errorsOf({ restore: { s3: { bucket: "backups", key: "latest", credentialsSecret: { name } } } }),
      ].map((e) => e.split(":")[0]);
      assert.deepEqual(fields.sort(), [
        "spec.auth.secretName",
        "spec.podTemplateConfigMap.name",
        "spec.restore.backup",
        "spec.restore.s3.credentialsSecret.name",
      ]);
    }
    const backup = (spec: unknown) =>
      validateBackup({ metadata: { name: "b", namespace: "t" }, spec }, STRICT_S3_POLICY).errors.map((e) => e.field);
    assert.deepEqual(
      backup({
        cluster: "../db",
        destination: { s3: { bucket: "backups", credentialsSecret: { name: "s3", accessKeyIdKey: ".." } } },
      }),
      ["spec.cluster", "spec.destination.s3.credentialsSecret.accessKeyIdKey"],
    );
    assert.deepEqual(backup({ cluster: "db", destination: { pvc: { claimName: "a/b" } } }), [
      "spec.destination.pvc.claimName",
    ]);
    assert.deepEqual(backup({ cluster: "db", destination: { pvc: { claimName: "data" } } }), []);
    // The Job writes under its mount: a folder that climbs out, or starts at /, is refused.
    for (const path of ["..", "a/../../etc", "/etc", "./a", "a/./b", "a\\..\\b", "a\nb"])
      assert.deepEqual(
        backup({ cluster: "db", destination: { pvc: { claimName: "data", path } } }),
        ["spec.destination.pvc.path"],
        path,
      );
    assert.deepEqual(
      backup({ cluster: "db", destination: { pvc: { claimName: "data", path: "nightly/db..v2" } } }),
      [],
    );
    // The endpoint and ambient-credential rules of an RqCluster's S3 connections hold here too.
    assert.deepEqual(
      backup({ cluster: "db", destination: { s3: { bucket: "backups", endpoint: "http://169.254.169.254" } } }),
      ["spec.destination.s3.endpoint", "spec.destination.s3.credentialsSecret"],
    );
    for (const garbage of [null, 3, "x", [], {}]) assert.ok(backup(garbage).length > 0, JSON.stringify(garbage));
    assert.deepEqual(
      validateBackup(null, STRICT_S3_POLICY).errors.map((e) => e.type),
      ["TypeInvalid"],
    );
  });

  it("needs exactly one restore source", () => {
    assert.deepEqual(errorsOf({ restore: {} }), ["spec.restore: set exactly one of backup, s3 and pvc"]);
    assert.deepEqual(errorsOf({ restore: { backup: "nightly", s3: { bucket: "backups", key: "latest" } } }), [
      "spec.restore: set exactly one of backup, s3 and pvc",
    ]);
    assert.deepEqual(errorsOf({ restore: { s3: { bucket: "backups", key: "dir/" } } }), [
      'spec.restore.s3.key: must name an object, or be "latest" for the newest object under path',
    ]);
    assert.deepEqual(errorsOf({ restore: { backup: "nightly" } }), []);
  });

  it("allows spec.restore only at creation: adding, changing and removing it are refused", () => {
    const plain = obj({ replicas: 3 });
    const restored = obj({ replicas: 3, restore: { backup: "nightly" } });
    const other = obj({ replicas: 3, restore: { backup: "weekly" } });
    const messages = (a: unknown, b: unknown) =>
      validateUpdate(a, b, POLICY).errors.map((e) => `${e.field}: ${e.message}`);
    assert.match(messages(plain, restored)[0]!, /^spec\.restore: may be set only when the cluster is created/);
    assert.match(messages(restored, other)[0]!, /^spec\.restore: may not be changed or removed/);
    assert.match(messages(restored, plain)[0]!, /^spec\.restore: may not be changed or removed/);
    assert.deepEqual(messages(restored, obj({ replicas: 5, restore: { backup: "nightly" } })), []);
  });

  it("refuses -auto-backup and -auto-restore in extraArgs, pointing at the fields", () => {
    assert.deepEqual(errorsOf({ extraArgs: ["-auto-backup=/x.json"] }), [
      "spec.extraArgs[0]: flag -auto-backup is set by the operator: set spec.backup instead",
    ]);
  });

  it("names an RqBackup's object and reads its location back", () => {
    const key = s3BackupKey("/nightly/", "ns", "b1", "binary", true, new Date("2026-11-30T12:34:56.789Z"));
    assert.equal(key, "nightly/ns-b1-20261130T123456Z.sqlite.gz");
    assert.deepEqual(parseS3Location(`s3://backups/${key}`), { bucket: "backups", key });
    assert.equal(parseS3Location("pvc://claim/x.sqlite"), undefined);
  });
});

describe("backup render", () => {
  it("renders rqlite's auto-backup file with credentials only as $ENV references", () => {
    const c = cluster({ backup: { s3, interval: "1d", retention: { keepLast: 3 } } });
    assert.deepEqual(JSON.parse(renderAutoBackupConfig(c.spec.backup!)), {
      version: 1,
      type: "s3",
      interval: "86400s",
      timestamp: true,
      vacuum: false,
      no_compress: false,
      sub: {
        endpoint: "http://127.0.0.1:7070",
        region: "us-east-1",
        access_key_id: "$RQLITE_BACKUP_ACCESS_KEY_ID",
        secret_access_key: "$RQLITE_BACKUP_SECRET_ACCESS_KEY",
        bucket: "backups",
        path: "prod/db.sqlite.gz",
        force_path_style: true,
      },
    });
    const noCreds = cluster({ backup: { s3: { bucket: "b-1", path: "db.gz" }, compress: false } });
    const sub = JSON.parse(renderAutoBackupConfig(noCreds.spec.backup!)) as { no_compress: boolean; sub: object };
    assert.equal(sub.no_compress, true);
    assert.deepEqual(sub.sub, {
      region: "us-east-1",
      access_key_id: "",
      secret_access_key: "",
      bucket: "b-1",
      path: "db.gz",
      force_path_style: false,
    });
  });

  it("renders the auto-restore file for one exact object, stopping the node if the download fails", () => {
    assert.deepEqual(JSON.parse(renderAutoRestoreConfig(resolved)), {
      version: 1,
      type: "s3",
      timeout: "30m",
      continue_on_failure: false,
      sub: {
        endpoint: "http://127.0.0.1:7070",
        region: "us-east-1",
        access_key_id: "$RQLITE_RESTORE_ACCESS_KEY_ID",
        secret_access_key: "$RQLITE_RESTORE_SECRET_ACCESS_KEY",
        bucket: "backups",
        path: "prod/20261130110000_db.sqlite.gz",
        force_path_style: true,
      },
    });
    assert.deepEqual(parseResolvedRestore(JSON.stringify(resolved)), resolved);
    assert.equal(parseResolvedRestore("{}"), undefined);
    assert.equal(parseResolvedRestore("not json"), undefined);
  });

  it("adds flag, Secret volume, optional secretKeyRef env and a config hash to the Pod", () => {
    const c = cluster({ backup: { s3 } });
    const p = pod(c);
    const ct = p.spec!.containers[0]!;
    assert.ok(ct.args!.includes("-auto-backup=/rqlite/backup/auto-backup.json"));
    assert.ok(!ct.args!.some((a) => a.startsWith("-auto-restore")));
    assert.equal(ct.args!.at(-1), "/rqlite/file/data", "the data directory stays last");
    assert.deepEqual(ct.env, [
      {
        name: "RQLITE_BACKUP_ACCESS_KEY_ID",
        valueFrom: { secretKeyRef: { name: "s3-creds", key: "AWS_ACCESS_KEY_ID", optional: true } },
      },
      {
        name: "RQLITE_BACKUP_SECRET_ACCESS_KEY",
        valueFrom: { secretKeyRef: { name: "s3-creds", key: "AWS_SECRET_ACCESS_KEY", optional: true } },
      },
    ]);
    assert.deepEqual(
      p.spec!.volumes!.find((v) => v.name === "backup-config"),
      { name: "backup-config", secret: { secretName: "db-backup-config" } },
    );
    assert.ok(ct.volumeMounts!.some((m) => m.mountPath === "/rqlite/backup" && m.readOnly));
    assertWritableTmp(p);
    const secret = renderBackupConfigSecret(c)!;
    const text = Buffer.from(secret.data!["auto-backup.json"]!, "base64").toString();
    assert.ok(!/rqlite-test|AKIA/.test(text) && text.includes("$RQLITE_BACKUP_ACCESS_KEY_ID"));
    assert.deepEqual(secret.metadata!.ownerReferences![0]!.uid, "uid-1");
  });

  it("rolls the Pods when the backup config changes, and changes nothing for clusters without backups", () => {
    const hash = (spec: RqClusterSpec) => pod(cluster(spec)).metadata!.annotations![SPEC_HASH_ANNOTATION];
    assert.notEqual(hash({ backup: { s3, interval: "1h" } }), hash({ backup: { s3, interval: "2h" } }));
    assert.notEqual(hash({}), hash({ backup: { s3 } }));
    const plain = pod(cluster({ env: [{ name: "A", value: "1" }] }));
    assert.deepEqual(plain.spec!.containers[0]!.env, [{ name: "A", value: "1" }]);
    assert.ok(!plain.spec!.volumes!.some((v) => v.name === "backup-config" || v.name === "backup-tmp"));
    assert.ok(!Object.keys(plain.metadata!.annotations!).some((k) => k.includes("backup")));
  });

  it("gives the founding voters, not later ones or read replicas, the restore flag and credentials, once resolved", () => {
    const spec = { replicas: 3, readReplicas: 1, restore: { backup: "nightly" } };
    const unresolved = cluster(spec);
    assert.equal(backupConfigFiles(unresolved), undefined);
    const c = { ...unresolved, restore: resolved };
    const voter = pod(c).spec!.containers[0]!;
    assert.ok(voter.args!.includes(`-auto-restore=/rqlite/backup/${AUTO_RESTORE_FILE}`));
    assertWritableTmp(pod(c));
    assert.deepEqual(
      voter.env!.map((e) => [e.name, e.valueFrom?.secretKeyRef?.name, e.valueFrom?.secretKeyRef?.key]),
      [
        ["RQLITE_RESTORE_ACCESS_KEY_ID", "restore-creds", "id"],
        ["RQLITE_RESTORE_SECRET_ACCESS_KEY", "restore-creds", "secret"],
      ],
    );
    const reader = pod(c, { name: "db-ro-0", ordinal: 0, role: "read-only" }).spec!.containers[0]!;
    assert.ok(!reader.args!.some((a) => a.startsWith("-auto-restore")));
    assert.equal(reader.env, undefined);
    // A voter added later (ordinal 3 of a cluster founded with 3) joins and copies from the leader.
    const later = pod(c, { name: "db-3", ordinal: 3, role: "voter" }).spec!.containers[0]!;
    assert.ok(!later.args!.some((a) => a.startsWith("-auto-restore")));
    assert.equal(later.env, undefined);
    assert.deepEqual(Object.keys(backupConfigFiles(c)!), [AUTO_RESTORE_FILE, RESTORE_SOURCE_FILE]);
  });

  it("restores on a founding voter's first start only, with a startup probe that outlasts rqlite's download timeout", () => {
    const c = { ...cluster({ replicas: 3, restore: { backup: "nightly" } }), restore: resolved };
    const first = pod(c);
    const ct = first.spec!.containers[0]!;
    // rqlited downloads before its HTTP server starts: the liveness probe must wait for startup.
    assert.deepEqual(ct.startupProbe, {
      httpGet: { path: "/readyz?noleader", port: "http", scheme: "HTTP" },
      periodSeconds: 10,
      timeoutSeconds: 2,
      failureThreshold: 187,
    });
    const liveness = ct.livenessProbe!;
    const livenessBudget = liveness.initialDelaySeconds! + liveness.periodSeconds! * liveness.failureThreshold!;
    assert.equal(livenessBudget, 70);
    assert.ok(ct.startupProbe.periodSeconds * ct.startupProbe.failureThreshold >= 30 * 60 + livenessBudget);
    // After the restore (or for a lost node's replacement) the same member joins instead.
    const later = pod(c, member, false);
    const lt = later.spec!.containers[0]!;
    assert.ok(!lt.args!.some((a) => a.startsWith("-auto-restore")));
    assert.equal(lt.startupProbe, undefined);
    assert.equal(lt.env, undefined);
    assert.ok(!later.spec!.volumes!.some((v) => v.name === "backup-config"), "no config Secret to mount");
    // Both are current: the end of a restore rolls nothing.
    assert.equal(
      first.metadata!.annotations![SPEC_HASH_ANNOTATION],
      later.metadata!.annotations![SPEC_HASH_ANNOTATION],
    );
  });

  it("does not restore onto founding volumes older than the cluster (adopted Retain PVCs)", () => {
    const c = {
      ...cluster({ replicas: 3, restore: { backup: "nightly" } }),
      restore: resolved,
      createdAt: "2026-11-30T12:00:00.000Z",
    };
    const pvc = (name: string, at: string) =>
      ({ metadata: { name, creationTimestamp: at } }) as unknown as V1PersistentVolumeClaim;
    const own = [pvc("db-0", "2026-11-30T12:00:00Z"), pvc("db-1", "2026-11-30T12:00:03Z")];
    assert.deepEqual(adoptedFoundingVolumes(c, own, 3), []);
    assert.equal(restorePending(c, false, own, 3), true);
    assert.equal(restorePending(c, true, own, 3), false, "done: no Pod made from now on restores");
    const kept = [...own, pvc("db-2", "2026-11-29T08:00:00Z"), pvc("db-3", "2026-11-29T08:00:00Z")];
    assert.deepEqual(adoptedFoundingVolumes(c, kept, 3), ["db-2"], "db-3 is not a founding voter");
    assert.equal(restorePending(c, false, kept, 3), false);
    assert.equal(restorePending({ ...c, restore: undefined }, false, own, 3), false, "not resolved yet");
  });

  it("creates the config Secret, applies it when it drifts, and leaves a matching one alone", () => {
    const c = cluster({ backup: { s3 } });
    const o = (backupConfig?: Observed["backupConfig"]) => ({ cluster: c, backupConfig }) as unknown as Observed;
    assert.deepEqual(planBackupSecret(o(undefined)), []);
    assert.equal(planBackupSecret(o({ exists: false, data: {} }))[0]!.type, "create");
    assert.equal(planBackupSecret(o({ exists: true, data: { "auto-backup.json": "{}" } }))[0]!.type, "apply");
    const current = { "auto-backup.json": renderAutoBackupConfig(c.spec.backup!) };
    assert.deepEqual(planBackupSecret(o({ exists: true, data: current })), []);
  });
});

describe("retention", () => {
  const at = (stamp: string) =>
    Date.parse(
      `${stamp.slice(0, 4)}-${stamp.slice(4, 6)}-${stamp.slice(6, 8)}T${stamp.slice(8, 10)}:${stamp.slice(10, 12)}:${stamp.slice(12, 14)}Z`,
    );
  const upload = (stamp: string, name = "db.sqlite.gz") => ({ key: `prod/${stamp}_${name}`, lastModified: at(stamp) });
  const objects = [
    upload("20261130115900"),
    upload("20261130115800"),
    upload("20261130110000"),
    upload("20261129120000"),
    upload("20261101000000"),
    // Not rqlite's uploads of this path: never touched.
    upload("20261101000000", "other.sqlite.gz"),
    { key: "prod/db.sqlite.gz", lastModified: 0 },
    { key: "prod/notes.txt", lastModified: 0 },
  ];
  const cases: Array<[string, { keepLast?: number; maxAge?: string }, string[]]> = [
    ["keepLast 3 keeps the newest three", { keepLast: 3 }, ["20261101000000", "20261129120000"]],
    ["keepLast above the count keeps all", { keepLast: 10 }, []],
    ["maxAge 2h deletes what is older", { maxAge: "2h" }, ["20261101000000", "20261129120000"]],
    ["maxAge 1d keeps yesterday noon (exactly 1d)", { maxAge: "1d" }, ["20261101000000"]],
    ["both bounds apply", { keepLast: 2, maxAge: "1d" }, ["20261101000000", "20261129120000", "20261130110000"]],
    ["nothing set deletes nothing", {}, []],
  ];
  for (const [name, retention, removed] of cases) {
    it(name, () => {
      const plan = planRetention(objects, "prod/db.sqlite.gz", retention, NOW);
      assert.deepEqual(
        plan.remove,
        removed.map((s) => `prod/${s}_db.sqlite.gz`),
      );
      assert.equal(plan.keep.length + plan.remove.length, 5);
    });
  }

  it("never deletes the newest upload, however old", () => {
    const plan = planRetention(
      [upload("20200101000000"), upload("20190101000000")],
      "prod/db.sqlite.gz",
      { maxAge: "1h" },
      NOW,
    );
    assert.deepEqual(plan.keep, ["prod/20200101000000_db.sqlite.gz"]);
  });

  it("matches rqlite's timestamped names at the bucket root and escapes the path", () => {
    assert.ok(timestampedKeyPattern("db.sqlite").test("20261130115900_db.sqlite"));
    assert.ok(!timestampedKeyPattern("db.sqlite").test("20261130115900_dbXsqlite"));
    assert.ok(!timestampedKeyPattern("a/db").test("b/20261130115900_db"));
  });

  it("finds the completedAt of a cluster's newest Completed RqBackup", () => {
    const b = (cluster: string, phase: "Completed" | "Failed", completedAt?: string): RqBackup => ({
      spec: { cluster, destination: {} },
      status: { phase, ...(completedAt ? { completedAt } : {}) },
    });
    const list = [
      b("db", "Completed", "2026-11-30T10:00:00Z"),
      b("db", "Completed", "2026-11-30T11:00:00Z"),
      b("db", "Failed", "2026-11-30T12:00:00Z"),
      b("other", "Completed", "2026-11-30T13:00:00Z"),
    ];
    assert.equal(newestCompletedBackup(list, "db"), "2026-11-30T11:00:00Z");
    assert.equal(newestCompletedBackup(list, "none"), undefined);
  });

  it("picks the newest object for restore's latest", () => {
    assert.equal(latestObject(objects)?.key, "prod/20261130115900_db.sqlite.gz");
    assert.equal(latestObject([{ key: "dir/", lastModified: 5 }]), undefined);
    assert.equal(latestObject([]), undefined);
  });
});

describe("retention as actions, on the schedule the controller keeps", () => {
  const c = cluster({ backup: { s3, interval: "1h", retention: { keepLast: 1 } } });
  const key = (stamp: string) => `prod/${stamp}_db.sqlite.gz`;
  const listing = {
    objects: [
      { key: key("20261130100000"), lastModified: 0 },
      { key: key("20261130110000"), lastModified: 0 },
      { key: "prod/notes.txt", lastModified: 0 },
    ],
  };
  const o = (extra: Partial<Observed>) => ({ cluster: c, pods: [], pvcs: [], now: NOW, ...extra }) as Observed;
  const uploads = { node: "db-0", ok: 4, fail: 0 };

  it("lists the folder on the first look, after a new upload, and once a period; not in between", () => {
    const schedule = new RetentionSchedule();
    const needs = () =>
      backupNeeds(
        o({ backupReadings: { uploads, previousUploads: uploads, lastRetentionAt: schedule.lastRun("uid-1") } }),
        3,
      );
    assert.deepEqual(needs(), [{ type: "retentionListing" }], "never listed yet");
    schedule.record("uid-1", NOW - 5 * 60_000);
    assert.deepEqual(needs(), [], "listed five minutes ago, no upload since");
    const uploaded = o({
      backupReadings: { uploads: { ...uploads, ok: 5 }, previousUploads: uploads, lastRetentionAt: NOW - 60_000 },
    });
    assert.deepEqual(backupNeeds(uploaded, 3), [{ type: "retentionListing" }], "a new upload");
    schedule.record("uid-1", NOW - 10 * 60_000);
    assert.deepEqual(needs(), [{ type: "retentionListing" }], "a period (the 1h interval, at most 10 minutes) passed");
    schedule.forget("uid-1");
    assert.equal(schedule.lastRun("uid-1"), undefined);
  });

  it("asks nothing of a paused cluster or one without retention, and not twice", () => {
    const paused = cluster({ backup: { s3, retention: { keepLast: 1 } }, paused: true });
    assert.deepEqual(backupNeeds({ ...o({}), cluster: paused }, 3), []);
    assert.deepEqual(backupNeeds({ ...o({}), cluster: cluster({ backup: { s3 } }) }, 3), []);
    assert.deepEqual(backupNeeds(o({ retentionListing: listing }), 3), []);
  });

  it("deletes what retention drops, one action each, and never an object that is not rqlite's upload", () => {
    const actions = planRetentionDeletes(o({ retentionListing: listing }));
    assert.deepEqual(
      actions.map((a) => (a.type === "deleteBackupObject" ? `${a.connection.bucket}/${a.key}` : a.type)),
      [`backups/${key("20261130100000")}`],
    );
    assert.deepEqual(planRetentionDeletes(o({ retentionListing: { failure: "access denied" } })), []);
  });

  it("reports what is kept, or why the listing or a delete failed", () => {
    assert.deepEqual(retentionOutcome(o({ retentionListing: listing }), undefined), { retained: 1 });
    assert.deepEqual(retentionOutcome(o({ retentionListing: listing }), "delete refused"), {
      failure: "delete refused",
    });
    assert.deepEqual(retentionOutcome(o({ retentionListing: { failure: "no bucket" } }), undefined), {
      failure: "no bucket",
    });
    assert.equal(retentionOutcome(o({}), undefined), undefined);
  });
});

describe("restore source", () => {
  const completed: RqBackup = {
    apiVersion: "rqlite.io/v1alpha1",
    kind: "RqBackup",
    metadata: { name: "nightly" },
    spec: {
      cluster: "old",
      destination: { s3: { bucket: "backups", endpoint: "http://127.0.0.1:7070", forcePathStyle: true } },
      format: "binary",
    },
    status: { phase: "Completed", location: "s3://backups/ns-nightly-20261130T110000Z.sqlite.gz" },
  };

  it("resolves an RqBackup to its location, with its destination's connection", () => {
    assert.deepEqual(restoreTarget({ backup: "nightly" }, "ns", completed), {
      bucket: "backups",
      endpoint: "http://127.0.0.1:7070",
      region: "us-east-1",
      forcePathStyle: true,
      key: "ns-nightly-20261130T110000Z.sqlite.gz",
      describe: "s3://backups/ns-nightly-20261130T110000Z.sqlite.gz (RqBackup nightly)",
    });
  });

  it("says what is wrong with a backup that cannot be restored", () => {
    const problem = (b: RqBackup | undefined) =>
      (restoreTarget({ backup: "nightly" }, "ns", b) as { problem: string }).problem;
    assert.equal(problem(undefined), "RqBackup ns/nightly (spec.restore.backup) does not exist");
    assert.match(
      problem({ ...completed, status: { phase: "Running" } }),
      /is Running; the restore starts once it is Completed/,
    );
    assert.match(problem({ ...completed, status: { phase: "Failed", reason: "S3 down" } }), /Failed \(S3 down\)/);
    assert.match(problem({ ...completed, spec: { ...completed.spec!, format: "sql" } }), /only binary backups restore/);
    assert.match(
      problem({
        ...completed,
        spec: { cluster: "old", destination: { pvc: { claimName: "c" } } },
        status: { phase: "Completed", location: "pvc://other/x" },
      }),
      /says it is at pvc:\/\/other\/x, not in its claim c/,
    );
    assert.match(
      problem({
        ...completed,
        spec: { cluster: "old", destination: { pvc: { claimName: "c" } } },
        status: { phase: "Completed", location: "pvc://c/../x" },
      }),
      /has no location the operator can restore from \(pvc:\/\/c\/\.\.\/x\)/,
    );
  });

  it("takes an S3 key as given, and latest as the folder under path", () => {
    const t = restoreTarget({ s3: { bucket: "backups", path: "/prod", key: "latest" } }, "ns", undefined);
    assert.deepEqual(t, {
      bucket: "backups",
      region: "us-east-1",
      forcePathStyle: false,
      latestUnder: "prod/",
      describe: "the newest object under s3://backups/prod/",
    });
    const k = restoreTarget({ s3: { bucket: "backups", key: "prod/x.gz" } }, "ns", undefined) as { key: string };
    assert.equal(k.key, "prod/x.gz");
  });
});

describe("restoreOutcome: what settles spec.restore", () => {
  const n = (restored: number, failed = 0, skipped = 0) => ({ restored, failed, skipped });
  const cases: Array<[string, Parameters<typeof restoreOutcome>[0], ReturnType<typeof restoreOutcome>]> = [
    ["nothing read", { counts: new Map() }, { kind: "pending" }],
    ["skips only, no leader read", { counts: new Map([["db-1", n(0, 0, 1)]]) }, { kind: "pending" }],
    [
      "the first leader counted the load",
      {
        counts: new Map([
          ["db-1", n(0, 0, 1)],
          ["db-0", n(1)],
        ]),
      },
      { kind: "loaded", node: "db-0" },
    ],
    [
      "a counted load wins over a failure remembered from an earlier attempt",
      { counts: new Map([["db-0", n(1)]]), previousReason: RESTORE_LOAD_FAILED },
      { kind: "loaded", node: "db-0" },
    ],
    ["a counted failure", { counts: new Map([["db-0", n(0, 1)]]) }, { kind: "loadFailed", node: "db-0" }],
    [
      "a failure on record is kept over the leader's data (a client may have written since)",
      {
        counts: new Map([["db-0", n(0)]]),
        previousReason: RESTORE_LOAD_FAILED,
        leaderData: { leader: "db-0", dbAppliedIndex: 7 },
      },
      { kind: "loadFailed" },
    ],
    [
      "counters lost, the leader applied a change: the load",
      {
        counts: new Map([
          ["db-0", n(0)],
          ["db-1", n(0, 0, 1)],
        ]),
        leaderData: { leader: "db-1", dbAppliedIndex: 5 },
        previousReason: "Restoring",
      },
      { kind: "loadedByData", leader: "db-1", dbAppliedIndex: 5 },
    ],
    [
      "counters lost, status lost too: the data still settles it",
      { counts: new Map([["db-0", n(0)]]), leaderData: { leader: "db-0", dbAppliedIndex: 3 } },
      { kind: "loadedByData", leader: "db-0", dbAppliedIndex: 3 },
    ],
    [
      "the leader applied nothing yet (before the load, or a new leader still replaying its log)",
      { counts: new Map([["db-0", n(0)]]), leaderData: { leader: "db-0", dbAppliedIndex: 0 } },
      { kind: "pending" },
    ],
  ];
  for (const [name, evidence, want] of cases) it(name, () => assert.deepEqual(restoreOutcome(evidence), want));

  it("asks for the leader's data with the counters, where there is a leader", () => {
    const c = { ...cluster({ restore: { backup: "nightly" } }), restore: resolved };
    const running = (name: string): V1Pod => ({
      metadata: { name, labels: { "rqlite.io/role": "voter" } },
      status: { podIP: "10.0.0.1" },
    });
    const o = {
      cluster: c,
      pods: [running("db-0"), running("db-1"), running("db-2")],
      pvcs: [],
    } as unknown as Observed;
    assert.deepEqual(backupNeeds(o, 3), [{ type: "restoreCounts", nodes: ["db-0", "db-1", "db-2"] }]);
    const led = { ...o, raft: { leader: "db-1", members: [], canTransfer: true } };
    assert.deepEqual(backupNeeds(led, 3), [{ type: "restoreCounts", nodes: ["db-0", "db-1", "db-2"], leader: "db-1" }]);
    assert.deepEqual(backupNeeds({ ...led, restoreDone: true }, 3), [], "nothing once Restored");
  });
});

describe("backup status", () => {
  const now = new Date(NOW);
  const base: RqClusterStatus = {
    phase: "Running",
    readyReplicas: 3,
    leader: "db-0",
    conditions: [
      {
        type: "Available",
        status: "True",
        reason: "QuorumReady",
        message: "",
        lastTransitionTime: "2026-11-30T10:00:00Z",
      },
    ],
  };
  const readyPod = (name: string, restarts = 0, ready = true): V1Pod => ({
    metadata: { name, labels: { "rqlite.io/role": "voter" } },
    status: {
      conditions: [{ type: "Ready", status: ready ? "True" : "False" }],
      containerStatuses: [{ name: "rqlite", restartCount: restarts, ready, image: "", imageID: "" }],
    },
  });

  /**
   * What computeStatus takes from the backup slice: status.backup and status.restore, the
   * Restored condition, and the phase and Available condition a restore that is not done imposes.
   */
  const judge = (inputs: BackupStatusInputs) => {
    const restored = restoredCondition(inputs);
    const holds = restoreHolds(restored);
    const restore = restoreStatus(inputs);
    const backup = backupStatus(inputs);
    const conditions = [
      ...(holds ? [{ ...holds.available, lastTransitionTime: "2026-11-30T12:00:00Z" }] : base.conditions!),
      ...(restored ? [{ ...restored, lastTransitionTime: "2026-11-30T12:00:00Z" }] : []),
    ];
    const status: RqClusterStatus = {
      ...base,
      phase: holds?.phase ?? base.phase!,
      conditions,
      ...(restore ? { restore } : {}),
      ...(backup ? { backup } : {}),
    };
    return status;
  };

  it("records an upload when the leader's ok counter rises, and a failure when fail does", () => {
    const c = cluster({ backup: { s3 } });
    const previous = {
      ...base,
      backup: { uploader: { node: "db-0", ok: 2, fail: 0 }, lastSuccessfulTime: "2026-11-30T11:00:00Z" },
    };
    const same = judge({
      cluster: c,
      previous,
      readings: { uploads: { node: "db-0", ok: 2, fail: 0 } },
      pods: [],
      now,
    });
    assert.equal(same.backup!.lastSuccessfulTime, "2026-11-30T11:00:00Z");
    const up = judge({
      cluster: c,
      previous,
      readings: { uploads: { node: "db-0", ok: 3, fail: 1 } },
      pods: [],
      now,
    });
    assert.equal(up.backup!.lastSuccessfulTime, "2026-11-30T12:00:00Z");
    assert.match(up.backup!.lastFailure!.message!, /auto-backup upload failed on db-0/);
    // A new leader's counters start again: any upload it reports is new to the operator.
    const moved = judge({
      cluster: c,
      previous,
      readings: { uploads: { node: "db-1", ok: 1, fail: 0 } },
      pods: [],
      now,
    });
    assert.equal(moved.backup!.lastSuccessfulTime, "2026-11-30T12:00:00Z");
    const oneShot = judge({
      cluster: c,
      previous,
      readings: { rqBackupCompletedAt: "2026-11-30T11:30:00.123Z" },
      pods: [],
      now,
    });
    assert.equal(oneShot.backup!.lastSuccessfulTime, "2026-11-30T11:30:00Z", "a Completed RqBackup counts too");
    const retention = judge({
      cluster: c,
      previous,
      retention: { failure: "retention of s3://backups/prod/: access denied" },
      pods: [],
      now,
    });
    assert.equal(retention.backup!.lastFailure!.message, "retention of s3://backups/prod/: access denied");
  });

  it("keeps a newer lastSuccessfulTime an RqBackup wrote, and has no backup status without any", () => {
    const c = cluster({});
    assert.equal(judge({ cluster: c, previous: base, pods: [], now }).backup, undefined);
    const previous = {
      ...base,
      backup: { lastSuccessfulTime: "2026-11-30T13:00:00Z", uploader: { node: "x", ok: 1, fail: 0 } },
    };
    assert.deepEqual(judge({ cluster: c, previous, pods: [], now }).backup, {
      lastSuccessfulTime: "2026-11-30T13:00:00Z",
    });
  });

  it("is Failed and not Available while the restore source cannot be read", () => {
    const c = cluster({ restore: { s3: { bucket: "backups", key: "nope" } } });
    const s = judge({
      cluster: c,
      previous: undefined,

      restoreProblem: "restore source s3://backups/nope does not exist",
      pods: [],
      now,
    });
    assert.equal(s.phase, "Failed");
    const cond = Object.fromEntries(s.conditions!.map((x) => [x.type, x]));
    assert.equal(cond.Restored!.status, "False");
    assert.equal(cond.Restored!.reason, "RestoreSourceUnavailable");
    assert.equal(cond.Restored!.message, "restore source s3://backups/nope does not exist");
    assert.equal(cond.Available!.status, "False");
    assert.equal(cond.Available!.reason, "RestoreFailed");
  });

  const counts = (restored: number, failed = 0, skipped = 0) => ({ restored, failed, skipped });

  it("holds Available back until rqlite's counters say the leader loaded it, then says Restored with the source", () => {
    const c = { ...cluster({ restore: { backup: "nightly" } }), restore: resolved };
    const two = [readyPod("db-0"), readyPod("db-1"), readyPod("db-2", 0, false)];
    const restoring = judge({ cluster: c, previous: undefined, pods: two, now });
    assert.equal(restoring.phase, "Creating");
    const cond = (s: RqClusterStatus, t: string) => s.conditions!.find((x) => x.type === t)!;
    assert.equal(cond(restoring, "Available").status, "False");
    assert.equal(cond(restoring, "Restored").reason, "Restoring");
    assert.deepEqual(restoring.restore, { location: resolved.location, resolvedAt: "2026-11-30T12:00:00Z" });
    const all = [readyPod("db-0"), readyPod("db-1"), readyPod("db-2")];
    // Every Pod Ready is not a restore: only the counters tell a load from none.
    const ready = judge({ cluster: c, previous: restoring, pods: all, now });
    assert.equal(cond(ready, "Restored").reason, "Restoring");
    assert.equal(cond(ready, "Available").status, "False");
    const skippedOnly = new Map([
      ["db-1", counts(0, 0, 1)],
      ["db-2", counts(0, 0, 1)],
    ]);
    const stillRestoring = judge({
      cluster: c,
      previous: restoring,
      restoreCounts: skippedOnly,
      pods: all,
      now,
    });
    assert.equal(cond(stillRestoring, "Restored").reason, "Restoring");
    const loaded = new Map([...skippedOnly, ["db-0", counts(1)]]);
    const done = judge({
      cluster: c,
      previous: restoring,
      restoreCounts: loaded,
      pods: all,
      now,
    });
    assert.equal(done.phase, "Running");
    assert.equal(cond(done, "Available").status, "True");
    assert.equal(cond(done, "Restored").status, "True");
    assert.equal(cond(done, "Restored").message, `restored from ${resolved.location} (RqBackup nightly)`);
    // Once restored it stays so, whatever the Pods do later.
    const later = judge({
      cluster: c,
      previous: done,

      pods: [],
      now: new Date(NOW + 60_000),
    });
    assert.deepEqual(cond(later, "Restored"), cond(done, "Restored"));
    // Even when the source can no longer be read (observe then leaves it unresolved): the record stays.
    const gone = judge({
      cluster: cluster({ restore: { backup: "nightly" } }),
      previous: done,

      pods: all,
      now: new Date(NOW + 60_000),
    });
    assert.deepEqual(cond(gone, "Restored"), cond(done, "Restored"));
    assert.deepEqual(gone.restore, done.restore);
    assert.equal(cond(gone, "Available").status, "True");
  });

  it("says the restore failed when the leader's counter says so, and remembers it once the counter is gone", () => {
    const c = { ...cluster({ restore: { backup: "nightly" } }), restore: resolved };
    const s = judge({
      cluster: c,
      previous: undefined,
      restoreCounts: new Map([["db-0", counts(0, 1)]]),
      pods: [readyPod("db-0")],
      now,
    });
    assert.equal(s.phase, "Failed");
    const restored = s.conditions!.find((x) => x.type === "Restored")!;
    assert.equal(restored.reason, RESTORE_LOAD_FAILED);
    assert.match(restored.message, /rqlite on db-0, the first leader, .* could not load it/);
    // db-0 restarted (zeros) and a client wrote to the Ready Pods: that write is no load.
    const later = judge({
      cluster: c,
      previous: s,
      restoreCounts: new Map([["db-0", counts(0)]]),
      restoreLeaderData: { leader: "db-0", dbAppliedIndex: 9 },
      pods: [readyPod("db-0")],
      now,
    });
    assert.deepEqual(
      later.conditions!.find((x) => x.type === "Restored"),
      restored,
      "the failure stays on record, with its evidence",
    );
    assert.equal(later.phase, "Failed");
  });

  it("settles Restored from the leader's Raft-applied data when the counters were lost with the node that loaded", () => {
    const c = { ...cluster({ restore: { backup: "nightly" } }), restore: resolved };
    const all = [readyPod("db-0"), readyPod("db-1"), readyPod("db-2")];
    const restoring = judge({ cluster: c, previous: undefined, pods: all, now });
    const cond = (s: RqClusterStatus) => s.conditions!.find((x) => x.type === "Restored")!;
    // db-0 loaded it and restarted before the operator read it: it skips the download (it has
    // data) and counts nothing; the others counted a skip.
    const lost = new Map([
      ["db-0", counts(0)],
      ["db-1", counts(0, 0, 1)],
      ["db-2", counts(0, 0, 1)],
    ]);
    const empty = judge({
      cluster: c,
      previous: restoring,
      restoreCounts: lost,
      restoreLeaderData: { leader: "db-1", dbAppliedIndex: 0 },
      pods: all,
      now,
    });
    assert.equal(cond(empty).reason, "Restoring", "no change applied yet: nothing is settled");
    const settled = judge({
      cluster: c,
      previous: restoring,
      restoreCounts: lost,
      restoreLeaderData: { leader: "db-1", dbAppliedIndex: 4 },
      pods: all,
      now,
    });
    assert.equal(cond(settled).status, "True");
    assert.equal(cond(settled).reason, "Restored");
    const message = cond(settled).message;
    assert.ok(
      message.startsWith(
        `restored from ${resolved.location} (RqBackup nightly); rqlite's counters no longer show the load`,
      ),
      message,
    );
    assert.match(message, /the leader db-1 has applied a database change at Raft index 4/);
    assert.equal(settled.phase, "Running");
    // Recorded: later readings (none at all) never take it back.
    const later = judge({ cluster: c, previous: settled, pods: [], now });
    assert.deepEqual(cond(later), cond(settled));
  });

  it("never says Restored over adopted volumes, and leaves their availability alone", () => {
    const c = { ...cluster({ restore: { backup: "nightly" } }), restore: resolved };
    const all = [readyPod("db-0"), readyPod("db-1"), readyPod("db-2")];
    const s = judge({
      cluster: c,
      previous: undefined,
      adoptedVolumes: ["db-0", "db-1", "db-2"],
      restoreCounts: new Map([["db-0", counts(1)]]),
      pods: all,
      now,
    });
    const cond = Object.fromEntries(s.conditions!.map((x) => [x.type, x]));
    assert.equal(cond.Restored!.status, "False");
    assert.equal(cond.Restored!.reason, "RestoreSkipped");
    assert.match(cond.Restored!.message, /PVCs db-0, db-1, db-2 are older than this RqCluster/);
    assert.equal(cond.Available!.status, "True");
    assert.equal(s.phase, "Running");
  });

  it("says the restore is failing when a voter keeps restarting before it is Ready", () => {
    const c = { ...cluster({ restore: { backup: "nightly" } }), restore: resolved };
    const s = judge({
      cluster: c,
      previous: undefined,

      pods: [readyPod("db-0", 3, false)],
      now,
    });
    assert.equal(s.phase, "Failed");
    assert.equal(s.conditions!.find((x) => x.type === "Restored")!.reason, "RestoreFailing");
  });
});

describe("S3 errors in words", () => {
  const what = "retention of s3://b/p/";
  const endpoint = "http://s3.storage.svc:9000";
  it("says only 'could not connect' for every failure below HTTP, so status is no port scanner", () => {
    const generic = `${what}: could not connect to S3 endpoint ${endpoint}; check that it is up and reachable from the operator, or ask an administrator whether --s3-endpoint-allow allows it`;
    const failures = [
      Object.assign(new Error("connect ECONNREFUSED 10.0.0.9:22"), { code: "ECONNREFUSED" }),
      Object.assign(new Error("connect ETIMEDOUT 10.0.0.9:22"), { code: "ETIMEDOUT", $metadata: {} }),
      new Error("getaddrinfo ENOTFOUND s3.example"),
      Object.assign(new Error("Hostname/IP does not match certificate's altnames: DNS:internal.db"), {
        code: "ERR_TLS_CERT_ALTNAME_INVALID",
      }),
      new S3EndpointRefusedError("refused to connect to s3.storage.svc"),
      Object.assign(new Error("socket hang up"), { code: "ECONNRESET" }),
    ];
    for (const err of failures) assert.equal(describeS3Error(err, what, endpoint), generic, err.message);
    assert.equal(describeS3Error(failures[0], what, undefined), `${what}: could not connect to AWS S3`);
  });
  it("never shows a user name or password given in the endpoint", () => {
    const shown = describeS3Error(new Error("x"), what, "https://AKIAKEY:secret@s3.example.com");
    assert.doesNotMatch(shown, /AKIAKEY|secret@/);
    assert.match(shown, /could not connect to S3 endpoint https:\/\/s3\.example\.com;/);
  });
  it("points at the credentials Secret on a refusal, and at the bucket when it is missing", () => {
    const denied = Object.assign(new Error("denied"), { name: "AccessDenied", $metadata: { httpStatusCode: 403 } });
    assert.match(
      describeS3Error(denied, what, endpoint),
      /access denied \(AccessDenied\); check the credentials Secret/,
    );
    assert.equal(
      describeS3Error(
        Object.assign(new Error("x"), { name: "NoSuchBucket", $metadata: { httpStatusCode: 404 } }),
        what,
        endpoint,
      ),
      `${what} does not exist`,
    );
    assert.equal(
      describeS3Error(
        Object.assign(new Error("x"), { name: "NoSuchBucket", $metadata: { httpStatusCode: 400 } }),
        what,
        endpoint,
      ),
      `${what}: the bucket does not exist`,
    );
  });
  it("names the HTTP status of any other answer, not the body's words", () => {
    const odd = Object.assign(new Error("<html>internal admin page</html>"), {
      name: "Unknown",
      $metadata: { httpStatusCode: 502 },
    });
    assert.equal(describeS3Error(odd, what, endpoint), `${what}: S3 endpoint ${endpoint} answered HTTP 502`);
  });
});

/**
 * rqlited stages uploads and the restore's download in /tmp; under a read-only root that must be
 * a volume, or every upload and the restore fail with "read-only file system" (a real kubelet).
 */
function assertWritableTmp(p: V1Pod): void {
  const ct = p.spec!.containers[0]!;
  assert.equal(ct.securityContext?.readOnlyRootFilesystem, true);
  const tmp = ct.volumeMounts!.find((m) => m.mountPath === "/tmp");
  assert.ok(tmp && !tmp.readOnly, `a writable /tmp in ${JSON.stringify(ct.volumeMounts)}`);
  assert.deepEqual(
    p.spec!.volumes!.find((v) => v.name === tmp.name),
    { name: tmp.name, emptyDir: {} },
  );
}

describe("restore sources that failed to resolve", () => {
  const NOW = Date.parse("2026-12-07T12:00:00Z");
  const source = JSON.stringify({ s3: { bucket: "b", key: "latest" } });

  it("are asked again after a wait that doubles to a cap, not on every resync", () => {
    const retries = new RestoreRetries();
    assert.equal(retries.waiting("uid-1", source, NOW), undefined, "never failed: ask");
    let at = NOW;
    const waits: number[] = [];
    for (let i = 0; i < 6; i++) {
      retries.failed("uid-1", source, "the listing never ends", at);
      let wait = 0;
      while (retries.waiting("uid-1", source, at + wait) !== undefined) wait += 1000;
      waits.push(wait);
      at += wait;
    }
    assert.deepEqual(
      waits,
      [1, 2, 4, 8, 16, 32].map((n) => Math.min(RESTORE_RETRY_MAX_MS, RESTORE_RETRY_BASE_MS * n)),
    );
    assert.equal(retries.waiting("uid-1", source, at - 1), "the listing never ends");
    assert.equal(retries.waiting("uid-2", source, NOW), undefined, "another cluster is its own");
  });

  it("a changed spec.restore asks at once; a resolved source forgets its failures", () => {
    const retries = new RestoreRetries();
    retries.failed("uid-1", source, "no object there", NOW);
    assert.ok(retries.waiting("uid-1", source, NOW + 1000));
    assert.equal(retries.waiting("uid-1", JSON.stringify({ s3: { bucket: "b", key: "k" } }), NOW + 1000), undefined);
    retries.forget("uid-1");
    assert.equal(retries.waiting("uid-1", source, NOW + 1000), undefined);
    retries.failed("uid-1", source, "no object there", NOW);
    let wait = 0;
    while (retries.waiting("uid-1", source, NOW + wait) !== undefined) wait += 1000;
    assert.equal(wait, RESTORE_RETRY_BASE_MS, "counting starts over");
  });
});
