// A leader that cannot follow the cluster must not keep the Lease: the real controller entry point,
// two replicas on the real control plane, one of them unable to list or watch Nodes. It gives the
// Lease up and exits 1, and the standby leads at once instead of after the Lease expires.
import { strict as assert } from "node:assert";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseAllDocuments } from "yaml";
import type { ControlPlane } from "../../testenv/controlplane.js";
import { startController, type ControllerProcess } from "../../testenv/controller.js";
import { installCRDs, OPERATOR_CRD_FILES } from "../../testenv/crds.js";
import { eventually } from "../../testenv/eventually.js";
import { createTestNamespace, sharedControlPlane } from "../../testenv/shared.js";
import { TcpProxy } from "./support/tcpProxy.js";

const root = fileURLToPath(new URL("../..", import.meta.url));
const LEASE = { durationSeconds: 4, renewDeadlineSeconds: 3, retryPeriodSeconds: 1 };

interface Rule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
}

interface LogLine {
  time: string;
  msg: string;
  [k: string]: unknown;
}

/** The controller's JSON log lines, in order; a last line still being written is left out. */
async function logLines(c: ControllerProcess): Promise<LogLine[]> {
  return (await readFile(c.proc.logFile, "utf8")).split("\n").flatMap((l) => {
    try {
      return l.startsWith("{") ? [JSON.parse(l) as LogLine] : [];
    } catch {
      return [];
    }
  });
}

/**
 * When the controller logged `msg`, by its own clock. The logger writes asynchronously, so a line
 * can reach the file a little after what it reports is visible in the metrics.
 */
async function logTime(c: ControllerProcess, msg: string): Promise<number> {
  const line = await eventually(`${c.proc.name} to log "${msg}"`, async () =>
    (await logLines(c)).find((l) => l.msg === msg),
  ).catch((err: Error) => assert.fail(`${err.message}; its log ends:\n${c.proc.tail(15)}`));
  return Date.parse(line.time);
}

describe("a leader that loses its caches hands the Lease over", function () {
  this.timeout(120_000);
  let cp: ControlPlane;
  let ns: string;
  let leases = 0;
  /** deploy/'s controller rules (namespaced here, Nodes cluster-wide), without Nodes, with revocable Nodes. */
  let kubeconfigs: { full: string; noNodes: string; revocable: string };
  let running: ControllerProcess[] = [];
  let proxies: TcpProxy[] = [];
  const clusterScoped: string[] = [];

  const lease = async (name: string) =>
    JSON.parse(await cp.kubectlOk(["get", "lease", name, "-n", ns, "-o", "json"])) as {
      spec: { holderIdentity?: string; leaseTransitions?: number };
    };
  const apply = (manifest: object) => cp.kubectlOk(["apply", "-f", "-"], { input: JSON.stringify(manifest) });
  const identity = (c: ControllerProcess) => new RegExp(`_${c.proc.child.pid}$`);

  async function controller(name: string, kubeconfig: string, leaseName: string, args: string[] = []) {
    const c = await startController({
      kubeconfig,
      logDir: cp.dir,
      name: `${name}-${leases}`,
      args: [
        "--leader-elect",
        `--leader-election-namespace=${ns}`,
        `--leader-election-id=${leaseName}`,
        `--lease-duration=${LEASE.durationSeconds}`,
        `--renew-deadline=${LEASE.renewDeadlineSeconds}`,
        `--retry-period=${LEASE.retryPeriodSeconds}`,
        ...args,
      ],
      // Only this suite's namespace: clusters other suites left behind are none of its business.
      env: { WATCH_NAMESPACES: ns },
    });
    running.push(c);
    return c;
  }

  /** A ServiceAccount with the controller's rules in `ns`, Nodes through a ClusterRoleBinding of its own. */
  async function serviceAccount(name: string, rules: Rule[], nodes: boolean): Promise<string> {
    await cp.kubectlOk(["create", "serviceaccount", name, "-n", ns]);
    const subjects = [{ kind: "ServiceAccount", name, namespace: ns }];
    const binding = `${ns}-${name}`;
    await apply({
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "Role",
      metadata: { name, namespace: ns },
      rules: rules.filter((r) => !r.resources.includes("nodes")),
    });
    await apply({
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "RoleBinding",
      metadata: { name, namespace: ns },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name },
      subjects,
    });
    if (nodes) {
      await apply({
        apiVersion: "rbac.authorization.k8s.io/v1",
        kind: "ClusterRole",
        metadata: { name: binding },
        rules: rules.filter((r) => r.resources.includes("nodes")),
      });
      await apply({
        apiVersion: "rbac.authorization.k8s.io/v1",
        kind: "ClusterRoleBinding",
        metadata: { name: binding },
        roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: binding },
        subjects,
      });
      clusterScoped.push(`clusterrole/${binding}`, `clusterrolebinding/${binding}`);
    }
    return cp.serviceAccountKubeconfig(ns, name);
  }

  before(async () => {
    cp = await sharedControlPlane();
    await installCRDs(cp, [...OPERATOR_CRD_FILES]);
    ns = await createTestNamespace(cp, "lost-caches");
    const docs = parseAllDocuments(await readFile(join(root, "deploy/base/controller-rbac.yaml"), "utf8")).map(
      (d) => d.toJS() as { kind: string; rules?: Rule[] },
    );
    const rules = docs.filter((d) => d.kind === "ClusterRole" || d.kind === "Role").flatMap((d) => d.rules ?? []);
    assert.ok(rules.some((r) => r.resources.includes("nodes")) && rules.some((r) => r.resources.includes("leases")));
    kubeconfigs = {
      full: await serviceAccount("full", rules, true),
      noNodes: await serviceAccount("no-nodes", rules, false),
      revocable: await serviceAccount("revocable", rules, true),
    };
  });

  afterEach(async () => {
    await Promise.all(running.map((c) => c.stop()));
    await Promise.all(proxies.map((p) => p.close()));
    running = [];
    proxies = [];
  });

  after(async () => {
    if (clusterScoped.length) await cp.kubectlOk(["delete", "--ignore-not-found", ...clusterScoped]);
  });

  it("caches that never sync: the leader releases the Lease at --cache-sync-timeout and exits 1", async () => {
    const name = `never-synced-${++leases}`;
    // Longer than a second controller takes to start on a busy machine, so it is a standby first.
    const syncTimeoutSeconds = 10;
    const a = await controller("no-nodes", kubeconfigs.noNodes, name, [`--cache-sync-timeout=${syncTimeoutSeconds}`]);
    await eventually("a to lead", () => a.isLeader(), 20_000, { intervalMs: 100 });
    assert.equal((await fetch(`${a.healthUrl}/readyz`)).status, 503, "a leader without synced caches is not ready");
    const b = await controller("full", kubeconfigs.full, name);

    assert.equal(await a.proc.exited, "exit code 1");
    await eventually("b to lead", () => b.isLeader(), 10_000, { intervalMs: 100 });
    const aLed = await logTime(a, "became leader");
    const aFailed = await logTime(a, "the leader's work failed; giving up the lease");
    const bLed = await logTime(b, "became leader");
    const failure = (await logLines(a)).find((l) => l.msg === "the leader's work failed; giving up the lease");
    assert.match(
      String(failure?.err),
      new RegExp(
        `^caches did not sync: informer for nodes has not synced within ${syncTimeoutSeconds * 1000} ms: all namespaces \\(last error: GET /api/v1/nodes.*HTTP 403 Forbidden`,
      ),
    );
    assert.ok((await logLines(a)).some((l) => l.msg === "released the lease"));
    const handoverMs = bLed - aFailed;
    console.log(
      `      caches never synced: a gave up ${aFailed - aLed} ms after it began leading (--cache-sync-timeout=${syncTimeoutSeconds}), b led ${handoverMs} ms after that (lease ${LEASE.durationSeconds} s, retry ${LEASE.retryPeriodSeconds} s)`,
    );
    assert.ok(bLed > aFailed, "b led only once a had given up");
    assert.ok(aFailed - aLed >= syncTimeoutSeconds * 1000 - 100, "not before the timeout");
    assert.ok(aFailed - aLed < syncTimeoutSeconds * 1000 + 1500, "and soon after it");
    assert.ok(
      handoverMs < LEASE.retryPeriodSeconds * 1200 + 800,
      `b took over within a retry period, not a lease duration: ${handoverMs} ms`,
    );
    const l = await lease(name);
    assert.match(l.spec.holderIdentity ?? "", identity(b));
    assert.equal(l.spec.leaseTransitions, 1);
  });

  it("a cache that stops following the cluster: /healthz fails, the Lease is released and the leader exits 1", async () => {
    const name = `lost-${++leases}`;
    const failureTimeoutSeconds = 3;
    const proxy = await TcpProxy.start(cp.url);
    proxies.push(proxy);
    const a = await controller("revocable", await proxy.kubeconfig(kubeconfigs.revocable), name, [
      `--cache-failure-timeout=${failureTimeoutSeconds}`,
    ]);
    // A standby is ready too: leading first, then ready means synced.
    await eventually("a to lead", () => a.isLeader(), 20_000, { intervalMs: 100 });
    await eventually("a's caches to sync", async () => (await fetch(`${a.healthUrl}/readyz`)).ok, 20_000);
    const b = await controller("full", kubeconfigs.full, name);

    // Watch /healthz of a as a kubelet would, only faster.
    const probes: Array<{ at: number; status: number; body: string }> = [];
    let probing = true;
    const prober = (async () => {
      while (probing && a.proc.child.exitCode === null) {
        const r = await fetch(`${a.healthUrl}/healthz`).then(
          async (res) => ({ at: Date.now(), status: res.status, body: await res.text() }),
          () => undefined,
        );
        if (r) probes.push(r);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    })();

    // An open watch outlives the RBAC that allowed it: reset a's connections so it asks again.
    await cp.kubectlOk(["delete", "clusterrolebinding", `${ns}-revocable`]);
    const lostAt = Date.now();
    proxy.cut();
    assert.equal(await a.proc.exited, "exit code 1");
    probing = false;
    await prober;
    await eventually("b to lead", () => b.isLeader(), 10_000, { intervalMs: 100 });
    const aFailed = await logTime(a, "the leader's work failed; giving up the lease");
    const bLed = await logTime(b, "became leader");
    const failure = (await logLines(a)).find((l) => l.msg === "the leader's work failed; giving up the lease");
    assert.match(
      String(failure?.err),
      /^the nodes cache has been unable to list or watch for \d+ s \(last error: .*HTTP 403 Forbidden.*\); stopping so that a fresh process takes over$/,
    );
    assert.ok((await logLines(a)).some((l) => l.msg === "released the lease"));
    assert.ok(
      probes.filter((p) => p.at < lostAt).every((p) => p.status === 200),
      "healthy while the caches follow the cluster",
    );
    const failed = probes.filter((p) => p.status !== 200);
    assert.ok(
      failed.every((p) => p.status === 500 && /^the nodes cache has been unable to list or watch/.test(p.body)),
      JSON.stringify(failed),
    );
    console.log(
      `      cache lost: a gave up ${aFailed - lostAt} ms after its watches were reset (--cache-failure-timeout=${failureTimeoutSeconds}), b led ${bLed - aFailed} ms after that; /healthz answered 500 ${failed.length} times before a exited`,
    );
    assert.ok(aFailed - lostAt >= failureTimeoutSeconds * 1000, "not before the timeout");
    assert.ok(aFailed - lostAt < failureTimeoutSeconds * 1000 + 2000, "and soon after it");
    assert.ok(bLed > aFailed, "b led only once a had given up");
    assert.ok(bLed - aFailed < LEASE.retryPeriodSeconds * 1200 + 800, `b took over within a retry period`);
    assert.match((await lease(name)).spec.holderIdentity ?? "", identity(b));
  });
});
