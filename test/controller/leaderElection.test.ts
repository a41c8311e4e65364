import { strict as assert } from "node:assert";
import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { Registry } from "prom-client";
import { KubeClient } from "../../controller/runtime/kubeClient.js";
import {
  LeaderElector,
  type LeaderElectionOptions,
  type LeadershipEnd,
} from "../../controller/runtime/leaderElection.js";
import { logger } from "../../controller/runtime/log.js";
import type { ControlPlane } from "../../testenv/controlplane.js";
import { createTestNamespace, sharedControlPlane } from "../../testenv/shared.js";
import { eventually } from "../../testenv/eventually.js";
import { grantRole, revokeRole } from "./support/rbac.js";
import { TcpProxy } from "./support/tcpProxy.js";

// Short timings keep the suite fast; the relations between them are the defaults' (lease > renew
// deadline > 1.2 x retry).
const timings = { leaseDurationSeconds: 4, renewDeadlineSeconds: 3, retryPeriodSeconds: 1 };
const PROCESS_START_MS = 120_000;
const fixture = fileURLToPath(new URL("./fixtures/electorProcess.ts", import.meta.url));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Candidate {
  elector: LeaderElector;
  registry: Registry;
  startedAt: number[];
  stoppedAt: number[];
  /** The signal onStartedLeading was given. */
  leadership?: AbortSignal;
  stop: AbortController;
  ended: Promise<LeadershipEnd>;
}

/** A Lease as kubectl prints it, the fields these tests read. */
interface LeaseJson {
  spec: {
    holderIdentity?: string;
    leaseDurationSeconds: number;
    acquireTime: string;
    renewTime: string;
    leaseTransitions: number;
  };
}

interface ElectorProcess {
  child: ChildProcess;
  identity: string;
  events: Array<{ event: string; at: number; end?: string }>;
  exited: Promise<number | null>;
  when(event: string): number | undefined;
}

describe("LeaderElector", function () {
  this.timeout(4 * 60_000); // the two-process tests wait for tsx to compile each process first
  let cp: ControlPlane;
  let ns: string;
  /** A ServiceAccount allowed only get/create/update on Leases in ns. */
  let saKubeconfig: string;
  let leases = 0;
  let running: Candidate[] = [];
  let processes: ElectorProcess[] = [];
  let proxies: TcpProxy[] = [];

  const lease = async (name: string) =>
    JSON.parse(await cp.kubectlOk(["get", "lease", name, "-n", ns, "-o", "json"])) as LeaseJson;
  const masterStatus = async (c: Candidate, name: string) =>
    (await c.registry.getSingleMetric("leader_election_master_status")!.get()).values.find(
      (v) => v.labels.name === name,
    )?.value;

  function candidate(
    leaseName: string,
    identity: string,
    kubeconfig = saKubeconfig,
    extra: Partial<LeaderElectionOptions> = {},
  ): Candidate {
    const registry = new Registry();
    const c = { registry, startedAt: [], stoppedAt: [], stop: new AbortController() } as unknown as Candidate;
    c.elector = new LeaderElector({
      client: KubeClient.load(registry, kubeconfig),
      registry,
      namespace: ns,
      leaseName,
      identity,
      ...timings,
      onStartedLeading: (signal) => {
        c.startedAt.push(Date.now());
        c.leadership = signal;
      },
      onStoppedLeading: () => c.stoppedAt.push(Date.now()),
      ...extra,
    });
    c.ended = c.elector.run(c.stop.signal);
    running.push(c);
    return c;
  }

  function electorProcess(leaseName: string, identity: string): ElectorProcess {
    const child = spawn(process.execPath, ["--import", "tsx", fixture], {
      env: {
        ...process.env,
        LOG_LEVEL: "warn",
        KUBECONFIG_PATH: saKubeconfig,
        LEASE_NAMESPACE: ns,
        LEASE_NAME: leaseName,
        IDENTITY: identity,
        LEASE_DURATION: String(timings.leaseDurationSeconds),
        RENEW_DEADLINE: String(timings.renewDeadlineSeconds),
        RETRY_PERIOD: String(timings.retryPeriodSeconds),
      },
      stdio: ["ignore", "pipe", "inherit"],
    });
    const p: ElectorProcess = {
      child,
      identity,
      events: [],
      exited: new Promise((resolve) => child.once("exit", (code) => resolve(code))),
      when: (event) => p.events.find((e) => e.event === event)?.at,
    };
    let buffered = "";
    child.stdout.setEncoding("utf8");
    child.stdout.on("data", (chunk: string) => {
      buffered += chunk;
      const lines = buffered.split("\n");
      buffered = lines.pop()!;
      for (const line of lines) {
        try {
          const parsed = JSON.parse(line) as { event?: string; at: number; end?: string };
          if (parsed.event) p.events.push({ ...parsed, event: parsed.event });
        } catch {
          // not one of the fixture's lines
        }
      }
    });
    processes.push(p);
    return p;
  }

  /** Process "first" leading and process "second" a standby that has seen the lease held. */
  async function leaderAndStandby(): Promise<{ name: string; first: ElectorProcess; second: ElectorProcess }> {
    const name = `processes-${++leases}`;
    // A process takes its first step only once tsx has compiled it: seconds of CPU, which a busy
    // machine stretches far beyond any lease timing. Only what follows the start is timed.
    const first = electorProcess(name, "first");
    await eventually("first to lead", () => first.when("leading") !== undefined, PROCESS_START_MS);
    const second = electorProcess(name, "second");
    await eventually("second to start", () => second.when("started") !== undefined, PROCESS_START_MS);
    await sleep(2500); // more than two of the standby's retry periods
    assert.equal(second.when("leading"), undefined, "only one process leads");
    assert.equal((await lease(name)).spec.holderIdentity, "first");
    return { name, first, second };
  }

  before(async () => {
    logger.level = process.env.LOG_LEVEL ?? "silent";
    cp = await sharedControlPlane();
    ns = await createTestNamespace(cp, "leader");
    await cp.kubectlOk(["create", "serviceaccount", "elector", "-n", ns]);
    await grantRole(cp, {
      namespace: ns,
      role: "lease-holder",
      serviceAccount: { namespace: ns, name: "elector" },
      verbs: ["get", "create", "update"],
      resources: ["leases.coordination.k8s.io"],
    });
    saKubeconfig = await cp.serviceAccountKubeconfig(ns, "elector");
  });

  afterEach(async () => {
    for (const c of running) c.stop.abort();
    await Promise.all(running.map((c) => c.ended));
    for (const p of processes) p.child.kill("SIGKILL");
    await Promise.all(processes.map((p) => p.exited));
    await Promise.all(proxies.map((p) => p.close()));
    running = [];
    processes = [];
    proxies = [];
  });

  after(() => {
    logger.level = process.env.LOG_LEVEL ?? "info";
  });

  it("defaults to 15 s lease, 10 s renew deadline, 2 s retry, and rejects inconsistent timings", () => {
    const base = {
      client: KubeClient.load(new Registry(), cp.kubeconfigPath),
      registry: new Registry(),
      namespace: "x",
      leaseName: "defaults",
      onStartedLeading: () => {},
    };
    const e = new LeaderElector(base);
    assert.deepEqual([e.leaseDurationSeconds, e.renewDeadlineSeconds, e.retryPeriodSeconds], [15, 10, 2]);
    assert.match(e.identity, /^.+_[0-9a-f-]{36}$/);
    assert.throws(
      () => new LeaderElector({ ...base, leaseDurationSeconds: 10 }),
      /leaseDurationSeconds \(10\) must be greater than renewDeadlineSeconds \(10\)/,
    );
    assert.throws(
      () => new LeaderElector({ ...base, renewDeadlineSeconds: 2 }),
      /must be greater than 1.2 x retryPeriodSeconds/,
    );
    assert.throws(() => new LeaderElector({ ...base, leaseDurationSeconds: 15.5 }), /whole number/);
  });

  it("two electors in one process: one leads, the metric says which, a graceful stop hands over", async () => {
    const name = `in-process-${++leases}`;
    const a = candidate(name, "a");
    await eventually("a to lead", () => a.startedAt.length === 1);
    const b = candidate(name, "b");
    await sleep(2500); // more than two of b's retry periods
    assert.equal(b.startedAt.length, 0, "b stays a standby while a renews");
    assert.equal(a.elector.isLeader(), true);
    assert.equal(b.elector.isLeader(), false);
    assert.equal(b.elector.observedLeader(), "a");
    assert.equal(await masterStatus(a, name), 1);
    assert.equal(await masterStatus(b, name), 0);

    const held = await lease(name);
    assert.equal(held.spec.holderIdentity, "a");
    assert.equal(held.spec.leaseDurationSeconds, 4);
    assert.match(held.spec.renewTime, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/, "MicroTime with 6 fractional digits");
    assert.match(held.spec.acquireTime, /\.\d{6}Z$/);

    const stoppedAt = Date.now();
    a.stop.abort();
    assert.equal(await a.ended, "stopped");
    assert.equal(a.leadership?.aborted, true);
    assert.equal(await masterStatus(a, name), 0);
    await eventually("b to lead", () => b.startedAt.length === 1);
    const handoverMs = b.startedAt[0]! - stoppedAt;
    console.log(`      in-process graceful handover: ${handoverMs} ms`);
    assert.ok(handoverMs < 2000, `handover took ${handoverMs} ms`);
    assert.equal(await masterStatus(b, name), 1);
    const taken = await lease(name);
    assert.equal(taken.spec.holderIdentity, "b");
    assert.equal(taken.spec.leaseTransitions, 1, "a created it (0), b took over (1)");
  });

  it("release() on a graceful stop leaves an empty holder and a 1 s lease", async () => {
    const name = `release-${++leases}`;
    const a = candidate(name, "a");
    await eventually("a to lead", () => a.startedAt.length === 1);
    a.stop.abort();
    assert.equal(await a.ended, "stopped");
    const released = await lease(name);
    assert.equal(released.spec.holderIdentity ?? "", "");
    assert.equal(released.spec.leaseDurationSeconds, 1);
    assert.deepEqual(a.stoppedAt.length, 1);
  });

  it("a stopping leader keeps renewing until its work has wound down, longer than the lease lasts", async () => {
    const name = `wind-down-${++leases}`;
    let windDownEnded = 0;
    const a = candidate(name, "a", saKubeconfig, {
      onStartedLeading: (signal) =>
        new Promise<void>((resolve) => {
          signal.addEventListener("abort", () =>
            setTimeout(() => {
              windDownEnded = Date.now();
              resolve();
            }, 5000),
          );
        }),
    });
    await eventually("a to lead", () => a.elector.isLeader());
    const b = candidate(name, "b");
    await sleep(1200);
    a.stop.abort();
    assert.equal(await a.ended, "stopped");
    await eventually("b to lead", () => b.startedAt.length === 1);
    assert.ok(b.startedAt[0]! >= windDownEnded, "b leads only after a's work has finished");
    assert.ok(b.startedAt[0]! - windDownEnded < 2000, "and soon after, as a released the lease");
    assert.equal((await lease(name)).spec.leaseTransitions, 1);
  });

  it("a leader whose work fails releases the lease at once, and the standby leads within a retry period", async () => {
    const name = `failed-${++leases}`;
    let failedAt = 0;
    const a = candidate(name, "a", saKubeconfig, {
      onStartedLeading: async (signal) => {
        await sleep(1500);
        assert.equal(signal.aborted, false, "still leading when the work fails");
        failedAt = Date.now();
        throw new Error("caches did not sync");
      },
    });
    await eventually("a to lead", () => a.elector.isLeader());
    const b = candidate(name, "b");
    assert.equal(await a.ended, "failed");
    assert.equal(a.elector.isLeader(), false);
    assert.equal(await masterStatus(a, name), 0);
    await eventually("b to lead", () => b.startedAt.length === 1, 5000);
    const handoverMs = b.startedAt[0]! - failedAt;
    console.log(`      work failed: the standby led ${handoverMs} ms later (lease 4 s, retry 1 s)`);
    assert.ok(handoverMs < 1000 * 1.2 + 500, `the lease was released, not left to expire: ${handoverMs} ms`);
    const l = await lease(name);
    assert.equal(l.spec.holderIdentity, "b");
    assert.equal(l.spec.leaseTransitions, 1);
  });

  it("a leader whose RBAC is revoked stops leading within the renew deadline", async () => {
    const name = `revoked-${++leases}`;
    await cp.kubectlOk(["create", "serviceaccount", "revocable", "-n", ns]);
    await grantRole(cp, {
      namespace: ns,
      role: "revocable-lease",
      serviceAccount: { namespace: ns, name: "revocable" },
      verbs: ["get", "create", "update"],
      resources: ["leases.coordination.k8s.io"],
    });
    const a = candidate(name, "a", await cp.serviceAccountKubeconfig(ns, "revocable"));
    await eventually("a to lead", () => a.startedAt.length === 1);
    await sleep(1200); // leading for a while: renewals are succeeding
    await revokeRole(cp, ns, "revocable-lease");
    const revokedAt = Date.now();
    assert.equal(await a.ended, "lost");
    const tookMs = a.stoppedAt[0]! - revokedAt;
    console.log(`      RBAC revoked: stopped leading after ${tookMs} ms (renew deadline 3000 ms)`);
    assert.ok(tookMs <= 3000 + 300, `stopped ${tookMs} ms after the revocation`);
    assert.ok(tookMs >= 3000 - 1000 - 300, `not before the deadline: ${tookMs} ms`);
    assert.equal(a.leadership?.aborted, true, "the leadership signal is aborted");
    assert.equal(await masterStatus(a, name), 0);
    assert.equal(a.elector.isLeader(), false);
  });

  it("a leader whose requests hang (network partition) stops at the renew deadline, not later", async () => {
    const name = `partition-${++leases}`;
    const proxy = await TcpProxy.start(cp.url);
    proxies.push(proxy);
    const a = candidate(name, "a", await proxy.kubeconfig(saKubeconfig));
    await eventually("a to lead", () => a.startedAt.length === 1);
    await sleep(1200);
    proxy.partition(true);
    const cutAt = Date.now();
    assert.equal(await a.ended, "lost");
    const tookMs = a.stoppedAt[0]! - cutAt;
    console.log(`      partitioned: stopped leading after ${tookMs} ms (renew deadline 3000 ms)`);
    assert.ok(tookMs <= 3000 + 300, `stopped ${tookMs} ms after the partition`);
    assert.equal(await masterStatus(a, name), 0);
  });

  it("a leader renews with one write carrying its last resourceVersion, reading nothing", async () => {
    const name = `one-write-${++leases}`;
    const a = candidate(name, "a");
    await eventually("a to lead", () => a.startedAt.length === 1);
    const byMethod = async () => {
      const counts: Record<string, number> = {};
      for (const v of (await a.registry.getSingleMetric("rest_client_requests_total")!.get()).values)
        counts[String(v.labels.method)] = (counts[String(v.labels.method)] ?? 0) + v.value;
      return counts;
    };
    const before = await byMethod();
    const renewedBefore = (await lease(name)).spec.renewTime;
    await eventually("three more renewals", async () => ((await byMethod()).PUT ?? 0) >= (before.PUT ?? 0) + 3);
    const after = await byMethod();
    assert.equal(after.GET ?? 0, before.GET ?? 0, "a steady leader reads nothing");
    assert.notEqual((await lease(name)).spec.renewTime, renewedBefore, "the writes renewed the lease");
    assert.equal(await masterStatus(a, name), 1);
  });

  it("a leader whose optimistic renewal conflicts reads the lease and renews if it is still its own", async () => {
    const name = `conflict-${++leases}`;
    const a = candidate(name, "a");
    await eventually("a to lead", () => a.startedAt.length === 1);
    // Someone else writes the lease (same holder): the leader's next one-write renewal gets a 409,
    // and the read that follows finds the lease still its own.
    const l = await lease(name);
    (l as LeaseJson & { metadata: { annotations?: Record<string, string> } }).metadata.annotations = { touched: "1" };
    await cp.kubectlOk(["replace", "-f", "-"], { input: JSON.stringify(l) });
    const touched = await lease(name);
    await eventually(
      "a renewal after the change",
      async () => (await lease(name)).spec.renewTime !== touched.spec.renewTime,
    );
    assert.equal(a.stoppedAt.length, 0, "still leading");
    assert.equal((await lease(name)).spec.holderIdentity, "a");
    const conflicts = (await a.registry.getSingleMetric("rest_client_requests_total")!.get()).values
      .filter((v) => v.labels.code === "409")
      .reduce((sum, v) => sum + v.value, 0);
    assert.ok(conflicts >= 1, "the one-write renewal was refused and the lease read again");
  });

  it("a leader that finds someone else in the lease stops at once", async () => {
    const name = `usurped-${++leases}`;
    const a = candidate(name, "a");
    await eventually("a to lead", () => a.startedAt.length === 1);
    // A merge patch carries no resourceVersion, so the leader's renewals cannot make it conflict.
    await cp.kubectlOk([
      "patch",
      "lease",
      name,
      "-n",
      ns,
      "--type=merge",
      "-p",
      '{"spec":{"holderIdentity":"intruder"}}',
    ]);
    const replacedAt = Date.now();
    assert.equal(await a.ended, "lost");
    const tookMs = a.stoppedAt[0]! - replacedAt;
    assert.ok(tookMs <= 1000 + 500, `stopped ${tookMs} ms after the lease changed hands`);
    assert.equal((await lease(name)).spec.holderIdentity, "intruder", "the lost leader does not write any more");
  });

  it("two processes: one leads; SIGTERM releases the lease and the standby leads in under 2 s", async () => {
    const { name, first, second } = await leaderAndStandby();

    const termAt = Date.now();
    first.child.kill("SIGTERM");
    assert.equal(await first.exited, 0, "a graceful stop exits 0");
    assert.equal(first.events.find((e) => e.event === "exit")?.end, "stopped");
    await eventually("second to lead", () => second.when("leading") !== undefined, 5000);
    const handoverMs = second.when("leading")! - termAt;
    console.log(`      SIGTERM handover between processes: ${handoverMs} ms`);
    assert.ok(handoverMs < 2000, `handover took ${handoverMs} ms`);
    const l = await lease(name);
    assert.equal(l.spec.holderIdentity, "second");
    assert.equal(l.spec.leaseTransitions, 1);
  });

  it("two processes: after SIGKILL of the leader the standby leads within lease duration + retry period", async () => {
    const { name, first, second } = await leaderAndStandby();

    const killAt = Date.now();
    first.child.kill("SIGKILL");
    await eventually("second to lead", () => second.when("leading") !== undefined, 10_000);
    const takeoverMs = second.when("leading")! - killAt;
    const { leaseDurationSeconds: lease_, retryPeriodSeconds: retry } = timings;
    console.log(
      `      SIGKILL takeover between processes: ${takeoverMs} ms (lease ${lease_} s + retry ${retry} s = ${(lease_ + retry) * 1000} ms)`,
    );
    assert.ok(takeoverMs <= (lease_ + retry) * 1000 + 500, `took ${takeoverMs} ms`);
    assert.ok(
      takeoverMs >= (lease_ - retry) * 1000 - 200,
      `the standby waited for the lease to expire (${takeoverMs} ms)`,
    );
    assert.equal((await lease(name)).spec.holderIdentity, "second");
  });
});
