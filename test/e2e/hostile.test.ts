// Hostile servers against the real operator (issue 18, "Bounds"): a tenant names the rqlite image
// and the S3 endpoint, so the servers the operator reads may be the tenant's. On the shared
// control plane, with the real controller as a child process (its ServiceAccount, the local
// runtime playing kubelet), a tenant namespace runs:
//   (a) an RqCluster whose image is a stand-in (testenv/hostileRqlite.ts) answering 1 GiB of JSON
//       to every call;
//   (b) an RqCluster restoring `latest` from an S3 endpoint whose listing never ends;
//   (c) RqBackups of a cluster whose stand-in trickles its backup one byte a second.
// In each, the controller's peak RSS (VmHWM, reset before the scenario) stays under the memory
// limit deploy/ gives its container, and grows by less than MAX_GROWTH_MB over what it was before
// (a 1 GiB answer read whole would cost gigabytes); and another namespace's RqCluster converges
// (and in (c) backs up) meanwhile.
import { strict as assert } from "node:assert";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { V1Container } from "@kubernetes/client-node";
import { parseAllDocuments } from "yaml";
import type { RqBackupStatus } from "../../controller/rqbackup/types.js";
import { startLocalStack, type LocalStack } from "../../local/stack.js";
import { FAST_LEASE_ARGS } from "../../testenv/controller.js";
import { eventually } from "../../testenv/eventually.js";
import { endlessListing, serveHostile, type HostileServer } from "../../testenv/hostileServers.js";
import { startS3Server, type S3TestServer } from "../../testenv/s3.js";
import { createTestNamespace, sharedControlPlane } from "../../testenv/shared.js";
import { DEFAULT_IMAGE } from "../../shared/schema.js";
import { clusterStatus, condition, createCredentialsSecret } from "./backupData.js";
import { waitConverged } from "./clusterStatus.js";

const root = fileURLToPath(new URL("../..", import.meta.url));
/**
 * What a scenario may add to the controller's peak RSS: a few capped answers (4 MiB each) in
 * flight, an S3 listing's pages, code loaded on first use, and garbage V8 has not collected yet.
 */
const MAX_GROWTH_MB = 128;
const HUGE_IMAGE = "tenant.example/rqlite-huge:v8.43.4";
const TRICKLE_IMAGE = "tenant.example/rqlite-trickle:v8.43.4";
const standIn = (mode: string) => [process.execPath, "--import", "tsx", join(root, "testenv/hostileRqlite.ts"), mode];
const BUCKET = "bounds";
const CREDS = "s3-creds";
/** Short, so scenario (c) shows an attempt ended by it. */
const BACKUP_DEADLINE_S = 20;

/** The controller's memory figures from /proc, in MB. */
async function memory(pid: number): Promise<{ rss: number; hwm: number }> {
  const status = await readFile(`/proc/${pid}/status`, "utf8");
  const kb = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? NaN);
  return { rss: kb("VmRSS") / 1024, hwm: kb("VmHWM") / 1024 };
}

/** The controller container's memory limit in deploy/base (Mi taken as MB, on the safe side). */
async function deployedMemoryLimitMb(): Promise<number> {
  const docs = parseAllDocuments(await readFile(join(root, "deploy/base/controller.yaml"), "utf8"));
  for (const doc of docs) {
    const d = doc.toJS() as { kind?: string; spec?: { template?: { spec?: { containers?: V1Container[] } } } };
    const limit =
      d.kind === "Deployment" ? d.spec?.template?.spec?.containers?.[0]?.resources?.limits?.memory : undefined;
    const mi = limit ? /^(\d+)Mi$/.exec(limit) : undefined;
    if (mi) return Number(mi[1]);
  }
  throw new Error("deploy/base/controller.yaml: no Deployment with a memory limit in Mi");
}

describe("hostile rqlite and S3 servers cannot exhaust the operator", function () {
  this.timeout(600_000);
  let stack: LocalStack;
  let s3: S3TestServer;
  let tenant: string;
  let other: string;
  const servers: HostileServer[] = [];
  let limitMb: number;
  const figures: Record<string, string> = {};

  const pid = () => stack.controllers[0]!.proc.child.pid!;
  const apply = (ns: string, kind: string, name: string, spec: object) =>
    stack.cp.kubectlOk(["apply", "-n", ns, "-f", "-"], {
      input: JSON.stringify({ apiVersion: "rqlite.io/v1alpha1", kind, metadata: { name }, spec }),
    });
  /** The one place an S3 endpoint of this suite goes into a spec. */
  const s3Spec = (endpoint: string) => ({
    bucket: BUCKET,
    endpoint,
    region: "us-east-1",
    forcePathStyle: true,
    credentialsSecret: { name: CREDS },
  });

  /**
   * Runs a scenario with the controller's peak RSS reset first (clear_refs 5), then records the
   * peak and checks it against the limit.
   */
  async function measured(label: string, scenario: () => Promise<void>): Promise<void> {
    await writeFile(`/proc/${pid()}/clear_refs`, "5");
    const before = await memory(pid());
    await scenario();
    const after = await memory(pid());
    figures[label] =
      `controller VmHWM ${after.hwm.toFixed(0)} MB (RSS ${before.rss.toFixed(0)} MB before, ${after.rss.toFixed(0)} MB after; limit ${limitMb} MB)`;
    assert.ok(after.hwm < limitMb, `${label}: the controller's peak RSS was ${after.hwm.toFixed(0)} MB`);
    assert.ok(
      after.hwm - before.rss < MAX_GROWTH_MB,
      `${label}: the controller grew from ${before.rss.toFixed(0)} to ${after.hwm.toFixed(0)} MB`,
    );
  }

  /** Another tenant's one-node cluster, created now, converges while the hostile one runs. */
  async function otherConverges(name: string): Promise<void> {
    const started = Date.now();
    await apply(other, "RqCluster", name, { replicas: 1, image: DEFAULT_IMAGE });
    await waitConverged(stack.cp, other, name, 1);
    figures[`${name}Converged`] = `${((Date.now() - started) / 1000).toFixed(1)} s`;
  }

  before(async () => {
    limitMb = await deployedMemoryLimitMb();
    s3 = await startS3Server({ buckets: [BUCKET] });
    const cp = await sharedControlPlane();
    tenant = await createTestNamespace(cp, "hostile");
    other = await createTestNamespace(cp, "bystander");
    stack = await startLocalStack({
      controlPlane: cp,
      namespaces: [tenant, other],
      replicas: 1,
      // The S3 servers listen on loopback, which the operator refuses unless allowed.
      s3EndpointAllow: "127.0.0.1/32",
      standIns: { [HUGE_IMAGE]: standIn("huge"), [TRICKLE_IMAGE]: standIn("trickle") },
      controllerArgs: [
        ...FAST_LEASE_ARGS,
        "--resync-period=3",
        `--leader-election-id=rqlite-operator-${tenant}`,
        `--backup-deadline=${BACKUP_DEADLINE_S}`,
        "--backup-workers=2",
        "--backup-max-per-namespace=1",
        "--backup-retry-base-delay=600",
      ],
    });
    for (const ns of [tenant, other]) await createCredentialsSecret(cp, ns, CREDS, s3.credentials);
  });
  afterEach(async function () {
    if (this.currentTest?.state !== "failed" || !stack) return;
    const log = await readFile(stack.controllers[0]!.proc.logFile, "utf8").catch(() => "");
    const telling = log.split("\n").filter((l) => !l.includes('"level":"debug"'));
    console.log(`      controller (info and above, last 40):\n${telling.slice(-40).join("\n")}`);
    for (const ns of [tenant, other])
      console.log((await stack.cp.kubectl(["get", "rqc,rqb,pods", "-n", ns, "-o", "wide"])).stdout);
  });
  after(async () => {
    if (stack) {
      await stack.cp.kubectl(["delete", "rqb,rqc", "--all", "-n", tenant, "--wait", "--timeout=120s"]);
      await stack.cp.kubectl(["delete", "rqb,rqc", "--all", "-n", other, "--wait", "--timeout=120s"]);
      await stack.stop();
    }
    await Promise.all(servers.map((s) => s.close()));
    await s3?.close();
    console.log(`      figures: ${JSON.stringify(figures)}`);
  });

  it("(a) an rqlite stand-in answering 1 GiB of JSON to every call", async () => {
    await measured("hugeJson", async () => {
      await apply(tenant, "RqCluster", "huge", { replicas: 3, image: HUGE_IMAGE });
      // The controller reads the stand-ins (/nodes, /status, /readyz), cuts each answer off, and
      // says why in the cluster's status.
      const cut = await eventually(
        "the cluster's status to show a 1 GiB answer refused",
        async () =>
          /[^"]*announces 1073741824 bytes, more than the 4 MiB[^"]*/.exec(
            await stack.cp.kubectlOk(["get", "rqc", "huge", "-n", tenant, "-o", "jsonpath={.status}"]),
          )?.[0],
        120_000,
        { intervalMs: 500 },
      );
      figures.hugeJsonError = cut;
      await otherConverges("calm-a");
      // And it keeps reading them for a while (resync 3 s) without growing.
      await new Promise((r) => setTimeout(r, 15_000));
      const sent = await readFile(join(stack.cp.dir, "runtime", "logs", `${tenant}_huge-0.log`), "utf8");
      figures.hugeJsonServed = sent.trim().split("\n").pop() ?? "";
    });
  });

  it("(b) a restore `latest` from an S3 whose listing never ends", async () => {
    const endless = await serveHostile(endlessListing());
    servers.push(endless);
    await measured("endlessListing", async () => {
      await apply(tenant, "RqCluster", "endless", {
        replicas: 1,
        image: DEFAULT_IMAGE,
        restore: { s3: { ...s3Spec(endless.endpoint), key: "latest" } },
      });
      let last: Awaited<ReturnType<typeof clusterStatus>> | undefined;
      await eventually(
        "the restore to be refused for its listing",
        async () => {
          last = await clusterStatus(stack.cp, tenant, "endless");
          return /has more than 20000 objects; the operator acts on no part of it/.test(
            condition(last, "Restored")?.message ?? "",
          );
        },
        120_000,
        { intervalMs: 500, state: () => last },
      );
      figures.endlessListingError = condition(last!, "Restored")!.message!;
      figures.endlessListingPages = String(endless.requests);
      assert.equal(last!.phase, "Failed");
      await otherConverges("calm-b");
    });
  });

  it("(c) a backup source that trickles one byte a second", async () => {
    await apply(tenant, "RqCluster", "slow", { replicas: 1, image: TRICKLE_IMAGE });
    const backup = (ns: string, name: string, cluster: string) =>
      apply(ns, "RqBackup", name, { cluster, destination: { s3: { ...s3Spec(s3.endpoint), path: "one-shot" } } });
    const status = async (ns: string, name: string): Promise<RqBackupStatus> =>
      (
        JSON.parse(await stack.cp.kubectlOk(["get", "rqbackup", name, "-n", ns, "-o", "json"])) as {
          status?: RqBackupStatus;
        }
      ).status ?? {};
    await measured("trickle", async () => {
      // The stand-in answers as a one-node cluster's leader: the operator sees it converged.
      await waitConverged(stack.cp, tenant, "slow", 1);
      await Promise.all([1, 2, 3].map((i) => backup(tenant, `drip-${i}`, "slow")));
      const running = await eventually(
        "one of the tenant's backups to run",
        async () => {
          const all = await Promise.all([1, 2, 3].map((i) => status(tenant, `drip-${i}`)));
          return all.filter((s) => s.phase === "Running").length === 1 && all;
        },
        60_000,
        { intervalMs: 500 },
      );
      const startedAt = Date.now();
      figures.trickleWaiting = `${running.filter((s) => s.phase !== "Running").length} of the tenant's 3 backups wait (--backup-max-per-namespace=1)`;
      // Meanwhile another namespace converges and backs up through the slot left free.
      await otherConverges("calm-c");
      await backup(other, "calm-backup", "calm-c");
      const done = await eventually(
        "the other namespace's backup to complete",
        async () => {
          const s = await status(other, "calm-backup");
          return (s.phase === "Completed" || s.phase === "Failed") && s;
        },
        120_000,
        { intervalMs: 500 },
      );
      assert.equal(done.phase, "Completed", done.reason);
      const stillOne = await Promise.all([1, 2, 3].map((i) => status(tenant, `drip-${i}`)));
      assert.ok(
        stillOne.filter((s) => s.phase === "Running").length <= 1,
        "the tenant never ran two at once: " + JSON.stringify(stillOne.map((s) => s.phase)),
      );
      // The deadline ends the trickling attempt, which is not left Running.
      const ended = await eventually(
        `a trickling attempt to end at the ${BACKUP_DEADLINE_S} s deadline`,
        async () =>
          (await Promise.all([1, 2, 3].map((i) => status(tenant, `drip-${i}`)))).find((s) =>
            /did not finish within 20 s, the operator's limit for one attempt \(--backup-deadline\)/.test(
              s.reason ?? "",
            ),
          ),
        90_000,
        { intervalMs: 1000 },
      );
      figures.trickleEnded = `${ended.reason} (after ${((Date.now() - startedAt) / 1000).toFixed(0)} s of waiting)`;
      // The slot it held passes to the tenant's next backup, which trickles in turn.
      const next = await eventually(
        "the tenant's next backup to run",
        async () => {
          const all = await Promise.all([1, 2, 3].map((i) => status(tenant, `drip-${i}`)));
          return all.filter((s) => s.phase === "Running" && s.attempts === 1 && !s.reason).length === 1 && all;
        },
        60_000,
        { intervalMs: 500 },
      );
      figures.tricklePhases = next.map((s) => s.phase).join(", ");
    });
  });
});
