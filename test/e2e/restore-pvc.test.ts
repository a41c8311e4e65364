// Restoring a `pvc` backup into a new cluster end to end on a scheduling plane (issue 23): a pvc
// RqBackup is taken while a writer runs under the invariant monitor; a new 3-voter cluster names
// it in spec.restore.backup; the operator (as its ServiceAccount) creates the loader Pod, the real
// scheduler places it where the claim can be mounted, the local runtime runs its entry point
// (controller/rqbackup/fromFile.ts) on the claim's PV folder, and the file is loaded into the
// leader. Every row of the backup file, read with node:sqlite, is compared with every node of the
// restored cluster. A file that is not there fails the restore once, with the reason, and is not
// retried in a loop; a claim that is not there holds every node back. A roll of the restored
// cluster under the monitor keeps its own writes: nothing loads the backup again. A pvc backup
// with spec.verify is read back by a Job on the claim and Verified; with a byte flipped in the
// file it fails verification, and a restore refuses it.
import { strict as assert } from "node:assert";
import { createHash } from "node:crypto";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { gunzipSync } from "node:zlib";
import type { V1PersistentVolume, V1PersistentVolumeClaim, V1Pod } from "@kubernetes/client-node";
import type { RqBackupStatus } from "../../controller/rqbackup/types.js";
import { eventually as eventuallyWithin } from "../../testenv/eventually.js";
import { clusterStatus, condition, waitRestoredAndAvailable, type BackupClusterStatus } from "./backupData.js";
import { monitoredChange } from "./monitoredChange.js";
import { createRowsTable, readWhole, rqliteNode, ROWS_TABLE, seedItems, type AckedRow } from "./rows.js";
import { startScheduledEnv, type ScheduledEnv } from "./scheduledEnv.js";

const eventually = <T>(what: string, check: () => Promise<T | undefined | false>, timeoutMs = 180_000) =>
  eventuallyWithin(what, check, timeoutMs, { intervalMs: 500 });

const IMAGE = "rqlite/rqlite:8.43.4";
const CLAIM = "backups";
const SOURCE = "src";
const SOURCE_PODS = ["src-0", "src-1", "src-2"];
const COPY = "copy";
const COPY_PODS = ["copy-0", "copy-1", "copy-2"];
const ITEMS = 3000;

/** One table's rows in id order, as plain arrays: the same text whoever read them. */
type TableRows = { count: number; sha256: string };
const tableDigest = (rows: unknown[][]): TableRows => ({
  count: rows.length,
  sha256: createHash("sha256").update(JSON.stringify(rows)).digest("hex"),
});

describe("restore a pvc backup into a new cluster", function () {
  this.timeout(900_000);
  let env: ScheduledEnv;
  let dir: string;
  const acked: AckedRow[] = [];
  const figures: Record<string, string> = {};
  /** What the backup file holds, read with node:sqlite. */
  let inFile: { items: TableRows; acked: TableRows };

  const status = (name: string) => clusterStatus(env.cp, env.ns, name);
  const backupStatus = async (name: string): Promise<RqBackupStatus> =>
    (JSON.parse(await env.kubectl(["get", "rqbackup", name, "-o", "json"])) as { status?: RqBackupStatus }).status ??
    {};
  const loaderPod = async (cluster: string): Promise<V1Pod | undefined> => {
    const out = await env.cp.kubectl(["get", "pod", `${cluster}-restore`, "-n", env.ns, "-o", "json"]);
    return out.code === 0 ? (JSON.parse(out.stdout) as V1Pod) : undefined;
  };
  const claimFolder = async () => {
    const pvc = await env.client.request<V1PersistentVolumeClaim>({
      method: "GET",
      path: `/api/v1/namespaces/${env.ns}/persistentvolumeclaims/${CLAIM}`,
    });
    const pv = await env.client.request<V1PersistentVolume>({
      method: "GET",
      path: `/api/v1/persistentvolumes/${pvc.spec!.volumeName}`,
    });
    return pv.spec!.hostPath!.path;
  };
  /** Both tables of `pod`, read from that node itself. */
  const nodeTables = async (pod: string) => {
    const node = rqliteNode(env.ns, pod, 30_000);
    const items = await readWhole(`${pod}'s items`, () =>
      node.query("SELECT id, v FROM items ORDER BY id", { level: "none" }),
    );
    const rows = await readWhole(`${pod}'s ${ROWS_TABLE}`, () =>
      node.query(`SELECT v FROM ${ROWS_TABLE} ORDER BY v`, { level: "none" }),
    );
    return {
      items: tableDigest(items.map((r) => [r.id, r.v])),
      acked: tableDigest(rows.map((r) => [r.v])),
    };
  };

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "restore-pvc-e2e-"));
    env = await startScheduledEnv({
      prefix: "restore-pvc",
      nodes: 3,
      controllerArgs: ["--backup-job-image=ghcr.io/rqlite-operator/rqlite-operator:e2e", "--backup-retry-base-delay=1"],
    });
    await env.applyCluster(SOURCE, { replicas: 3, image: IMAGE });
    await env.converged(SOURCE, 3, 240_000);
    const leader = (await env.cluster(SOURCE)).status.leader!;
    await createRowsTable(env.ns, leader);
    await seedItems(rqliteNode(env.ns, leader, 30_000), ITEMS);
    await env.boundClaim(CLAIM);
  });

  after(async () => {
    await env?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
    console.log(`      figures: ${JSON.stringify(figures, null, 2)}`);
  });

  it("takes a pvc backup of the source while a writer runs under the invariant monitor", async () => {
    let s: RqBackupStatus = {};
    await monitoredChange(
      {
        name: "pvc backup",
        client: env.client,
        namespace: env.ns,
        cluster: SOURCE,
        acked,
        podsAfter: () => SOURCE_PODS,
        figures,
      },
      async () => {
        await new Promise((r) => setTimeout(r, 1500));
        await env.kubectl(
          ["apply", "-f", "-"],
          JSON.stringify({
            apiVersion: "rqlite.io/v1alpha1",
            kind: "RqBackup",
            metadata: { name: "nightly" },
            spec: { cluster: SOURCE, destination: { pvc: { claimName: CLAIM, path: "nightly" } } },
          }),
        );
        await eventually("RqBackup nightly Completed or Failed", async () => {
          s = await backupStatus("nightly");
          return s.phase === "Completed" || s.phase === "Failed";
        });
      },
    );
    assert.equal(s.phase, "Completed", `reason: ${s.reason}`);
    const file = s.location!.slice(`pvc://${CLAIM}/`.length);
    const body = await readFile(join(await claimFolder(), file));
    assert.equal(body.length, s.size);
    assert.equal(createHash("sha256").update(body).digest("hex"), s.sha256);
    const db = join(dir, "backup.sqlite");
    await writeFile(db, gunzipSync(body));
    const sqlite = new DatabaseSync(db, { readOnly: true });
    try {
      const items = sqlite.prepare("SELECT id, v FROM items ORDER BY id").all();
      const rows = sqlite.prepare(`SELECT v FROM ${ROWS_TABLE} ORDER BY v`).all();
      inFile = {
        items: tableDigest(items.map((r) => [r.id, r.v])),
        acked: tableDigest(rows.map((r) => [r.v])),
      };
    } finally {
      sqlite.close();
    }
    assert.equal(inFile.items.count, ITEMS);
    assert.ok(inFile.acked.count > 0, "the writer's rows from before the backup are in it");
    figures.backup = `${s.location}, ${s.size} bytes, ${inFile.items.count} items and ${inFile.acked.count} acked rows in the file`;
  });

  it("restores it into three founding voters: every row of the file on every node", async () => {
    const started = Date.now();
    await env.applyCluster(COPY, { replicas: 3, image: IMAGE, restore: { backup: "nightly" } });
    let loader: V1Pod | undefined;
    await eventually("the loader Pod scheduled on a node", async () => {
      loader = await loaderPod(COPY);
      return loader?.spec?.nodeName;
    });
    assert.equal(loader!.spec!.volumes![0]!.persistentVolumeClaim!.readOnly, true);
    assert.equal(loader!.metadata!.ownerReferences![0]!.kind, "RqCluster");
    const last = await waitRestoredAndAvailable(env.cp, env.ns, COPY);
    const took = ((Date.now() - started) / 1000).toFixed(1);
    assert.match(
      condition(last, "Restored")!.message!,
      /restored from pvc:\/\/backups\/nightly\/.+ \(RqBackup nightly\)/,
    );
    assert.match(last.restore!.location!, /^pvc:\/\/backups\/nightly\//);
    for (const pod of COPY_PODS) assert.deepEqual(await nodeTables(pod), inFile, `${pod} holds every row of the file`);
    await eventually("the loader Pod removed once Restored", async () => (await loaderPod(COPY)) === undefined);
    figures.restore = `Restored and Available ${took} s after create; loader ran on ${loader!.spec!.nodeName}; each of ${COPY_PODS.length} nodes holds the file's ${inFile.items.count} items and ${inFile.acked.count} acked rows`;
  });

  it("a roll of the restored cluster under the monitor keeps its own writes: nothing loads the backup again", async () => {
    const copyAcked: AckedRow[] = [];
    await monitoredChange(
      {
        name: "roll restored",
        client: env.client,
        namespace: env.ns,
        cluster: COPY,
        acked: copyAcked,
        podsAfter: () => COPY_PODS,
        figures,
      },
      async () => {
        await env.kubectl([
          "patch",
          "rqc",
          COPY,
          "--type=merge",
          "-p",
          JSON.stringify({ spec: { podTemplate: { metadata: { annotations: { "example.com/rolled": "yes" } } } } }),
        ]);
        await eventually("every Pod rolled", async () => {
          const pods = await env.pods(COPY);
          return (
            pods.length === 3 &&
            pods.every((p) => p.metadata?.annotations?.["example.com/rolled"] === "yes") &&
            (await env.cluster(COPY)).status.phase === "Running"
          );
        });
      },
    );
    assert.ok(copyAcked.length > 0);
    const after = await nodeTables((await env.cluster(COPY)).status.leader!);
    assert.deepEqual(after.items, inFile.items, "the restored items are all still there");
    assert.equal(
      after.acked.count,
      inFile.acked.count + copyAcked.length + 1,
      "the file's rows, the roll's, and the marker",
    );
    assert.equal(await loaderPod(COPY), undefined, "no loader Pod made again");
  });

  it("verifies a pvc backup (spec.verify): a Job reads the file on the claim, Verified with its tables and rows", async () => {
    await env.kubectl(
      ["apply", "-f", "-"],
      JSON.stringify({
        apiVersion: "rqlite.io/v1alpha1",
        kind: "RqBackup",
        metadata: { name: "checked" },
        spec: { cluster: SOURCE, destination: { pvc: { claimName: CLAIM, path: "checked" } }, verify: true },
      }),
    );
    let s: RqBackupStatus = {};
    await eventually("RqBackup checked verified", async () => {
      s = await backupStatus("checked");
      return s.phase === "Failed" || s.verification?.result !== undefined;
    });
    assert.equal(s.phase, "Completed", `reason: ${s.reason}`);
    assert.equal(s.verification?.result, "Verified", JSON.stringify(s.verification));
    assert.equal(s.verification.sha256, s.sha256);
    assert.equal(s.verification.size, s.size);
    assert.equal(s.verification.integrityCheck, "ok");
    assert.equal(s.verification.tables, 2);
    assert.ok(s.verification.rows! >= ITEMS, `${s.verification.rows} rows`);
    assert.equal(s.conditions?.find((c) => c.type === "Verified")?.status, "True");
    figures.verified = s.verification.message!;
  });

  it("a byte flipped in the file on the claim fails verification, and a restore refuses the backup", async () => {
    const s = await backupStatus("checked");
    const path = join(await claimFolder(), s.location!.slice(`pvc://${CLAIM}/`.length));
    const body = await readFile(path);
    body[body.length >> 1]! ^= 0xff;
    await writeFile(path, body);
    await env.kubectl(["annotate", "rqbackup", "checked", "rqlite.io/verify-requested=after-flip", "--overwrite"]);
    let after: RqBackupStatus = {};
    await eventually("RqBackup checked verified again", async () => {
      after = await backupStatus("checked");
      return after.verification?.request === "after-flip" && after.verification.result !== undefined;
    });
    assert.equal(after.verification?.result, "Failed", JSON.stringify(after.verification));
    const verified = after.conditions?.find((c) => c.type === "Verified");
    assert.equal(verified?.status, "False");
    assert.equal(verified?.reason, "ChecksumMismatch");
    await env.applyCluster("fromflipped", { replicas: 1, image: IMAGE, restore: { backup: "checked" } });
    let last: BackupClusterStatus = {};
    await eventually("fromflipped: the source refused", async () => {
      last = await status("fromflipped");
      return condition(last, "Restored")?.reason === "RestoreSourceUnavailable";
    });
    assert.match(condition(last, "Restored")!.message!, /failed verification/);
    assert.deepEqual(await env.pods("fromflipped"), [], "no node is created");
    figures.flipped = verified.message!;
  });

  it("a file that is not in the claim: Failed once with the reason, never Available, not retried in a loop", async () => {
    await env.applyCluster("nofile", {
      replicas: 3,
      image: IMAGE,
      restore: { pvc: { claimName: CLAIM, path: "nightly/missing.sqlite.gz" } },
    });
    let last: BackupClusterStatus = {};
    await eventually(
      "nofile: Restored False with the loader's reason",
      async () => {
        last = await status("nofile");
        return condition(last, "Restored")?.reason === "RestoreLoadFailed";
      },
      300_000,
    );
    assert.match(
      condition(last, "Restored")!.message!,
      /there is no file \S*\/nightly\/missing\.sqlite\.gz in the claim; check the path/,
    );
    assert.equal(last.phase, "Failed");
    assert.equal(condition(last, "Available")?.status, "False");
    const first = await loaderPod("nofile");
    assert.equal(first?.status?.phase, "Failed");
    await new Promise((r) => setTimeout(r, 10_000));
    const later = await loaderPod("nofile");
    assert.equal(later?.metadata?.uid, first.metadata!.uid, "the failed loader is kept, not made again");
    assert.equal(condition(await status("nofile"), "Restored")?.reason, "RestoreLoadFailed");
    figures.missingFile = condition(last, "Restored")!.message!;
  });

  it("a claim that does not exist: Failed naming it, and no node at all", async () => {
    await env.applyCluster("noclaim", {
      replicas: 3,
      image: IMAGE,
      restore: { pvc: { claimName: "nowhere", path: "db.sqlite" } },
    });
    let last: BackupClusterStatus = {};
    await eventually(
      "noclaim: Restored False, the claim named",
      async () => {
        last = await status("noclaim");
        return condition(last, "Restored")?.reason === "RestoreSourceUnavailable";
      },
      120_000,
    );
    assert.match(
      condition(last, "Restored")!.message!,
      /PersistentVolumeClaim .*\/nowhere \(spec\.restore\.pvc\.claimName\) does not exist/,
    );
    assert.equal(last.phase, "Failed");
    assert.deepEqual(await env.pods("noclaim"), [], "no node is created while the source cannot be read");
    figures.missingClaim = condition(last, "Restored")!.message!;
  });
});
