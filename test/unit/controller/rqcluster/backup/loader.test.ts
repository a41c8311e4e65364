// A restore from a claim (spec.restore.pvc, or a `pvc` RqBackup): admission, resolution, the
// loader Pod and its outcome, when the plan makes and removes it, and the loader's own checks of
// the file before it sends a byte (controller/rqbackup/fromFile.ts).
import { strict as assert } from "node:assert";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import type { V1PersistentVolumeClaim, V1Pod } from "@kubernetes/client-node";
import {
  applyDefaults,
  parseEndpointAllow,
  STRICT_S3_POLICY,
  validateCreate,
  type RqBackup,
  type RqClusterSpec,
} from "../../../../../shared/index.js";
import { clusterView, type ClusterView } from "../../../../../controller/rqcluster/render/cluster.js";
import { restoreTarget } from "../../../../../controller/rqcluster/backup/plan.js";
import {
  backupConfigFiles,
  parseResolvedRestore,
  RESTORE_SOURCE_FILE,
  restores,
  type PvcRestore,
} from "../../../../../controller/rqcluster/backup/render.js";
import {
  LABEL_RESTORE_OF,
  loaderOutcome,
  loaderPodName,
  planLoader,
  renderLoaderPod,
  type LoaderTarget,
} from "../../../../../controller/rqcluster/backup/loader.js";
import { restoredCondition, restoreHolds } from "../../../../../controller/rqcluster/backup/status.js";
import type { Observed } from "../../../../../controller/rqcluster/plan/types.js";
import { loadFromFile } from "../../../../../controller/rqbackup/fromFile.js";

const meta = { name: "db", namespace: "ns", uid: "uid-1" };
const POLICY = { ...STRICT_S3_POLICY, allow: parseEndpointAllow("127.0.0.1/32"), ambientCredentialsNamespaces: ["*"] };
const errorsOf = (spec: RqClusterSpec) =>
  validateCreate(
    applyDefaults({ apiVersion: "rqlite.io/v1alpha1", kind: "RqCluster", metadata: { name: "db" }, spec }),
    POLICY,
  ).errors.map((e) => `${e.field}: ${e.message}`);
const clusterOf = (spec: RqClusterSpec, restore?: PvcRestore): ClusterView => ({
  ...clusterView({
    apiVersion: "rqlite.io/v1alpha1",
    kind: "RqCluster",
    metadata: meta,
    spec: applyDefaults({ apiVersion: "rqlite.io/v1alpha1", kind: "RqCluster", metadata: meta, spec }).spec,
  }),
  ...(restore ? { restore } : {}),
});
const source: PvcRestore = {
  location: "pvc://backups/nightly/db.sqlite.gz",
  claimName: "backups",
  file: "nightly/db.sqlite.gz",
};
const target: LoaderTarget = {
  leader: "db-0",
  url: "https://db-0.db-headless.ns.svc.cluster.local:4001",
  auth: { username: "rqlite-operator", password: { secretName: "db-operator-auth", key: "password" } },
  ca: { secretName: "db-tls", key: "ca.crt" },
};

describe("spec.restore.pvc admission", () => {
  it("takes a claim and a file inside it", () => {
    assert.deepEqual(errorsOf({ restore: { pvc: { claimName: "backups", path: "nightly/db.sqlite.gz" } } }), []);
  });

  for (const [path, why] of [
    ["", /must name a file inside the volume/],
    ["nightly/", /must name a file inside the volume/],
    ["/etc/passwd", /must be relative to the volume's root/],
    ["../other/db.sqlite", /may not have \. or \.\. segments/],
    ["a/./b", /may not have \. or \.\. segments/],
    ["a\nb", /may not contain control characters/],
  ] as const) {
    it(`refuses path ${JSON.stringify(path)}`, () => {
      const errors = errorsOf({ restore: { pvc: { claimName: "backups", path } } });
      assert.equal(errors.length, 1, errors.join("; "));
      assert.match(errors[0]!, /^spec\.restore\.pvc\.path: /);
      assert.match(errors[0]!, why);
    });
  }

  it("refuses a claim name that is a path, and two sources at once", () => {
    const errors = errorsOf({ restore: { pvc: { claimName: "../x", path: "a" } } });
    assert.ok(
      errors.some((e) => e.startsWith("spec.restore.pvc.claimName")),
      errors.join("; "),
    );
    assert.deepEqual(errorsOf({ restore: { backup: "nightly", pvc: { claimName: "c", path: "a" } } }), [
      "spec.restore: set exactly one of backup, s3 and pvc",
    ]);
  });
});

describe("a claim's restore source", () => {
  const pvcBackup: RqBackup = {
    apiVersion: "rqlite.io/v1alpha1",
    kind: "RqBackup",
    metadata: { name: "nightly" },
    spec: { cluster: "old", destination: { pvc: { claimName: "backups", path: "nightly" } }, format: "binary" },
    status: {
      phase: "Completed",
      location: "pvc://backups/nightly/nightly.sqlite.gz",
      size: 1234,
      sha256: "a".repeat(64),
    },
  };

  it("resolves spec.restore.pvc as given, and re-checks what admission checks", () => {
    assert.deepEqual(
      restoreTarget({ pvc: { claimName: "backups", path: "nightly/db.sqlite.gz" } }, "ns", undefined),
      source,
    );
    const problem = (path: string, claimName = "backups") =>
      (restoreTarget({ pvc: { claimName, path } }, "ns", undefined) as { problem: string }).problem;
    assert.match(problem("../x"), /^spec\.restore\.pvc\.path: "\.\.\/x" may not have/);
    assert.match(problem("a", "A/b"), /^spec\.restore\.pvc\.claimName: "A\/b" is not a claim's name/);
  });

  it("resolves a pvc RqBackup to its file, with the size and sha256 it recorded", () => {
    assert.deepEqual(restoreTarget({ backup: "nightly" }, "ns", pvcBackup), {
      location: "pvc://backups/nightly/nightly.sqlite.gz",
      claimName: "backups",
      file: "nightly/nightly.sqlite.gz",
      expect: { size: 1234, sha256: "a".repeat(64) },
    });
  });

  it("keeps the resolution in the config Secret, with no auto-restore file and no voter downloading", () => {
    const c = clusterOf(
      { replicas: 3, restore: { pvc: { claimName: "backups", path: "nightly/db.sqlite.gz" } } },
      source,
    );
    const files = backupConfigFiles(c)!;
    assert.deepEqual(Object.keys(files), [RESTORE_SOURCE_FILE]);
    assert.deepEqual(parseResolvedRestore(files[RESTORE_SOURCE_FILE]), source);
    assert.equal(restores(c, { name: "db-0", ordinal: 0, role: "voter" }, 3, true), false);
    // A kept file that was tampered with to leave the claim reads as none, and is resolved again.
    assert.equal(
      parseResolvedRestore(JSON.stringify({ ...source, file: "../x", location: "pvc://backups/../x" })),
      undefined,
    );
  });
});

describe("the loader Pod", () => {
  const c = clusterOf(
    { replicas: 3, restore: { pvc: { claimName: "backups", path: "nightly/db.sqlite.gz" } } },
    source,
  );

  it("mounts the claim read-only, runs restricted with no token, and reaches the leader through Secrets", () => {
    const pod = renderLoaderPod(c, { ...source, expect: { size: 9, sha256: "b".repeat(64) } }, "op:1", target);
    const spec = pod.spec!;
    assert.equal(pod.metadata!.name, loaderPodName("db"));
    assert.equal(pod.metadata!.labels![LABEL_RESTORE_OF], "db");
    assert.equal(pod.metadata!.labels!["rqlite.io/cluster"], undefined, "no node of the cluster");
    assert.equal(pod.metadata!.ownerReferences![0]!.uid, "uid-1");
    assert.equal(spec.restartPolicy, "Never");
    assert.equal(spec.automountServiceAccountToken, false);
    assert.deepEqual(spec.volumes![0]!.persistentVolumeClaim, { claimName: "backups", readOnly: true });
    const container = spec.containers[0]!;
    assert.equal(container.volumeMounts![0]!.readOnly, true);
    assert.equal(container.securityContext!.readOnlyRootFilesystem, true);
    assert.deepEqual(container.command, ["node", "dist/controller/rqbackup/fromFile.js"]);
    assert.deepEqual(container.args, [
      `--target=${target.url}`,
      "--node-id=db-0",
      "--file=/backup/nightly/db.sqlite.gz",
      `--sha256=${"b".repeat(64)}`,
      "--size=9",
      "--username=rqlite-operator",
      "--termination-log=/dev/termination-log",
    ]);
    assert.deepEqual(
      container.env!.map((e) => [e.name, e.valueFrom?.secretKeyRef?.name]),
      [
        ["RQLITE_PASSWORD", "db-operator-auth"],
        ["RQLITE_CA", "db-tls"],
      ],
    );
    assert.ok(
      container.env!.every((e) => e.value === undefined),
      "no secret in the Pod spec",
    );
  });

  const ended = (phase: string, message?: string): V1Pod => ({
    metadata: { name: "db-restore", namespace: "ns" },
    status: {
      phase,
      containerStatuses: [
        {
          name: "backup",
          image: "op:1",
          imageID: "",
          ready: false,
          restartCount: 0,
          state: { terminated: { exitCode: phase === "Succeeded" ? 0 : 1, ...(message ? { message } : {}) } },
        },
      ],
    },
  });

  it("reads its outcome from the termination message", () => {
    assert.deepEqual(loaderOutcome(undefined), { kind: "none" });
    assert.deepEqual(loaderOutcome(ended("Succeeded", JSON.stringify({ size: 9, sha256: "c".repeat(64) }))), {
      kind: "loaded",
      size: 9,
      sha256: "c".repeat(64),
    });
    const failed = loaderOutcome(ended("Failed", JSON.stringify({ error: "there is no file /backup/x in the claim" })));
    assert.deepEqual(failed, {
      kind: "failed",
      reason: "Pod ns/db-restore failed: there is no file /backup/x in the claim",
    });
    const unscheduled = loaderOutcome({
      metadata: { name: "db-restore", namespace: "ns" },
      status: {
        phase: "Pending",
        conditions: [
          { type: "PodScheduled", status: "False", reason: "Unschedulable", message: "volume node affinity conflict" },
        ],
      },
    });
    assert.equal(unscheduled.kind, "running");
    assert.match(
      (unscheduled as { waiting: string }).waiting,
      /cannot be scheduled \(Unschedulable: volume node affinity conflict\)/,
    );
  });

  it("gives the Restored condition, and holds Available while it runs, fails on a failure", () => {
    const inputs = (loader?: V1Pod) => ({
      cluster: c,
      previous: undefined,
      pods: [],
      now: new Date(0),
      ...(loader ? { loader } : {}),
    });
    const done = restoredCondition(inputs(ended("Succeeded", JSON.stringify({ size: 9, sha256: "c".repeat(64) }))))!;
    assert.equal(done.status, "True");
    assert.match(done.message, /restored from pvc:\/\/backups\/nightly\/db\.sqlite\.gz: 9 bytes/);
    assert.equal(restoreHolds(done), undefined);
    const failed = restoredCondition(inputs(ended("Failed", JSON.stringify({ error: "bad file" }))))!;
    assert.equal(failed.reason, "RestoreLoadFailed");
    assert.match(failed.message, /bad file\. Fix the cause, then delete the Pod to try again/);
    assert.equal(restoreHolds(failed)!.phase, "Failed");
    const waiting = restoredCondition(inputs())!;
    assert.equal(waiting.reason, "Restoring");
    assert.equal(restoreHolds(waiting)!.phase, "Creating");
  });
});

describe("when the plan makes and removes the loader", () => {
  const c = clusterOf(
    { replicas: 3, restore: { pvc: { claimName: "backups", path: "nightly/db.sqlite.gz" } } },
    source,
  );
  const voters = (n: number) =>
    Array.from({ length: n }, (_, i) => ({ id: `db-${i}`, voter: true, reachable: true, address: "" }));
  const observed = (o: Partial<Observed>): Observed =>
    ({ cluster: c, pods: [], pvcs: [] as V1PersistentVolumeClaim[], now: 0, ...o }) as Observed;
  const ready = { image: { image: "op:1" }, target };

  it("makes it once every founding voter is a member under a leader, not before", () => {
    assert.deepEqual(planLoader(observed({ restoreLoader: ready }), 3).actions, [], "no leader");
    const partial = { leader: "db-0", members: voters(2), canTransfer: true };
    assert.deepEqual(planLoader(observed({ restoreLoader: ready, raft: partial }), 3).actions, []);
    const formed = { leader: "db-0", members: voters(3), canTransfer: true };
    const made = planLoader(observed({ restoreLoader: ready, raft: formed }), 3).actions;
    assert.equal(made.length, 1);
    assert.equal(made[0]!.type, "create");
  });

  it("makes none while one exists, once restored, or with no image (a wait says why)", () => {
    const formed = { leader: "db-0", members: voters(3), canTransfer: true };
    const pod: V1Pod = { metadata: { name: "db-restore" }, status: { phase: "Running" } };
    assert.deepEqual(planLoader(observed({ restoreLoader: { pod, ...ready }, raft: formed }), 3).actions, []);
    const noImage = planLoader(
      observed({ restoreLoader: { image: { problem: "no image" }, target }, raft: formed }),
      3,
    );
    assert.deepEqual(noImage.actions, []);
    assert.match(noImage.wait!.message, /cannot load pvc:\/\/backups\/nightly\/db\.sqlite\.gz: no image/);
    const removed = planLoader(observed({ restoreLoader: { pod }, restoreDone: true, raft: formed }), 3).actions;
    assert.deepEqual(
      removed.map((a) => a.type),
      ["delete"],
    );
  });
});

describe("the loader's checks of the file (fromFile.ts)", () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "fromfile-"));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });
  // Port 9 on loopback: nothing listens; a check that passed would fail there instead.
  const nowhere = "http://127.0.0.1:9";

  it("says a missing file is missing", async () => {
    await assert.rejects(
      loadFromFile({ target: nowhere, nodeId: "db-0", file: join(dir, "none.sqlite") }),
      /there is no file .*none\.sqlite in the claim; check the path/,
    );
  });

  it("refuses a file that differs from what its RqBackup recorded, and a file that is no SQLite", async () => {
    const file = join(dir, "db.sqlite.gz");
    await writeFile(file, gzipSync(Buffer.from("SQLite format 3\0rest")));
    await assert.rejects(
      loadFromFile({ target: nowhere, nodeId: "db-0", file, expect: { size: 1, sha256: "0".repeat(64) } }),
      /is not the backup its RqBackup recorded: \d+ bytes with sha256 [0-9a-f]{64}, recorded 1 bytes .*nothing was loaded/,
    );
    const sql = join(dir, "dump.sql");
    await writeFile(sql, "CREATE TABLE t(x);");
    await assert.rejects(loadFromFile({ target: nowhere, nodeId: "db-0", file: sql }), /is not a binary SQLite backup/);
    const gzSql = join(dir, "dump.sql.gz");
    await writeFile(gzSql, gzipSync(Buffer.from("CREATE TABLE t(x); INSERT INTO t VALUES(1);")));
    await assert.rejects(
      loadFromFile({ target: nowhere, nodeId: "db-0", file: gzSql }),
      /what it holds is not an SQLite file/,
    );
  });
});
