// RqBackup to a PVC, end to end on a scheduling plane: the operator (as its ServiceAccount)
// creates a Job that mounts the claim, the real Job controller makes its Pod, the real scheduler
// binds it to one of the local runtime's nodes, and the runtime runs the Job's entry point
// (controller/rqbackup/toFile.ts) with the claim's PV folder mounted, then reports how it ended
// as a kubelet would. The file in the PV folder is opened with the sqlite3 command and compared
// with the cluster (rows and the checksum of SELECT * ... ORDER BY id), while the invariant
// monitor and a writer watch the cluster.
import { strict as assert } from "node:assert";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { V1Job, V1PersistentVolume, V1PersistentVolumeClaim } from "@kubernetes/client-node";
import type { RqBackupStatus } from "../../controller/rqbackup/types.js";
import { eventually as eventuallyWithin } from "../../testenv/eventually.js";
import { NodeAccess } from "../../testenv/nodeAccess.js";
import { operatorAuthSecretName } from "../../shared/names.js";
import { isConverged, readCluster } from "./clusterStatus.js";
import { monitoredChange } from "./monitoredChange.js";
import { checkBackupFile, clusterItems } from "./backupFile.js";
import { createRowsTable, rqliteNode, seedItems, type AckedRow } from "./rows.js";
import { startScheduledEnv, type ScheduledEnv } from "./scheduledEnv.js";

const eventually = <T>(what: string, check: () => Promise<T | undefined | false>, timeoutMs = 180_000) =>
  eventuallyWithin(what, check, timeoutMs, { intervalMs: 500 });

const CLUSTER = "pvcbk";
const PODS = ["pvcbk-0", "pvcbk-1", "pvcbk-2"];
const CLAIM = "backups";
const ITEMS = 20_000;
/** A second cluster with -auth: the Job signs in as the operator's user, its password from a Secret. */
const SECURE = "pvcsec";
const SECURE_PODS = ["pvcsec-0", "pvcsec-1", "pvcsec-2"];
const APP = { username: "app", password: "app-pass" };

describe("RqBackup to a PVC: a Job writes the backup into the claim", function () {
  this.timeout(900_000);
  let env: ScheduledEnv;
  let dir: string;
  const acked: AckedRow[] = [];
  const ackedSecure: AckedRow[] = [];
  let secureAccess: NodeAccess;
  /** The first backup's file in the claim, relative to its root. */
  let firstFile = "";
  const figures: Record<string, string> = {};

  const backupStatus = async (name: string): Promise<RqBackupStatus> =>
    (JSON.parse(await env.kubectl(["get", "rqbackup", name, "-o", "json"])) as { status?: RqBackupStatus }).status ??
    {};
  const createBackup = (name: string, spec: Record<string, unknown>, claimName = CLAIM, cluster = CLUSTER) =>
    env.kubectl(
      ["apply", "-f", "-"],
      JSON.stringify({
        apiVersion: "rqlite.io/v1alpha1",
        kind: "RqBackup",
        metadata: { name },
        spec: { cluster, destination: { pvc: { claimName, path: "one-shot" } }, ...spec },
      }),
    );
  const finished = (name: string) =>
    eventually(`RqBackup ${name} Completed or Failed`, async () => {
      const s = await backupStatus(name);
      return (s.phase === "Completed" || s.phase === "Failed") && s;
    }).catch(async (err: Error) => {
      const look = async (args: string[]) => (await env.cp.kubectl([...args, "-n", env.ns])).stdout.trim();
      const [objects, status] = await Promise.all([
        look(["get", "jobs,pods,pvc", "-o", "wide"]),
        look(["get", "rqbackup", name, "-o", "jsonpath={.status}"]),
      ]);
      throw new Error(`${err.message}\n${objects}\nstatus: ${status}`);
    });
  const leaderPod = async (cluster = CLUSTER) => (await readCluster(env.cp, env.ns, cluster)).status.leader!;
  const nodeClient = (cluster: string, pod: string, timeoutMs: number) =>
    cluster === SECURE ? secureAccess.client(pod, timeoutMs) : rqliteNode(env.ns, pod, timeoutMs);
  /** The folder of the claim's PV on this machine (the host-path provisioner's). */
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

  /** Reads the backup from the PV folder and checks it against its status and the cluster (backupFile.ts). */
  const verifyBackup = async (
    label: string,
    status: RqBackupStatus,
    format: "binary" | "sql",
    compress: boolean,
    ackedBefore: AckedRow[],
    cluster = CLUSTER,
  ) => {
    const m = new RegExp(`^pvc://${CLAIM}/(.+)$`).exec(status.location!);
    assert.ok(m, `location ${status.location} names the claim`);
    const { items, checksum, ackedRows } = await checkBackupFile({
      label,
      body: await readFile(join(await claimFolder(), m[1]!)),
      what: "the file",
      status,
      format,
      compress,
      ackedBefore,
      dir,
      itemsUpTo: async (maxId) => clusterItems(nodeClient(cluster, await leaderPod(cluster), 60_000), maxId),
    });
    figures[label] =
      `${items} items (as in the cluster, checksum ${checksum.slice(0, 12)}), ${ackedRows} acked rows, ` +
      `${status.size} bytes, sha256 ${status.sha256!.slice(0, 12)}, ${status.location}, leader ${status.leader}`;
  };
  /** The backup's one Job: owned by it, one Pod that ran on one of the nodes, restricted. */
  const checkJob = async (backup: string) => {
    const jobs = JSON.parse(
      await env.kubectl(["get", "jobs", "-l", `rqlite.io/backup-job=${backup}`, "-o", "json"]),
    ) as {
      items: V1Job[];
    };
    assert.equal(jobs.items.length, 1, `one Job for ${backup}`);
    const job = jobs.items[0]!;
    assert.equal(job.metadata!.ownerReferences![0]!.kind, "RqBackup");
    assert.equal(job.status?.succeeded, 1);
    const pod = job.spec!.template.spec!;
    assert.equal(pod.automountServiceAccountToken, false);
    assert.equal(pod.securityContext!.runAsNonRoot, true);
    assert.deepEqual(pod.containers[0]!.securityContext!.capabilities, { drop: ["ALL"] });
    assert.equal(pod.volumes![0]!.persistentVolumeClaim!.claimName, CLAIM);
    const nodes = (
      await env.kubectl([
        "get",
        "pods",
        "-l",
        `job-name=${job.metadata!.name}`,
        "-o",
        "jsonpath={.items[*].spec.nodeName}",
      ])
    ).trim();
    assert.ok(env.stack.runtime.nodeNames().includes(nodes), `its Pod ran on a node of the runtime (${nodes})`);
    return `${job.metadata!.name} on ${nodes}`;
  };

  const change = (name: string, fn: Parameters<typeof monitoredChange>[1]) =>
    monitoredChange(
      { name, client: env.client, namespace: env.ns, cluster: CLUSTER, acked, podsAfter: () => PODS, figures },
      fn,
    );
  const secureChange = (name: string, fn: Parameters<typeof monitoredChange>[1]) =>
    monitoredChange(
      {
        name,
        client: env.client,
        namespace: env.ns,
        cluster: SECURE,
        acked: ackedSecure,
        podsAfter: () => SECURE_PODS,
        figures,
        access: secureAccess,
      },
      fn,
    );
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "rqbackup-pvc-e2e-"));
    env = await startScheduledEnv({
      prefix: "rqbackup-pvc",
      nodes: 3,
      controllerArgs: ["--backup-job-image=ghcr.io/rqlite-operator/rqlite-operator:e2e", "--backup-retry-base-delay=1"],
    });
    await env.applyCluster(CLUSTER, { replicas: 3, image: "rqlite/rqlite:8.43.4" });
    await env.converged(CLUSTER, 3, 240_000);
    const leader = await leaderPod();
    await createRowsTable(env.ns, leader);
    await seedItems(rqliteNode(env.ns, leader, 30_000), ITEMS, (id) => `item-${id}-${"x".repeat(100)}`);
    await env.boundClaim(CLAIM);
  });

  after(async () => {
    await env?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
    console.log(`      figures: ${JSON.stringify(figures, null, 2)}`);
  });

  it("binary backup while a writer runs: the Job writes it, Completed with size and sha256, sqlite3 reads every row", async () => {
    let status: RqBackupStatus = {};
    let before: AckedRow[] = [];
    await change("pvc-binary", async () => {
      await new Promise((r) => setTimeout(r, 1500));
      before = [...acked];
      await createBackup("to-pvc", {});
      status = await finished("to-pvc");
      await new Promise((r) => setTimeout(r, 1000));
    });
    assert.equal(status.phase, "Completed", `reason: ${status.reason}`);
    assert.equal(status.attempts, 1);
    assert.ok(PODS.includes(status.leader!), `taken from a node of the cluster (${status.leader})`);
    assert.match(
      status.location!,
      new RegExp(`^pvc://${CLAIM}/one-shot/${env.ns}-to-pvc-\\d{8}T\\d{6}Z\\.sqlite\\.gz$`),
    );
    await verifyBackup("binary", status, "binary", true, before);
    firstFile = status.location!.slice(`pvc://${CLAIM}/`.length);
    figures.binaryJob = await checkJob("to-pvc");
    // The Job's Pod passes the API server's PodSecurity admission at the restricted level: its
    // template, as a Pod, in a namespace that enforces it (server-side dry run: nothing runs).
    const jobs = JSON.parse(await env.kubectl(["get", "jobs", "-l", "rqlite.io/backup-job=to-pvc", "-o", "json"])) as {
      items: V1Job[];
    };
    const restricted = `${env.ns}-restricted`;
    await env.cp.kubectlOk(["create", "namespace", restricted]);
    await env.cp.kubectlOk(["label", "namespace", restricted, "pod-security.kubernetes.io/enforce=restricted"]);
    const admitted = await env.cp.kubectlOk(["apply", "--dry-run=server", "-n", restricted, "-f", "-"], {
      input: JSON.stringify({
        apiVersion: "v1",
        kind: "Pod",
        metadata: { name: "backup-job-pod" },
        spec: jobs.items[0]!.spec!.template.spec,
      }),
    });
    figures.restricted = admitted.trim();
    // ... and the check bites: without its container's securityContext the same Pod is refused.
    const spec = jobs.items[0]!.spec!.template.spec!;
    const loose = { ...spec, containers: spec.containers.map((c) => ({ ...c, securityContext: {} })) };
    const refused = await env.cp.kubectl(["apply", "--dry-run=server", "-n", restricted, "-f", "-"], {
      input: JSON.stringify({ apiVersion: "v1", kind: "Pod", metadata: { name: "loose" }, spec: loose }),
    });
    assert.notEqual(refused.code, 0, "a Pod without the restricted settings is refused");
    assert.match(refused.stderr, /violates PodSecurity "restricted/);
  });

  it("sql backup: the file in the claim is loaded by sqlite3 .read and equals the cluster", async () => {
    let status: RqBackupStatus = {};
    const before = [...acked];
    await change("pvc-sql", async () => {
      await createBackup("to-pvc-sql", { format: "sql", compress: false });
      status = await finished("to-pvc-sql");
    });
    assert.equal(status.phase, "Completed", `reason: ${status.reason}`);
    assert.match(status.location!, /\.sql$/);
    await verifyBackup("sql", status, "sql", false, before);
    figures.sqlJob = await checkJob("to-pvc-sql");
  });

  it("a write that fails in the Job: each attempt's Job fails, then Failed with the Job's own reason", async () => {
    assert.ok(firstFile, "the first backup wrote its file");
    let status: RqBackupStatus = {};
    await change("pvc-write-fails", async () => {
      // The folder it asks for is the first backup's file: the Job cannot create it.
      await env.kubectl(
        ["apply", "-f", "-"],
        JSON.stringify({
          apiVersion: "rqlite.io/v1alpha1",
          kind: "RqBackup",
          metadata: { name: "cannot-write" },
          spec: { cluster: CLUSTER, destination: { pvc: { claimName: CLAIM, path: firstFile } } },
        }),
      );
      status = await finished("cannot-write");
    });
    figures.writeFails = `${status.phase} after ${status.attempts} attempts: ${status.reason}`;
    assert.equal(status.phase, "Failed");
    assert.equal(status.attempts, 5, "every attempt was made");
    assert.match(status.reason!, /Job .*cannot-write-backup-5 failed: writing .* failed: cannot create folder/);
    assert.match(status.reason!, /gave up after 5 attempts/);
    const jobs = await env.kubectl(["get", "jobs", "-l", "rqlite.io/backup-job=cannot-write", "-o", "name"]);
    assert.equal(jobs.trim().split("\n").length, 5, `one Job per attempt, kept to be read: ${jobs}`);
    // Nothing half-written was left beside the first backup.
    const left = await readdir(join(await claimFolder(), "one-shot"));
    assert.deepEqual(
      left.filter((f) => f.includes(".tmp-")),
      [],
      `no temporary file left: ${left.join(", ")}`,
    );
  });

  it("a claim that does not exist: Failed at once, naming the claim to create", async () => {
    let status: RqBackupStatus = {};
    await change("pvc-missing-claim", async () => {
      await createBackup("no-claim", {}, "nope");
      status = await finished("no-claim");
    });
    figures.missingClaim = `${status.phase} after ${status.attempts} attempt(s): ${status.reason}`;
    assert.equal(status.phase, "Failed");
    assert.equal(status.attempts, 1, "no retry can create the claim");
    assert.equal(
      status.reason,
      `PersistentVolumeClaim ${env.ns}/nope (spec.destination.pvc.claimName) does not exist; create the claim, then create a new RqBackup`,
    );
    const jobs = await env.kubectl(["get", "jobs", "-l", "rqlite.io/backup-job=no-claim", "-o", "name"]);
    assert.equal(jobs.trim(), "", "no Job was created");
  });

  it("a claim that cannot bind: the backup waits Running, its reason says the Job's Pod cannot be scheduled", async () => {
    let status: RqBackupStatus = {};
    await change("pvc-unbound-claim", async () => {
      await env.kubectl(
        ["apply", "-f", "-"],
        JSON.stringify({
          apiVersion: "v1",
          kind: "PersistentVolumeClaim",
          metadata: { name: "unbound" },
          spec: {
            accessModes: ["ReadWriteOnce"],
            storageClassName: "no-such-class",
            resources: { requests: { storage: "1Gi" } },
          },
        }),
      );
      await createBackup("unbound", {}, "unbound");
      status = await eventually("the reason names the unschedulable Pod", async () => {
        const s = await backupStatus("unbound");
        return /cannot be scheduled/.test(s.reason ?? "") && s;
      });
    });
    figures.unboundClaim = `${status.phase}: ${status.reason}`;
    assert.equal(status.phase, "Running", "a claim may still bind: the backup waits");
    assert.match(status.reason!, /unbound immediate PersistentVolumeClaims|persistentvolumeclaim/i);
    // Deleting the RqBackup takes its Job and the Job's Pod with it (owner references).
    await env.kubectl(["delete", "rqbackup", "unbound", "--wait=true"]);
    await eventually(
      "the Job gone with its RqBackup",
      async () =>
        (await env.kubectl(["get", "jobs", "-l", "rqlite.io/backup-job=unbound", "-o", "name"])).trim() === "",
    );
  });

  it("a cluster with -auth: the Job signs in with the operator's password from its Secret", async () => {
    await env.kubectl([
      "create",
      "secret",
      "generic",
      "app-users",
      `--from-literal=users.json=${JSON.stringify([{ ...APP, perms: ["all"] }])}`,
    ]);
    await env.applyCluster(SECURE, { replicas: 3, image: "rqlite/rqlite:8.43.4", auth: { secretName: "app-users" } });
    await env.converged(SECURE, 3, 240_000);
    secureAccess = new NodeAccess(env.ns, { auth: APP });
    await secureAccess.refresh(env.client, SECURE);
    const leader = await leaderPod(SECURE);
    await createRowsTable(env.ns, leader, secureAccess);
    await seedItems(secureAccess.client(leader, 30_000), 2000);
    await assert.rejects(rqliteNode(env.ns, leader).query("SELECT 1"), /401|unauthorized/i, "no credentials, no data");

    let status: RqBackupStatus = {};
    let before: AckedRow[] = [];
    await secureChange("pvc-auth", async () => {
      await new Promise((r) => setTimeout(r, 1000));
      before = [...ackedSecure];
      await createBackup("secure-to-pvc", { compress: false }, CLAIM, SECURE);
      status = await finished("secure-to-pvc");
    });
    assert.equal(status.phase, "Completed", `reason: ${status.reason}`);
    await verifyBackup("auth", status, "binary", false, before, SECURE);
    figures.authJob = await checkJob("secure-to-pvc");
    // The password reached the Job only by reference.
    const job = await env.kubectl(["get", "jobs", "-l", "rqlite.io/backup-job=secure-to-pvc", "-o", "json"]);
    const env0 = (JSON.parse(job) as { items: V1Job[] }).items[0]!.spec!.template.spec!.containers[0]!.env!;
    assert.deepEqual(env0, [
      {
        name: "RQLITE_PASSWORD",
        valueFrom: { secretKeyRef: { name: operatorAuthSecretName(SECURE), key: "operator-password" } },
      },
    ]);
  });

  it("the cluster stayed whole: 3 members with a leader", async () => {
    await eventually("3 members with a leader", async () => isConverged(await readCluster(env.cp, env.ns, CLUSTER), 3));
  });
});
