// Restores and missing Secrets on a plane that schedules, with kube-controller-manager's node
// lifecycle and disruption controllers, the local runtime as the kubelet of 4 nodes running the
// Pods' startup and liveness probes, the invariant monitor and a writer:
// - a restore slowed by a throttling proxy in front of the S3 server, so that the download
//   outlasts the liveness probe's budget, completes with no probe restart (the startup probe
//   covers it); RESTORE_SECONDS sets how long (default 100 s; the note's run used 200);
// - a founding voter lost after its restore object was deleted comes back by joining (no
//   -auto-restore on the replacement), with every restored and acknowledged row on every node;
// - with the HTTPS CA Secret deleted mid-life, a lost node is still replaced, and SecretsReady
//   names the Secret and the key.
import { strict as assert } from "node:assert";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DeleteObjectCommand } from "@aws-sdk/client-s3";
import type { V1Pod } from "@kubernetes/client-node";
import { livenessBudgetSeconds } from "../../controller/rqcluster/render/pod.js";
import { loopbackAddress } from "../../shared/loopback-address.js";
import { RQLITE_CONTAINER } from "../../shared/names.js";
import { NodeAccess } from "../../testenv/nodeAccess.js";
import { nodeReadyStatus } from "../../testenv/nodeStatus.js";
import { eventually as eventuallyWithin } from "../../testenv/eventually.js";
import { generateCa, issueCert } from "../../testenv/pki.js";
import { startS3Server, type S3TestServer } from "../../testenv/s3.js";
import {
  clusterStatus,
  condition,
  createCredentialsSecret,
  digest,
  type BackupClusterStatus,
  type TableDigest,
} from "./backupData.js";
import { eventMessages } from "./clusterStatus.js";
import { monitoredChange } from "./monitoredChange.js";
import { createRowsTable, type AckedRow } from "./rows.js";
import { eventually, startScheduledEnv, type ScheduledEnv } from "./scheduledEnv.js";
import { ThrottledProxy } from "./throttledProxy.js";
import { putSourceBackup } from "./restoreSource.js";

const IMAGE = "rqlite/rqlite:8.43.4";
const BUCKET = "slow";
const KEY = "src.sqlite";
const CREDS = "s3-credentials";
const NODE_FAILURE_TIMEOUT_S = 10;
const RESTORE_SECONDS = Number(process.env.RESTORE_SECONDS ?? 100);
const RESTORED = "slow";
const SECURE = "sec";
const voters = (c: string) => [0, 1, 2].map((i) => `${c}-${i}`);
const rqlite = (p: V1Pod) => p.spec!.containers.find((c) => c.name === RQLITE_CONTAINER)!;
const restarts = (p: V1Pod) => p.status?.containerStatuses?.find((s) => s.name === RQLITE_CONTAINER)?.restartCount ?? 0;
const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

describe("restores survive their probes and node loss; a missing Secret degrades one feature", function () {
  this.timeout(Math.max(900_000, RESTORE_SECONDS * 4000));
  let env: ScheduledEnv;
  let s3: S3TestServer;
  let proxy: ThrottledProxy;
  let source: TableDigest;
  let pkiDir: string;
  const acked: Record<string, AckedRow[]> = { [RESTORED]: [], [SECURE]: [] };
  const figures: Record<string, string> = {};

  const pods = async (c: string) => (await env.pods(c)).filter((p) => !p.metadata?.deletionTimestamp);
  const pod = async (c: string, name: string) => (await pods(c)).find((p) => p.metadata?.name === name);
  const status = (c: string) => clusterStatus(env.cp, env.ns, c);
  /** A follower of `c` (highest ordinal), the node it runs on and its Pod's uid. */
  const follower = async (c: string) => {
    const leader = (await env.cluster(c)).status.leader;
    const victim = voters(c)
      .filter((v) => v !== leader)
      .pop()!;
    const node = (await env.placement(c))[victim]!;
    return { victim, node, uid: (await pod(c, victim))!.metadata!.uid! };
  };
  /** Stops a node, waits until `victim` is replaced on another and the cluster converged, restores the node. */
  const loseNode = async (
    c: string,
    victim: string,
    node: string,
    uid: string,
    whileReplaced?: () => Promise<void>,
  ) => {
    const stoppedAt = Date.now();
    await env.stack.runtime.stopNode(node);
    const replacement = await eventually(
      `a replacement ${victim} off ${node}`,
      async () => {
        const p = await pod(c, victim);
        return p && p.metadata?.uid !== uid && p.spec?.nodeName && p.spec.nodeName !== node ? p : undefined;
      },
      180_000,
    );
    const replacedAfter = Date.now() - stoppedAt;
    await whileReplaced?.();
    await env.converged(c, 3, 180_000);
    await env.stack.runtime.restoreNode(node);
    await eventually(`${node} Ready again`, async () => (await nodeReadyStatus(env.cp, node)) === "True");
    return { replacement, replacedAfter, convergedAfter: Date.now() - stoppedAt };
  };

  before(async () => {
    env = await startScheduledEnv({
      prefix: "restoresurv",
      nodes: 4,
      // The S3 server (and the throttling proxy before it) listen on loopback, which the operator refuses unless allowed.
      s3EndpointAllow: "127.0.0.1/32",
      controllerArgs: [`--node-failure-timeout=${NODE_FAILURE_TIMEOUT_S}`, "--resync-period=5"],
    });
    s3 = await startS3Server({ buckets: [BUCKET] });
    await createCredentialsSecret(env.cp, env.ns, CREDS, s3.credentials);
    pkiDir = await mkdtemp(join(tmpdir(), "rqo-restoresurv-"));
  });

  after(async () => {
    await proxy?.close();
    await env?.stop();
    await s3?.close();
    if (pkiDir) await rm(pkiDir, { recursive: true, force: true });
    console.log(`      figures: ${JSON.stringify(figures, null, 2).replaceAll("\n", "\n      ")}`);
  });

  it(`restores through S3 slowed past the liveness budget (${RESTORE_SECONDS} s) with no probe restart`, async () => {
    const { file, source: written } = await putSourceBackup(env, s3, {
      bucket: BUCKET,
      key: KEY,
      image: IMAGE,
      rows: 3000,
    });
    source = written;

    const url = new URL(s3.endpoint);
    proxy = await ThrottledProxy.start(
      { host: url.hostname, port: Number(url.port) },
      Math.ceil(file.length / RESTORE_SECONDS),
    );
    const started = Date.now();
    await env.applyCluster(RESTORED, {
      replicas: 3,
      image: IMAGE,
      restore: {
        s3: {
          bucket: BUCKET,
          endpoint: proxy.endpoint,
          forcePathStyle: true,
          credentialsSecret: { name: CREDS },
          key: KEY,
        },
      },
    });
    let seen: BackupClusterStatus | undefined;
    const first = await eventuallyWithin(
      "the founding voters' Pods",
      async () => {
        seen = await status(RESTORED);
        const ps = await pods(RESTORED);
        return ps.length === 3 && ps;
      },
      120_000,
      { intervalMs: 500, state: () => seen },
    );
    const ct = rqlite(first[0]!);
    const liveness = livenessBudgetSeconds(ct.livenessProbe!);
    const startup = ct.startupProbe!;
    assert.ok(
      RESTORE_SECONDS > liveness + 10,
      `the download (${RESTORE_SECONDS} s) must outlast liveness (${liveness} s)`,
    );
    let last: BackupClusterStatus | undefined;
    await eventually(
      `${RESTORED} Restored`,
      async () => {
        last = await status(RESTORED);
        if (condition(last, "Available")?.status === "True")
          assert.equal(condition(last, "Restored")?.status, "True", "Available before Restored");
        return condition(last, "Restored")?.status === "True";
      },
      RESTORE_SECONDS * 3000 + 120_000,
    );
    await env.converged(RESTORED, 3, 120_000);
    const took = Date.now() - started;
    const after = await pods(RESTORED);
    const counted = Object.fromEntries(after.map((p) => [p.metadata!.name!, restarts(p)]));
    figures["slow restore"] =
      `${file.length} bytes at ${proxy.bytesPerSecond} B/s per download; Restored and converged after ${seconds(took)}; ` +
      `liveness budget ${liveness} s, startup probe ${startup.periodSeconds! * startup.failureThreshold!} s; restarts ${JSON.stringify(counted)}`;
    console.log(`      ${figures["slow restore"]}`);
    assert.ok(took > RESTORE_SECONDS * 1000, `the restore took ${seconds(took)}, no longer than its throttle`);
    assert.deepEqual(Object.values(counted), [0, 0, 0], "no probe killed a restoring rqlited");
    assert.equal(after.map((p) => p.metadata!.uid).join(), first.map((p) => p.metadata!.uid).join(), "same Pods");
    assert.match(condition(last!, "Restored")!.message!, new RegExp(`restored from s3://${BUCKET}/${KEY}`));
    for (const v of voters(RESTORED)) assert.deepEqual(await digest(env.ns, v), source, `${v} holds every row`);
  });

  it("a founding voter lost after its restore object was deleted comes back by joining, every row intact", async () => {
    const client = s3.client();
    try {
      await client.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: KEY }));
    } finally {
      client.destroy();
    }
    const { victim, node, uid } = await follower(RESTORED);
    let timeline = { replacedAfter: 0, convergedAfter: 0 };
    let replacement: V1Pod | undefined;
    await monitoredChange(
      {
        name: `founding voter ${victim} lost`,
        client: env.client,
        namespace: env.ns,
        cluster: RESTORED,
        allowance: 1,
        acked: acked[RESTORED]!,
        podsAfter: () => voters(RESTORED),
        figures,
      },
      async (monitor) => {
        monitor.fault(victim);
        const lost = await loseNode(RESTORED, victim, node, uid);
        replacement = lost.replacement;
        timeline = lost;
      },
    );
    const args = rqlite(replacement!).args ?? [];
    assert.ok(!args.some((a) => a.startsWith("-auto-restore")), `the replacement joins: ${args.join(" ")}`);
    assert.equal(rqlite(replacement!).startupProbe, undefined);
    const now = (await pod(RESTORED, victim))!;
    assert.equal(restarts(now), 0, "it never crashed on a missing object");
    for (const v of voters(RESTORED))
      assert.deepEqual(await digest(env.ns, v), source, `${v} holds every restored row`);
    figures["founding voter lost"] =
      `${victim} on ${node}: replaced after ${seconds(timeline.replacedAfter)}, converged after ${seconds(timeline.convergedAfter)}; ` +
      `${acked[RESTORED]!.length} acknowledged and ${source.rows} restored rows on every node`;
    console.log(`      ${figures["founding voter lost"]}`);
    // Frees the processes and nodes for the next scenario.
    await env.kubectl(["delete", "rqc", RESTORED, "--wait=true", "--timeout=120s"]);
  });

  it("with the HTTPS CA Secret deleted mid-life, a lost node is still replaced; SecretsReady names it", async () => {
    await generateCa(pkiDir, "/CN=rqlite-restoresurv-ca");
    const sans = voters(SECURE)
      .map((p) => `IP:${loopbackAddress(env.ns, p)}`)
      .join(",");
    const leaf = await issueCert(
      pkiDir,
      "sec-http",
      `/CN=${SECURE}`,
      `subjectAltName=${sans}\nextendedKeyUsage=serverAuth\n`,
    );
    const createTlsSecret = () =>
      env.kubectl([
        "create",
        "secret",
        "generic",
        "sec-http-tls",
        "--type=kubernetes.io/tls",
        `--from-file=tls.crt=${leaf.cert}`,
        `--from-file=tls.key=${leaf.key}`,
        `--from-file=ca.crt=${join(pkiDir, "ca.crt")}`,
      ]);
    await createTlsSecret();
    const access = new NodeAccess(env.ns, { ca: await readFile(join(pkiDir, "ca.crt"), "utf8") });
    await env.applyCluster(SECURE, { replicas: 3, image: IMAGE, tls: { http: { secretName: "sec-http-tls" } } });
    await env.converged(SECURE, 3, 180_000);
    await access.refresh(env.client, SECURE);
    await createRowsTable(env.ns, (await env.cluster(SECURE)).status.leader!, access);

    const { victim, node, uid } = await follower(SECURE);
    const where = `Secret ${env.ns}/sec-http-tls (spec.tls.http.secretName) does not exist`;
    let secretsReady = "";
    let timeline = { replacedAfter: 0, convergedAfter: 0 };
    await monitoredChange(
      {
        name: `CA Secret deleted, node ${node} lost`,
        client: env.client,
        namespace: env.ns,
        cluster: SECURE,
        allowance: 1,
        acked: acked[SECURE]!,
        podsAfter: () => voters(SECURE),
        figures,
        access,
      },
      async (monitor) => {
        await env.kubectl(["delete", "secret", "sec-http-tls"]);
        secretsReady = await eventually("SecretsReady False naming the Secret", async () => {
          const c = condition(await status(SECURE), "SecretsReady");
          return c?.status === "False" && c.message?.includes(where) && c.message;
        });
        monitor.fault(victim);
        timeline = await loseNode(SECURE, victim, node, uid, async () => {
          // Replaced while the Secret is gone; its Pod waits for the Secret, as on a kubelet.
          const c = condition(await status(SECURE), "SecretsReady");
          assert.equal(c?.status, "False", "the Secret is still missing when the node is replaced");
          await createTlsSecret();
        });
      },
    );
    assert.match(secretsReady, /ca\.crt/);
    const lost = await eventMessages(env.cp, env.ns, "NodeLost");
    assert.ok(
      lost.some((m) => m.includes(`replacing ${victim}: its Kubernetes node ${node}`)),
      lost.join(" | "),
    );
    await eventually(
      "SecretsReady True again",
      async () => condition(await status(SECURE), "SecretsReady")?.status === "True",
    );
    figures["CA Secret deleted, node lost"] =
      `${victim} on ${node}: replaced after ${seconds(timeline.replacedAfter)} with the Secret gone, converged after ${seconds(timeline.convergedAfter)} ` +
      `(Secret back meanwhile); SecretsReady said: ${secretsReady}`;
    console.log(`      ${figures["CA Secret deleted, node lost"]}`);
  });
});
