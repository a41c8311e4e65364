// Restores that settle whatever rqlite's in-memory counters say, on the plane with kube-scheduler
// and kube-controller-manager (its disruption controller), the local runtime as the kubelet, the
// invariant monitor and a writer:
// - the leader that loaded the restore restarts before the operator read its counters (the
//   operator is down meanwhile, so no read can win the race): the new process counts nothing,
//   and Restored still settles True, from the leader's Raft-applied data, saying so;
// - founding voters' PVCs kept by reclaimPolicy Retain and adopted by a new cluster of the name
//   with spec.restore: the restore is skipped and reported as such (RestoreSkipped), never as
//   Restored, and the cluster serves its own rows.
import { strict as assert } from "node:assert";
import type { V1Pod } from "@kubernetes/client-node";
import { RQLITE_CONTAINER } from "../../shared/names.js";
import { startS3Server, type S3TestServer } from "../../testenv/s3.js";
import {
  clusterStatus,
  condition,
  createCredentialsSecret,
  createItemsTable,
  digest,
  writeItems,
  type TableDigest,
} from "./backupData.js";
import { monitoredChange } from "./monitoredChange.js";
import { createRowsTable, rqliteNode, type AckedRow } from "./rows.js";
import { eventually, startScheduledEnv, type ScheduledEnv } from "./scheduledEnv.js";
import { ThrottledProxy } from "./throttledProxy.js";
import { putSourceBackup } from "./restoreSource.js";

const IMAGE = "rqlite/rqlite:8.43.4";
const BUCKET = "settles";
const KEY = "src.sqlite";
const CREDS = "s3-credentials";
/** How long each founding voter's download takes: long enough to stop the operator before any load. */
const DOWNLOAD_SECONDS = 20;
const voters = (c: string) => [0, 1, 2].map((i) => `${c}-${i}`);
const args = (p: V1Pod) => p.spec!.containers.find((c) => c.name === RQLITE_CONTAINER)!.args ?? [];
const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

describe("restores settle from durable facts: a leader restarted after its load, adopted Retain volumes", function () {
  this.timeout(900_000);
  let env: ScheduledEnv;
  let s3: S3TestServer;
  let proxy: ThrottledProxy;
  let source: TableDigest;
  const acked: Record<string, AckedRow[]> = { ldr: [], kept: [] };
  const figures: Record<string, string> = {};

  const status = (c: string) => clusterStatus(env.cp, env.ns, c);
  const restoreFrom = (endpoint: string) => ({
    s3: { bucket: BUCKET, endpoint, forcePathStyle: true, credentialsSecret: { name: CREDS }, key: KEY },
  });
  /** The voters' auto-restore counters, for those that answer (a downloading node serves nothing yet). */
  const counters = async (c: string) => {
    const read = await Promise.all(
      voters(c).map((v) =>
        rqliteNode(env.ns, v, 2000)
          .restoreCounts()
          .then(
            (n) => [v, n] as const,
            () => undefined,
          ),
      ),
    );
    return new Map(read.filter((r) => r !== undefined));
  };

  before(async () => {
    env = await startScheduledEnv({
      prefix: "restoresettle",
      nodes: 3,
      // The S3 server (and the throttling proxy before it) listen on loopback, which the operator refuses unless allowed.
      s3EndpointAllow: "127.0.0.1/32",
      controllerArgs: ["--resync-period=5"],
    });
    s3 = await startS3Server({ buckets: [BUCKET] });
    await createCredentialsSecret(env.cp, env.ns, CREDS, s3.credentials);
    const { file, source: written } = await putSourceBackup(env, s3, {
      bucket: BUCKET,
      key: KEY,
      image: IMAGE,
      rows: 1000,
    });
    source = written;
    const url = new URL(s3.endpoint);
    proxy = await ThrottledProxy.start(
      { host: url.hostname, port: Number(url.port) },
      Math.ceil(file.length / DOWNLOAD_SECONDS),
    );
    figures.source = `${file.length} bytes, ${source.rows} rows; downloads throttled to ${proxy.bytesPerSecond} B/s`;
  });

  after(async () => {
    await proxy?.close();
    await env?.stop();
    await s3?.close();
    console.log(`      figures: ${JSON.stringify(figures, null, 2).replaceAll("\n", "\n      ")}`);
  });

  it("a leader restarted right after it loaded the restore: Restored settles True from the Raft-applied data", async () => {
    const c = "ldr";
    await env.applyCluster(c, { replicas: 3, image: IMAGE, restore: restoreFrom(proxy.endpoint) });
    await eventually(
      "the three founding voters' Pods",
      async () => (await env.pods(c)).filter((p) => args(p).some((a) => a.startsWith("-auto-restore"))).length === 3,
      120_000,
    );
    // The operator goes down while the voters download: nothing can read the counters before the kill.
    for (const ctl of env.stack.controllers) ctl.signal("SIGKILL");
    assert.notEqual(condition(await status(c), "Restored")?.status, "True", "not restored before any load");
    assert.deepEqual(
      [...(await counters(c)).values()].filter((n) => n.restored > 0),
      [],
      "the operator went down before any load",
    );

    const started = Date.now();
    const [loader] = await eventually(
      "a founding voter to count the load",
      async () => [...(await counters(c))].find(([, n]) => n.restored > 0),
      DOWNLOAD_SECONDS * 6000,
    );
    const loadedAfter = Date.now() - started;
    env.stack.runtime.kill(env.ns, loader);
    // The runtime restarts it as a kubelet would; it has data, so it skips the download and counts nothing.
    const after = await eventually(
      `${loader} back, counting nothing`,
      async () => {
        const now = await counters(c);
        const own = now.get(loader);
        return own && own.restored === 0 && own.failed === 0 && now.size === 3 && now;
      },
      120_000,
    );
    assert.ok(
      [...after.values()].every((n) => n.restored === 0 && n.failed === 0),
      `no node shows the load any more: ${JSON.stringify(Object.fromEntries(after))}`,
    );
    assert.notEqual(condition(await status(c), "Restored")?.status, "True");
    // Every voter serves again before the monitor starts: the kill's election is not the operator's doing.
    await eventually(
      "every voter Ready after the restart",
      async () =>
        (await env.pods(c)).filter((p) => p.status?.conditions?.some((x) => x.type === "Ready" && x.status === "True"))
          .length === 3,
      120_000,
    );

    let settledAfter = 0;
    await monitoredChange(
      {
        name: `operator back after ${loader} restarted`,
        client: env.client,
        namespace: env.ns,
        cluster: c,
        acked: acked[c]!,
        podsAfter: () => voters(c),
        figures,
      },
      async () => {
        const back = Date.now();
        const ctl = await env.stack.addController("controller-again");
        await eventually("the new controller to lead", () => ctl.isLeader().catch(() => false), 60_000).catch(
          (err: Error) => {
            throw new Error(`${err.message}\n${ctl.proc.tail(40)}`);
          },
        );
        await eventually(
          `${c} Restored`,
          async () => {
            const s = await status(c);
            if (condition(s, "Available")?.status === "True")
              assert.equal(condition(s, "Restored")?.status, "True", "Available before Restored");
            return condition(s, "Restored")?.status === "True";
          },
          120_000,
        );
        settledAfter = Date.now() - back;
        await env.converged(c, 3, 120_000);
      },
    );
    const restored = condition(await status(c), "Restored")!;
    assert.equal(restored.reason, "Restored");
    assert.match(
      restored.message!,
      new RegExp(`^restored from s3://${BUCKET}/${KEY}; rqlite's counters no longer show the load`),
    );
    assert.match(restored.message!, /the leader \S+ has applied a database change at Raft index \d+/);
    for (const v of voters(c)) assert.deepEqual(await digest(env.ns, v), source, `${v} holds every restored row`);
    figures["leader restarted after its load"] =
      `${loader} counted the load ${seconds(loadedAfter)} after the operator went down and was killed; ` +
      `Restored True ${seconds(settledAfter)} after the operator came back: "${restored.message}"; ` +
      `${source.rows} restored and ${acked[c]!.length} acknowledged rows on every node`;
    console.log(`      ${figures["leader restarted after its load"]}`);
    await env.kubectl(["delete", "rqc", c, "--wait=true", "--timeout=120s"]);
  });

  it("adopted Retain PVCs: the restore is skipped and reported as RestoreSkipped, the cluster serves its own rows", async () => {
    const c = "kept";
    await env.applyCluster(c, { replicas: 1, image: IMAGE, storage: { reclaimPolicy: "Retain" } });
    await env.converged(c, 1);
    await createItemsTable(env.ns, `${c}-0`);
    await createRowsTable(env.ns, `${c}-0`);
    await writeItems(env.ns, `${c}-0`, 5001, 200);
    const own = await digest(env.ns, `${c}-0`);
    await env.kubectl(["delete", "rqc", c, "--wait=true", "--timeout=120s"]);
    const pvcs = (await env.pvcs(c)).map((p) => p.metadata!.name!);
    assert.equal(pvcs.length, 1, "Retain kept the founding voter's PVC");

    await env.applyCluster(c, {
      replicas: 1,
      image: IMAGE,
      storage: { reclaimPolicy: "Retain" },
      restore: restoreFrom(s3.endpoint),
    });
    await env.converged(c, 1);
    let skipped = "";
    await monitoredChange(
      {
        name: "restore over adopted Retain PVCs",
        client: env.client,
        namespace: env.ns,
        cluster: c,
        acked: acked[c]!,
        podsAfter: () => [`${c}-0`],
        figures,
      },
      async () => {
        // Looked at for a while: it never turns into Restored.
        for (let i = 0; i < 20; i++) {
          const s = await status(c);
          const r = condition(s, "Restored");
          assert.equal(r?.status, "False", `never Restored: ${JSON.stringify(r)}`);
          assert.equal(r?.reason, "RestoreSkipped");
          assert.equal(condition(s, "Available")?.status, "True", "the cluster's own availability");
          skipped = r.message!;
          await new Promise((r) => setTimeout(r, 500));
        }
      },
    );
    assert.match(skipped, new RegExp(`PVCs ${pvcs.join(", ")} are older than this RqCluster`));
    const pod = (await env.pods(c))[0]!;
    assert.ok(!args(pod).some((a) => a.startsWith("-auto-restore")), `no download: ${args(pod).join(" ")}`);
    assert.deepEqual(await digest(env.ns, `${c}-0`), own, "its own rows, not the backup's");
    figures["adopted Retain PVCs"] = `Restored False, RestoreSkipped: "${skipped}"; ${own.rows} own rows kept`;
    console.log(`      ${figures["adopted Retain PVCs"]}`);
    await env.kubectl(["patch", "rqc", c, "--type=merge", "-p", '{"spec":{"storage":{"reclaimPolicy":"Delete"}}}']);
    await env.kubectl(["delete", "rqc", c, "--wait=false"]);
  });
});
