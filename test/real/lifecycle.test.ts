// The lifecycle of one RqCluster on a real cluster (testenv/realCluster.ts), the operator installed
// from its image with Helm: every disruptive step runs under the invariant monitor with a writer,
// and afterwards every acknowledged row is read back from every node. What only a real kubelet,
// real volumes and a real network show:
// - the probes as the kubelet runs them (startup, readiness, liveness: a frozen rqlited is
//   restarted by its liveness probe);
// - the rqlite leader killed inside its container (SIGKILL through the node's containerd);
// - a roll of the three voters (a pod-template change);
// - `kubectl drain` of a node with a voter: local-path volumes pin the voter to its node, so it
//   waits, evicted, until the node is uncordoned;
// - a node's kubelet and containerd killed: its containers serve on, so the operator leaves the
//   voter alone (NodePartitioned) and the restarted agents adopt them;
// - a node lost (kubelet, containerd and every container killed) and a node partitioned (its veth
//   down): the operator replaces the voter on another node after --node-failure-timeout, and the
//   node comes back;
// - delete with reclaimPolicy Retain and create again: the PVCs adopted, the rows intact;
// - spec.backup and an RqBackup to the S3 server (versitygw on the host, reached by the Pods and
//   the operator through the hub), each restored into a new cluster with the rows compared, once
//   through a throttled link that makes the download outlast the liveness budget (RESTORE_SECONDS,
//   default 100): the startup probe covers it and no container restarts.
import { strict as assert } from "node:assert";
import { HeadObjectCommand } from "@aws-sdk/client-s3";
import type { V1Pod } from "@kubernetes/client-node";
import { livenessBudgetSeconds } from "../../controller/rqcluster/render/pod.js";
import { LABEL_CLUSTER, RQLITE_CONTAINER } from "../../shared/names.js";
import { eventually } from "../../testenv/eventually.js";
import { nodeReadyStatus } from "../../testenv/nodeStatus.js";
import type { PodTunnels } from "../../testenv/podTunnels.js";
import { HUB_HOST_IP, type RealNode } from "../../testenv/realCluster.js";
import { startS3Server, type S3TestServer } from "../../testenv/s3.js";
import {
  clusterStatus,
  condition,
  createCredentialsSecret,
  digest,
  waitRestoredAndAvailable,
} from "../e2e/backupData.js";
import { eventMessages, readCluster, waitConverged } from "../e2e/clusterStatus.js";
import { monitoredChange } from "../e2e/monitoredChange.js";
import { createRowsTable, ROWS_TABLE, rqliteNode, type AckedRow } from "../e2e/rows.js";
import { ThrottledProxy } from "../e2e/throttledProxy.js";
import {
  controllerEgressTo,
  harnessNamespace,
  OPERATOR_NS,
  runNamespace,
  startOperatorCluster,
  type OperatorCluster,
  printFigures,
} from "./support.js";

const NS = runNamespace("real-life");
const CLUSTER = "life";
const VOTERS = [0, 1, 2].map((i) => `${CLUSTER}-${i}`);
const BUCKET = "real-backups";
const CREDS = "s3-credentials";
/** spec.backup's object (not timestamped: the newest upload is always this key). */
const AUTO_KEY = "life/auto.sqlite.gz";
const NODE_FAILURE_TIMEOUT_S = 20;
const RESTORE_SECONDS = Number(process.env.RESTORE_SECONDS ?? 100);

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
const rqliteStatus = (p: V1Pod) => p.status?.containerStatuses?.find((s) => s.name === RQLITE_CONTAINER);
const restarts = (p: V1Pod) => rqliteStatus(p)?.restartCount ?? 0;
const containerId = (p: V1Pod) => rqliteStatus(p)?.containerID?.replace(/^containerd:\/\//, "") ?? "";

describe("real cluster: the lifecycle under the invariant monitor, every acknowledged row on every node", function () {
  this.timeout(Math.max(3_600_000, RESTORE_SECONDS * 6000));
  let s3: S3TestServer;
  let proxy: ThrottledProxy;
  let oc: OperatorCluster;
  let tunnels: PodTunnels;
  const acked: AckedRow[] = [];
  const figures: Record<string, string> = {};

  const cp = () => oc.rc.cp;
  const kubectl = (args: string[], timeoutMs?: number) => oc.kubectl(args, timeoutMs);
  /** kubectl apply, again while the webhook is briefly unreachable (its Pod on a node that went). */
  const apply = (obj: object) =>
    eventually(
      `kubectl apply ${JSON.stringify(obj).slice(0, 80)}`,
      () => cp().kubectlOk(["apply", "-n", NS, "-f", "-"], { input: JSON.stringify(obj) }),
      120_000,
      { intervalMs: 2000 },
    );
  const patch = (c: string, spec: object) =>
    eventually(
      `kubectl patch rqc ${c}`,
      () => kubectl(["patch", "rqc", c, "-n", NS, "--type=merge", "-p", JSON.stringify({ spec })]),
      120_000,
      { intervalMs: 2000 },
    );
  const pods = async (c = CLUSTER) =>
    (await oc.pods(NS, `${LABEL_CLUSTER}=${c}`)).filter((p) => !p.metadata?.deletionTimestamp);
  const pod = async (name: string, c = CLUSTER) => (await pods(c)).find((p) => p.metadata?.name === name);
  const nodeOf = (name: string) => oc.rc.nodes.find((n) => n.name === name)!;
  const leader = async (c = CLUSTER) => (await readCluster(cp(), NS, c)).status.leader!;
  const converged = (c = CLUSTER, also?: () => Promise<boolean>) => waitConverged(cp(), NS, c, 3, also);
  const change = (name: string, allowance: number, run: Parameters<typeof monitoredChange>[1]) =>
    monitoredChange(
      { name, client: oc.client, namespace: NS, cluster: CLUSTER, allowance, acked, podsAfter: () => VOTERS, figures },
      run,
    );
  /**
   * A voter alone on its node (taking its node takes one voter), a follower if one is, and
   * preferably on a node without the controller that holds the Lease, so the step measures the
   * cluster's recovery and not also a controller handover.
   */
  const follower = async () => {
    const holder = (
      await kubectl(["get", "lease", "-n", OPERATOR_NS, "-o", "jsonpath={.items[0].spec.holderIdentity}"])
    ).trim();
    const controllerNodes = (await oc.pods(OPERATOR_NS, "app.kubernetes.io/component=controller"))
      .filter((p) => holder.startsWith(p.metadata!.name!))
      .map((p) => p.spec?.nodeName);
    const lead = await leader();
    const voters = (await pods()).filter((p) => VOTERS.includes(p.metadata!.name!));
    const alone = voters.filter((p) => voters.filter((q) => q.spec?.nodeName === p.spec?.nodeName).length === 1);
    const score = (p: V1Pod) =>
      (p.metadata!.name === lead ? 2 : 0) + (controllerNodes.includes(p.spec?.nodeName) ? 1 : 0);
    const chosen = alone.sort((a, b) => score(a) - score(b))[0];
    assert.ok(
      chosen,
      `a voter alone on its node: ${voters.map((p) => `${p.metadata!.name} on ${p.spec?.nodeName}`).join(", ")}`,
    );
    return { victim: chosen.metadata!.name!, uid: chosen.metadata!.uid!, node: nodeOf(chosen.spec!.nodeName!) };
  };
  const nodeReady = (node: RealNode, status: string, timeoutMs = 120_000) =>
    eventually(
      `${node.name} Ready ${status}`,
      async () => (await nodeReadyStatus(cp(), node.name)) === status,
      timeoutMs,
      {
        intervalMs: 500,
      },
    );
  /** Waits for `victim` recreated (another uid) and placed off `node`; returns it. */
  const replaced = (victim: string, uid: string, node: RealNode) =>
    eventually(
      `a new ${victim} off ${node.name}`,
      async () => {
        const p = await pod(victim);
        return p && p.metadata?.uid !== uid && p.spec?.nodeName && p.spec.nodeName !== node.name ? p : undefined;
      },
      300_000,
      { intervalMs: 500 },
    );
  const s3Spec = (endpoint: string) => ({
    bucket: BUCKET,
    endpoint,
    region: s3.region,
    forcePathStyle: true,
    credentialsSecret: { name: CREDS },
  });

  before(async () => {
    s3 = await startS3Server({ buckets: [BUCKET] });
    // As fast as the link allows until the slow restore sets its rate.
    proxy = await ThrottledProxy.start({ host: "127.0.0.1", port: s3.port }, 1 << 30);
    oc = await startOperatorCluster(figures, {
      hostPorts: [s3.port, proxy.port],
      helmValues: [
        ...["--set", `controller.flags.nodeFailureTimeout=${NODE_FAILURE_TIMEOUT_S}`],
        ...controllerEgressTo(HUB_HOST_IP, [s3.port, proxy.port]),
      ],
    });
    tunnels = await harnessNamespace(oc, NS);
    await createCredentialsSecret(cp(), NS, CREDS, s3.credentials);
  });

  afterEach(async function () {
    if (this.currentTest?.state !== "failed" || !oc) return;
    for (const p of await oc.pods(OPERATOR_NS, "app.kubernetes.io/component=controller").catch(() => []))
      console.log(
        `      ${p.metadata!.name} (${p.spec?.nodeName}):\n${(await kubectl(["logs", "-n", OPERATOR_NS, p.metadata!.name!, "--tail=40"]).catch((e: Error) => e.message)).replace(/^/gm, "        ")}`,
      );
    console.log(`      ${await kubectl(["get", "pods,pvc", "-n", NS, "-o", "wide"]).catch((e: Error) => e.message)}`);
  });

  after(async () => {
    printFigures(figures);
    await tunnels?.stop();
    await oc?.stop();
    await proxy?.close();
    await s3?.close();
  });

  it("creates 3 voters whose Pods show the kubelet running their readiness and liveness probes", async () => {
    const applied = Date.now();
    await apply({
      apiVersion: "rqlite.io/v1alpha1",
      kind: "RqCluster",
      metadata: { name: CLUSTER },
      spec: { replicas: 3, storage: { reclaimPolicy: "Retain" } },
    });
    await converged();
    figures["3 voters converged after apply"] = seconds(Date.now() - applied);
    await createRowsTable(NS, await leader());
    for (const p of await pods()) {
      const s = rqliteStatus(p)!;
      const ct = p.spec!.containers.find((c) => c.name === RQLITE_CONTAINER)!;
      const ready = p.status?.conditions?.find((c) => c.type === "Ready");
      console.log(
        `      ${p.metadata!.name} on ${p.spec!.nodeName}: started ${s.started}, ready ${s.ready}, running since ${String(s.state?.running?.startedAt)}, ` +
          `Ready since ${String(ready?.lastTransitionTime)}; readiness ${ct.readinessProbe?.httpGet?.path} every ${ct.readinessProbe?.periodSeconds} s, ` +
          `liveness ${ct.livenessProbe?.httpGet?.path} (budget ${livenessBudgetSeconds(ct.livenessProbe!)} s)`,
      );
      // The kubelet sets started (no startup probe: at once) and ready (the readiness probe passed).
      assert.equal(s.started, true);
      assert.equal(s.ready, true);
      assert.ok(ct.livenessProbe && ct.readinessProbe, "both probes are rendered");
    }
  });

  it("the rqlite leader SIGKILLed inside its container: the kubelet restarts it, a new leader leads", async () => {
    const old = await leader();
    const before = (await pod(old))!;
    let next = "";
    await change(`leader ${old} killed in its container`, 1, async (monitor) => {
      monitor.fault(old);
      await oc.rc.onNode(nodeOf(before.spec!.nodeName!), [
        "ctr",
        "-n",
        "k8s.io",
        "tasks",
        "kill",
        "-s",
        "SIGKILL",
        containerId(before),
      ]);
      await eventually(
        `${old} restarted by the kubelet`,
        async () => restarts((await pod(old))!) > restarts(before),
        120_000,
        {
          intervalMs: 500,
        },
      );
      await converged();
      next = await leader();
    });
    const after = (await pod(old))!;
    assert.equal(after.metadata!.uid, before.metadata!.uid, "the same Pod, its container restarted");
    figures[`leader ${old} killed in its container`] +=
      `; restarts ${restarts(before)} -> ${restarts(after)}, leader now ${next}`;
  });

  it("a frozen rqlited is restarted by the kubelet's liveness probe", async () => {
    const { victim, node } = await follower();
    const before = (await pod(victim))!;
    await change(`${victim} frozen`, 1, async (monitor) => {
      const tasks = await oc.rc.onNode(node, ["ctr", "-n", "k8s.io", "tasks", "ls"]);
      const pid = tasks
        .split("\n")
        .map((l) => l.trim().split(/\s+/))
        .find((f) => f[0] === containerId(before))?.[1];
      assert.ok(pid, `${victim}'s task in ${tasks}`);
      monitor.fault(victim);
      // SIGSTOP from the host (the node shares its pid namespace): the process stays, silent.
      process.kill(Number(pid), "SIGSTOP");
      await eventually(
        `${victim} restarted by its liveness probe`,
        async () => restarts((await pod(victim))!) > restarts(before),
        300_000,
        { intervalMs: 1000 },
      );
      await converged();
    });
    const events = JSON.parse(
      await kubectl(["get", "events", "-n", NS, "--field-selector", `involvedObject.name=${victim}`, "-o", "json"]),
    ) as { items: Array<{ reason?: string; message?: string }> };
    const liveness = events.items.filter((e) => /Liveness probe failed|failed liveness probe/.test(e.message ?? ""));
    console.log(`      ${liveness.map((e) => `${e.reason}: ${e.message}`).join("\n      ")}`);
    assert.ok(liveness.length > 0, "the kubelet says the liveness probe failed");
  });

  it("rolls the 3 voters on a pod-template change, one at a time", async () => {
    const uids = Object.fromEntries((await pods()).map((p) => [p.metadata!.name!, p.metadata!.uid!]));
    const report = await change("roll of 3 voters", 0, async () => {
      await patch(CLUSTER, { podTemplate: { metadata: { annotations: { "e2e.rqlite.io/rev": "2" } } } });
      await converged(CLUSTER, async () =>
        (await pods()).every(
          (p) => p.metadata!.annotations?.["e2e.rqlite.io/rev"] === "2" && p.metadata!.uid !== uids[p.metadata!.name!],
        ),
      );
    });
    assert.equal(report.wentDown.length >= 3, true, `each voter went down once: ${JSON.stringify(report.wentDown)}`);
  });

  it("kubectl drain of a node with a voter: evicted, it waits for its local volume's node, and is back on uncordon", async () => {
    const { victim, uid, node } = await follower();
    let out = "";
    await change(`drain ${node.name}`, 0, async () => {
      out = await kubectl(
        ["drain", node.name, "--ignore-daemonsets", "--delete-emptydir-data", "--timeout=300s"],
        310_000,
      );
      // Recreated at once; placed only where its volume is, which the drain cordoned.
      const pending = await eventually(
        `${victim} recreated`,
        async () => {
          const p = await pod(victim);
          return p && p.metadata?.uid !== uid && p.status?.conditions?.some((c) => c.type === "PodScheduled")
            ? p
            : undefined;
        },
        120_000,
        { intervalMs: 500 },
      );
      figures[`drain ${node.name}: ${victim} after eviction`] =
        `${pending.spec?.nodeName ? `on ${pending.spec.nodeName}` : "Pending"}: ${pending.status?.conditions?.find((c) => c.type === "PodScheduled")?.message ?? ""}`;
      await kubectl(["uncordon", node.name]);
      await converged();
    });
    console.log(`      kubectl drain ${node.name}:\n        ${out.trim().split("\n").join("\n        ")}`);
    assert.equal((await pod(victim))?.spec?.nodeName, node.name, `${victim} is back on its volume's node`);
  });

  it("a node's kubelet and containerd killed: its containers serve on, the operator leaves the voter alone, the node comes back", async () => {
    const { victim, uid, node } = await follower();
    const restartsBefore = restarts((await pod(victim))!);
    const times: string[] = [];
    const killedAt = Date.now();
    await change(`kubelet and containerd of ${node.name} killed`, 0, async () => {
      await oc.rc.killKubelet(node);
      await nodeReady(node, "Unknown");
      times.push(`Unknown after ${seconds(Date.now() - killedAt)}`);
      const warned = await eventually(
        "a NodePartitioned Warning",
        async () =>
          (await eventMessages(cp(), NS, "NodePartitioned")).find((m) => m.includes(victim) && m.includes(node.name)),
        180_000,
        { intervalMs: 1000 },
      );
      times.push(`NodePartitioned after ${seconds(Date.now() - killedAt)}: ${warned}`);
      const p = await pod(victim);
      assert.equal(p?.metadata?.uid, uid, `${victim} was replaced although its rqlite serves the leader`);
      await oc.rc.restartNode(node);
      await nodeReady(node, "True");
      times.push(`Ready again after ${seconds(Date.now() - killedAt)}`);
      await converged();
    });
    const now = (await pod(victim))!;
    assert.equal(now.metadata?.uid, uid, `${victim} is the same Pod`);
    times.push(`${victim}'s restarts ${restartsBefore} -> ${restarts(now)}`);
    figures[`kubelet and containerd of ${node.name} killed (timeline)`] = times.join("; ");
  });

  it("a node lost (kubelet, containerd and every container killed): the voter is replaced on another node, and the node comes back", async () => {
    const { victim, uid, node } = await follower();
    const times: string[] = [];
    const lostAt = Date.now();
    await change(`node ${node.name} lost`, 1, async (monitor) => {
      monitor.fault(victim);
      await oc.rc.loseNode(node);
      await nodeReady(node, "Unknown");
      times.push(`Unknown after ${seconds(Date.now() - lostAt)}`);
      const p = await replaced(victim, uid, node);
      times.push(`${victim} replaced on ${p.spec!.nodeName} after ${seconds(Date.now() - lostAt)}`);
      await converged();
      times.push(`converged after ${seconds(Date.now() - lostAt)}`);
    });
    await oc.rc.restartNode(node);
    await nodeReady(node, "True");
    times.push(`${node.name} Ready again after ${seconds(Date.now() - lostAt)}`);
    figures[`node ${node.name} lost (timeline)`] = times.join("; ");
    const lost = await eventMessages(cp(), NS, "NodeLost");
    assert.ok(
      lost.some((m) => m.includes(victim) && m.includes(node.name)),
      lost.join(" | "),
    );
  });

  it("a node partitioned (its veth down): the voter is replaced on another node; healed, its kubelet removes the old container", async () => {
    const { victim, uid, node } = await follower();
    const old = containerId((await pod(victim))!);
    const times: string[] = [];
    const cutAt = Date.now();
    await change(`node ${node.name} partitioned`, 1, async (monitor) => {
      monitor.fault(victim);
      await oc.rc.partitionNode(node);
      await nodeReady(node, "Unknown");
      times.push(`Unknown after ${seconds(Date.now() - cutAt)}`);
      const p = await replaced(victim, uid, node);
      times.push(`${victim} replaced on ${p.spec!.nodeName} after ${seconds(Date.now() - cutAt)}`);
      await converged();
      times.push(`converged after ${seconds(Date.now() - cutAt)}`);
      await oc.rc.healNode(node);
      // The kubelet's connections to the API server time out first (HTTP/2 pings).
      await nodeReady(node, "True", 300_000);
      times.push(`healed, Ready after ${seconds(Date.now() - cutAt)}`);
      await eventually(
        `the old ${victim} container gone from ${node.name}`,
        async () => !(await oc.rc.onNode(node, ["ctr", "-n", "k8s.io", "tasks", "ls"])).includes(old),
        180_000,
        { intervalMs: 1000 },
      );
      times.push(`old container gone after ${seconds(Date.now() - cutAt)}`);
      await converged();
    });
    figures[`node ${node.name} partitioned (timeline)`] = times.join("; ");
  });

  it("deleted with reclaimPolicy Retain and created again: the PVCs are adopted and every row is intact", async () => {
    const claims = async () =>
      Object.fromEntries(
        (
          JSON.parse(await kubectl(["get", "pvc", "-n", NS, "-l", `${LABEL_CLUSTER}=${CLUSTER}`, "-o", "json"])) as {
            items: Array<{ metadata: { name: string; uid: string } }>;
          }
        ).items.map((c) => [c.metadata.name, c.metadata.uid]),
      );
    const before = await claims();
    assert.deepEqual(Object.keys(before).sort(), VOTERS);
    const started = Date.now();
    await kubectl(["delete", "rqc", CLUSTER, "-n", NS, "--wait=true", "--timeout=300s"], 310_000);
    await eventually("the Pods gone", async () => (await pods()).length === 0, 120_000);
    assert.deepEqual(await claims(), before, "the PVCs are kept");
    await apply({
      apiVersion: "rqlite.io/v1alpha1",
      kind: "RqCluster",
      metadata: { name: CLUSTER },
      spec: {
        replicas: 3,
        storage: { reclaimPolicy: "Retain" },
        podTemplate: { metadata: { annotations: { "e2e.rqlite.io/rev": "2" } } },
      },
    });
    await converged();
    figures["deleted (Retain) and created again"] =
      `converged ${seconds(Date.now() - started)} after the delete; ${acked.length} acknowledged rows`;
    assert.deepEqual(await claims(), before, "the same PVCs, adopted");
    // The monitor and the writer once more over the re-formed cluster, then every row, old and new.
    await change("after re-creation", 0, () => new Promise((r) => setTimeout(r, 5000)));
  });

  let source: { rows: number; sha256: string } | undefined;
  let auto: { key: string; size: number } | undefined;

  it("backs up through the hub with spec.backup and an RqBackup, and restores the RqBackup into a new cluster with the same rows", async () => {
    const endpoint = `http://${HUB_HOST_IP}:${s3.port}`;
    // Enabling backups rolls the voters.
    await change("spec.backup enabled (roll)", 0, async () => {
      await patch(CLUSTER, {
        backup: { s3: { ...s3Spec(endpoint), path: AUTO_KEY }, interval: "5s", timestamp: false },
      });
      await converged(CLUSTER, async () =>
        (await pods()).every((p) => p.metadata?.annotations?.["rqlite.io/backup-config-hash"] !== undefined),
      );
    });
    // One last write, then none: the source's rows are fixed. rqlite uploads within an interval
    // of a change and never without one, so once the object was written after this write began
    // and has stayed the same for several intervals, it holds every row (an upload that began
    // before the write is followed by another).
    const lead = await leader();
    const fenceAt = Date.now();
    await rqliteNode(NS, lead).execute([[`INSERT INTO ${ROWS_TABLE}(v) VALUES(?)`, "backup-fence"]]);
    acked.push({ value: "backup-fence", via: lead });
    source = await digest(NS, lead, ROWS_TABLE, "v");
    auto = await eventually(
      "spec.backup's upload of the last write, and no other upload for 20 s",
      async () => {
        const c = s3.client();
        try {
          const h = await c.send(new HeadObjectCommand({ Bucket: BUCKET, Key: AUTO_KEY }));
          const at = h.LastModified?.getTime() ?? 0;
          return at >= fenceAt - 1000 && Date.now() - at > 20_000 && { key: AUTO_KEY, size: h.ContentLength ?? 0 };
        } finally {
          c.destroy();
        }
      },
      300_000,
      { intervalMs: 2000 },
    );
    const uploaded = (await clusterStatus(cp(), NS, CLUSTER)).backup;
    figures["spec.backup"] = `${JSON.stringify(uploaded)}; s3://${BUCKET}/${AUTO_KEY} ${auto.size} bytes`;

    const started = Date.now();
    await apply({
      apiVersion: "rqlite.io/v1alpha1",
      kind: "RqBackup",
      metadata: { name: "life-once" },
      spec: { cluster: CLUSTER, destination: { s3: { ...s3Spec(endpoint), path: "once" } } },
    });
    const done = await eventually(
      "the RqBackup Completed",
      async () => {
        const b = JSON.parse(await kubectl(["get", "rqbackup", "life-once", "-n", NS, "-o", "json"])) as {
          status?: { phase?: string; location?: string; size?: number; reason?: string };
        };
        assert.notEqual(b.status?.phase, "Failed", JSON.stringify(b.status));
        return b.status?.phase === "Completed" && b.status;
      },
      300_000,
      { intervalMs: 1000 },
    );
    figures["RqBackup"] = `${done.location} ${done.size} bytes in ${seconds(Date.now() - started)}`;

    const restoring = Date.now();
    await apply({
      apiVersion: "rqlite.io/v1alpha1",
      kind: "RqCluster",
      metadata: { name: "from-once" },
      spec: { replicas: 3, restore: { backup: "life-once" } },
    });
    await waitRestoredAndAvailable(cp(), NS, "from-once");
    await converged("from-once");
    for (const v of [0, 1, 2].map((i) => `from-once-${i}`))
      assert.deepEqual(await digest(NS, v, ROWS_TABLE, "v"), source, `${v} holds the source's rows`);
    figures["restore of the RqBackup"] =
      `Restored and converged in ${seconds(Date.now() - restoring)}; ${source.rows} rows on each of 3 nodes = the source's`;
    await kubectl(["delete", "rqc", "from-once", "-n", NS, "--wait=true", "--timeout=300s"], 310_000);
  });

  it(`restores spec.backup's upload through a link throttled past the liveness budget (${RESTORE_SECONDS} s), with no container restart`, async () => {
    assert.ok(auto && source, "the backup step ran");
    proxy.bytesPerSecond = Math.max(1, Math.ceil(auto.size / RESTORE_SECONDS));
    const started = Date.now();
    await apply({
      apiVersion: "rqlite.io/v1alpha1",
      kind: "RqCluster",
      metadata: { name: "slow" },
      spec: {
        replicas: 3,
        restore: { s3: { ...s3Spec(`http://${HUB_HOST_IP}:${proxy.port}`), key: auto.key } },
      },
    });
    const first = await eventually(
      "the founding voters' Pods",
      async () => {
        const ps = await pods("slow");
        return ps.length === 3 && ps;
      },
      300_000,
      { intervalMs: 1000 },
    );
    const ct = first[0]!.spec!.containers.find((c) => c.name === RQLITE_CONTAINER)!;
    const liveness = livenessBudgetSeconds(ct.livenessProbe!);
    assert.ok(ct.startupProbe, "the founding voters have a startup probe");
    assert.ok(RESTORE_SECONDS > liveness + 10, `the download (${RESTORE_SECONDS} s) outlasts liveness (${liveness} s)`);
    await eventually(
      "slow Restored",
      async () => {
        const s = await clusterStatus(cp(), NS, "slow");
        if (condition(s, "Available")?.status === "True")
          assert.equal(condition(s, "Restored")?.status, "True", "Available before Restored");
        return condition(s, "Restored")?.status === "True";
      },
      RESTORE_SECONDS * 4000 + 300_000,
      { intervalMs: 2000 },
    );
    await converged("slow");
    const took = Date.now() - started;
    const after = await pods("slow");
    const counted = Object.fromEntries(after.map((p) => [p.metadata!.name!, restarts(p)]));
    const started2 = Object.fromEntries(after.map((p) => [p.metadata!.name!, rqliteStatus(p)?.started]));
    figures["slow restore"] =
      `${auto.size} bytes at ${proxy.bytesPerSecond} B/s; Restored and converged after ${seconds(took)}; liveness budget ${liveness} s, ` +
      `startup probe ${ct.startupProbe.periodSeconds! * ct.startupProbe.failureThreshold!} s; started ${JSON.stringify(started2)}; restarts ${JSON.stringify(counted)}`;
    console.log(`      ${figures["slow restore"]}`);
    assert.ok(took > RESTORE_SECONDS * 1000, `the restore took ${seconds(took)}, no longer than its throttle`);
    assert.deepEqual(Object.values(counted), [0, 0, 0], "no probe killed a restoring rqlited");
    assert.deepEqual(
      after.map((p) => p.metadata!.uid).sort(),
      first.map((p) => p.metadata!.uid).sort(),
      "the same Pods",
    );
    for (const v of [0, 1, 2].map((i) => `slow-${i}`)) {
      const d = await digest(NS, v, ROWS_TABLE, "v");
      assert.deepEqual(d, source, `${v} holds the source's rows`);
    }
    // Reads straight from one node, so the tunnels are shown to reach the restored Pods too.
    assert.equal(
      (await rqliteNode(NS, "slow-0").query(`SELECT COUNT(*) AS n FROM ${ROWS_TABLE}`, { level: "none" }))[0]!.n,
      source.rows,
    );
  });
});
