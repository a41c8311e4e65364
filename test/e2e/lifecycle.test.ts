// End to end on the local runtime: the real controller (two replicas) drives real rqlited
// processes through the real API server. Rows written through rqlite must all be read back
// after every step.
import { strict as assert } from "node:assert";
import { readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseAllDocuments } from "yaml";
import { RqliteClient } from "../../controller/rqlite/client.js";
import { startLocalStack, type LocalStack } from "../../local/stack.js";
import { loopbackAddress } from "../../shared/loopback-address.js";
import { eventually as eventuallyWithin } from "../../testenv/eventually.js";
import { createTestNamespace, sharedControlPlane } from "../../testenv/shared.js";

const eventually = <T>(what: string, check: () => Promise<T | undefined | false>, timeoutMs = 60_000) =>
  eventuallyWithin(what, check, timeoutMs, { intervalMs: 250 });

const root = fileURLToPath(new URL("../..", import.meta.url));
const FAST_LEASE = [
  "--lease-duration=4",
  "--renew-deadline=3",
  "--retry-period=1",
  "--node-failure-timeout=2",
  "--resync-period=3",
];
const OPERATOR_SA = "system:serviceaccount:rqlite-operator-system:rqlite-operator-controller";
const OLD = "rqlite/rqlite:8.36.0";
const NEW = "rqlite/rqlite:8.43.4";

type Status = {
  phase?: string;
  leader?: string;
  replicas?: number;
  readyReplicas?: number;
  currentImage?: string;
  members?: Array<{ id: string; voter: boolean; ready: boolean }>;
  conditions?: Array<{ type: string; status: string }>;
};

describe("end to end on real rqlite nodes", function () {
  this.timeout(300_000);
  let stack: LocalStack;
  let ns: string;
  let written = 0;
  let auditFrom = 0;
  const figures: Record<string, string> = {};

  const leaseName = () => `rqlite-operator-${ns}`;
  const kubectl = (args: string[]) => stack.cp.kubectlOk([...args, "-n", ns]);
  const status = async (): Promise<Status> =>
    JSON.parse(await kubectl(["get", "rqc", "demo", "-o", "json"])).status ?? {};
  const node = (pod: string) =>
    new RqliteClient(`http://${loopbackAddress(ns, pod)}:4001`, { nodeId: pod, timeoutMs: 5000 });
  const members = async () => (await status()).members?.map((m) => m.id).sort() ?? [];
  const raftMembers = async (pod: string) => (await node(pod).nodes()).map((n) => n.id).sort();
  const available = async () => (await status()).conditions?.some((c) => c.type === "Available" && c.status === "True");
  const converged = (voters: number) => async () => {
    const s = await status();
    return s.phase === "Running" &&
      s.readyReplicas === voters &&
      s.members?.length === voters &&
      s.members.every((m) => m.ready) &&
      s.leader
      ? s
      : undefined;
  };

  async function writeRows(count: number): Promise<void> {
    const leader = (await status()).leader ?? "demo-0";
    await node(leader).execute(
      Array.from({ length: count }, (_, i) => ["INSERT INTO rows(v) VALUES(?)", `row-${written + i}`]),
    );
    written += count;
  }

  /** Every remaining node returns every row written so far, read with level=strong. */
  async function assertAllRows(pods: string[]): Promise<void> {
    for (const pod of pods) {
      const rows = await node(pod).query("SELECT COUNT(*) AS n FROM rows", { level: "strong" });
      assert.equal(Number((rows[0] as Record<string, unknown>).n), written, `rows read from ${pod}`);
    }
  }

  before(async () => {
    const cp = await sharedControlPlane();
    ns = await createTestNamespace(cp, "e2e");
    // The RBAC check reads only this suite's part of the audit log.
    auditFrom = await stat(cp.auditLogPath).then(
      (st) => st.size,
      () => 0,
    );
    // A Lease of its own, so this suite's controllers create it (the RBAC check below sees that).
    stack = await startLocalStack({
      controlPlane: cp,
      namespaces: [ns],
      controllerArgs: [...FAST_LEASE, `--leader-election-id=${leaseName()}`],
    });
  });

  after(async () => {
    await stack?.stop();
    console.log(`      figures: ${JSON.stringify(figures)}`);
  });

  it("creates a 3-node cluster that becomes Available and takes writes", async () => {
    const applied = Date.now();
    await stack.cp.kubectlOk(["apply", "-n", ns, "-f", "-"], {
      input: JSON.stringify({
        apiVersion: "rqlite.io/v1alpha1",
        kind: "RqCluster",
        metadata: { name: "demo" },
        spec: { replicas: 3, image: OLD },
      }),
    });
    await eventually("Available", available, 120_000);
    const bad = await stack.cp.kubectl(["apply", "-n", ns, "-f", "-"], {
      input: JSON.stringify({
        apiVersion: "rqlite.io/v1alpha1",
        kind: "RqCluster",
        metadata: { name: "bad" },
        spec: { replicas: 3, extraArgs: ["-node-id=x"] },
      }),
    });
    assert.match(bad.stderr, /spec\.extraArgs\[0\]/, "the admission webhook rejects a bad spec with its field path");
    figures.applyToAvailable = `${((Date.now() - applied) / 1000).toFixed(1)} s`;
    const s = await eventually("3 members with a leader", converged(3));
    assert.deepEqual(s.members!.map((m) => m.id).sort(), ["demo-0", "demo-1", "demo-2"]);
    await node(s.leader!).execute(["CREATE TABLE rows (id INTEGER PRIMARY KEY, v TEXT)"]);
    await writeRows(50);
    await assertAllRows(["demo-0", "demo-1", "demo-2"]);
  });

  it("scales 3→5→3 and every remaining node reads every row", async () => {
    await kubectl(["scale", "rqc", "demo", "--replicas=5"]);
    await eventually("5 ready members", converged(5), 120_000);
    assert.deepEqual(await raftMembers("demo-4"), ["demo-0", "demo-1", "demo-2", "demo-3", "demo-4"]);
    await writeRows(25);
    await assertAllRows(["demo-0", "demo-1", "demo-2", "demo-3", "demo-4"]);

    const started = Date.now();
    await kubectl(["scale", "rqc", "demo", "--replicas=3"]);
    await eventually(
      "3 members left",
      async () => (await members()).join() === "demo-0,demo-1,demo-2" && converged(3)(),
      120_000,
    );
    figures.scaleDown5to3 = `${((Date.now() - started) / 1000).toFixed(1)} s`;
    assert.deepEqual(
      await raftMembers("demo-0"),
      ["demo-0", "demo-1", "demo-2"],
      "removed nodes left the Raft configuration",
    );
    const removals = await kubectl([
      "get",
      "events",
      "--field-selector",
      "reason=RemovedFromRaft",
      "-o",
      "jsonpath={.items[*].message}",
    ]);
    assert.ok(
      removals.indexOf("removed demo-4") < removals.indexOf("removed demo-3") && removals.includes("removed demo-3"),
      `highest ordinal first: ${removals}`,
    );
    await assertAllRows(["demo-0", "demo-1", "demo-2"]);
    figures.rowsAfterScaling = `${written} written, ${written} read on each node`;
  });

  it("rolls a new rqlited version one node at a time, leader last, losing no row", async () => {
    const leaderBefore = (await status()).leader!;
    await kubectl(["patch", "rqc", "demo", "--type=merge", "-p", JSON.stringify({ spec: { image: NEW } })]);
    const started = Date.now();
    await eventually(
      "every node on the new version",
      async () => {
        const s = await status();
        if (s.currentImage !== NEW || !(await converged(3)())) return false;
        const versions = await Promise.all(
          ["demo-0", "demo-1", "demo-2"].map(async (p) => (await node(p).status()).version),
        );
        return versions.every((v) => v === "v8.43.4");
      },
      180_000,
    );
    figures.rollingUpdate = `${((Date.now() - started) / 1000).toFixed(1)} s`;
    const rolled = await kubectl([
      "get",
      "events",
      "--field-selector",
      "reason=RollingUpdate",
      "-o",
      "jsonpath={.items[*].message}",
    ]);
    const order = [...rolled.matchAll(/deleted outdated Pod (\S+)/g)].map((m) => m[1]);
    assert.equal(order.length, 3, `one Pod at a time: ${rolled}`);
    assert.equal(order[2], leaderBefore, `followers first, the leader last: ${order.join(", ")}`);
    await writeRows(10);
    await assertAllRows(["demo-0", "demo-1", "demo-2"]);
  });

  it("recovers when the leader's process is killed, and status follows", async () => {
    const before = (await status()).leader!;
    stack.runtime.kill(ns, before);
    await eventually(
      "a new leader in status",
      async () => {
        const s = await status();
        return s.leader && s.leader !== before ? s : undefined;
      },
      60_000,
    );
    await eventually("the killed node back as a ready member", converged(3), 90_000);
    await writeRows(10);
    await assertAllRows(["demo-0", "demo-1", "demo-2"]);
  });

  it("replaces a node whose Pod is stuck on an unreachable Kubernetes node", async () => {
    const victim = "demo-2";
    const nodeName = `lost-${ns}`.slice(0, 63);
    const uidBefore = JSON.parse(await kubectl(["get", "pod", victim, "-o", "json"])).metadata.uid;
    await stack.cp.kubectlOk(["create", "-f", "-"], {
      input: JSON.stringify({ apiVersion: "v1", kind: "Node", metadata: { name: nodeName } }),
    });
    const longAgo = new Date(Date.now() - 3600_000).toISOString().replace(/\.\d+Z$/, "Z");
    await stack.cp.kubectlOk([
      "patch",
      "node",
      nodeName,
      "--subresource=status",
      "--type=merge",
      "-p",
      JSON.stringify({
        status: {
          conditions: [
            {
              type: "Ready",
              status: "Unknown",
              reason: "NodeStatusUnknown",
              message: "Kubelet stopped posting node status.",
              lastHeartbeatTime: longAgo,
              lastTransitionTime: longAgo,
            },
          ],
        },
      }),
    ]);
    // The scheduler's part: bind the Pod to the node that then goes silent.
    const binding = join(stack.cp.dir, "binding.json");
    await writeFile(
      binding,
      JSON.stringify({
        apiVersion: "v1",
        kind: "Binding",
        metadata: { name: victim },
        target: { apiVersion: "v1", kind: "Node", name: nodeName },
      }),
    );
    await stack.cp.kubectlOk(["create", "--raw", `/api/v1/namespaces/${ns}/pods/${victim}/binding`, "-f", binding]);
    await eventually(
      "a replacement Pod",
      async () => {
        const pod = JSON.parse(await kubectl(["get", "pod", victim, "-o", "json"]));
        return pod.metadata.uid !== uidBefore && !pod.spec.nodeName;
      },
      90_000,
    );
    await eventually("the replacement back as a ready member", converged(3), 120_000);
    const lost = await kubectl([
      "get",
      "events",
      "--field-selector",
      "reason=NodeLost",
      "-o",
      "jsonpath={.items[*].message}",
    ]);
    assert.match(lost, new RegExp(`replacing ${victim}: its Kubernetes node ${nodeName} has been unreachable`));
    await assertAllRows(["demo-0", "demo-1", victim]);
    await stack.cp.kubectlOk(["delete", "node", nodeName]);
  });

  it("runs a cluster with -auth: the operator signs in as its own user, applications as theirs", async () => {
    const users = [{ username: "app", password: "app-pass", perms: ["all"] }];
    await stack.cp.kubectlOk([
      "create",
      "secret",
      "generic",
      "app-users",
      "-n",
      ns,
      `--from-literal=users.json=${JSON.stringify(users)}`,
    ]);
    await stack.cp.kubectlOk(["apply", "-n", ns, "-f", "-"], {
      input: JSON.stringify({
        apiVersion: "rqlite.io/v1alpha1",
        kind: "RqCluster",
        metadata: { name: "secure" },
        spec: { replicas: 3, image: NEW, auth: { secretName: "app-users" } },
      }),
    });
    const secureStatus = async (): Promise<Status> =>
      JSON.parse(await kubectl(["get", "rqc", "secure", "-o", "json"])).status ?? {};
    await eventually(
      "secure Available with a leader from rqlite",
      async () => {
        const s = await secureStatus();
        return (
          s.leader &&
          s.members?.length === 3 &&
          s.members.every((m) => m.ready) &&
          s.conditions?.some((c) => c.type === "Available" && c.status === "True")
        );
      },
      120_000,
    );
    const url = `http://${loopbackAddress(ns, "secure-0")}:4001`;
    const app = new RqliteClient(url, { auth: { username: "app", password: "app-pass" } });
    await app.execute(["CREATE TABLE t (v TEXT)", ["INSERT INTO t VALUES(?)", "x"]]);
    await assert.rejects(
      new RqliteClient(url).query("SELECT * FROM t"),
      /401|unauthorized/i,
      "no credentials, no data",
    );
    await kubectl(["scale", "rqc", "secure", "--replicas=2"]);
    await eventually(
      "secure-2 removed through the authenticated API",
      async () => {
        const s = await secureStatus();
        return (
          s.members
            ?.map((m) => m.id)
            .sort()
            .join() === "secure-0,secure-1"
        );
      },
      60_000,
    );
    assert.deepEqual((await app.nodes()).map((n) => n.id).sort(), ["secure-0", "secure-1"]);
    assert.equal((await app.query("SELECT COUNT(*) AS n FROM t", { level: "strong" }))[0]!.n, 1);

    // A user added to the Secret reaches the nodes: the operator's Secret follows (at the next
    // resync) and the Pods roll onto the new users file.
    const more = [...users, { username: "reader", password: "r-pass", perms: ["query"] }];
    await stack.cp
      .kubectlOk([
        "create",
        "secret",
        "generic",
        "app-users",
        "-n",
        ns,
        `--from-literal=users.json=${JSON.stringify(more)}`,
        "--dry-run=client",
        "-o",
        "yaml",
      ])
      .then((yaml) => stack.cp.kubectlOk(["apply", "-f", "-"], { input: yaml }));
    const reader = new RqliteClient(url, { auth: { username: "reader", password: "r-pass" } });
    await eventually(
      "the new user can query",
      async () => (await reader.query("SELECT COUNT(*) AS n FROM t", { level: "strong" }))[0]!.n === 1,
      120_000,
    );
  });

  it("undoes hand edits of every kind of child, and applies a pod template from a ConfigMap", async () => {
    await kubectl(["patch", "svc", "demo", "--type=merge", "-p", '{"spec":{"selector":{"extra":"x"}}}']);
    await kubectl(["label", "pod", "demo-0", "rqlite.io/role-"]);
    await kubectl(["label", "pvc", "demo-1", "rqlite.io/role-"]);
    await kubectl(["patch", "pdb", "demo", "--type=merge", "-p", '{"spec":{"maxUnavailable":2}}']);
    await eventually(
      "every edit undone",
      async () => {
        const [svc, pod, pvc, pdb] = await Promise.all(
          ["svc/demo", "pod/demo-0", "pvc/demo-1", "pdb/demo"].map(async (o) =>
            JSON.parse(await kubectl(["get", o, "-o", "json"])),
          ),
        );
        return (
          !("extra" in svc.spec.selector) &&
          pod.metadata.labels["rqlite.io/role"] === "voter" &&
          pvc.metadata.labels["rqlite.io/role"] === "voter" &&
          pdb.spec.maxUnavailable === 1
        );
      },
      30_000,
    );
    await kubectl([
      "patch",
      "rqc",
      "demo",
      "--type=merge",
      "-p",
      '{"spec":{"podDisruptionBudget":{"maxUnavailable":0}}}',
    ]);
    await eventually(
      "the PDB deleted",
      async () => (await stack.cp.kubectl(["get", "pdb", "demo", "-n", ns])).code !== 0,
      30_000,
    );

    await stack.cp.kubectlOk([
      "create",
      "configmap",
      "tmpl",
      "-n",
      ns,
      `--from-literal=pod-template.json=${JSON.stringify({ metadata: { labels: { team: "db" } } })}`,
    ]);
    await stack.cp.kubectlOk(["label", "configmap", "tmpl", "-n", ns, "rqlite.io/pod-template=true"]);
    await stack.cp.kubectlOk(["apply", "-n", ns, "-f", "-"], {
      input: JSON.stringify({
        apiVersion: "rqlite.io/v1alpha1",
        kind: "RqCluster",
        metadata: { name: "tmpl" },
        spec: { replicas: 1, image: NEW, podTemplateConfigMap: { name: "tmpl" } },
      }),
    });
    await eventually(
      "tmpl-0 with the template's label",
      async () => JSON.parse(await kubectl(["get", "pod", "tmpl-0", "-o", "json"])).metadata.labels.team === "db",
      60_000,
    );
  });

  it("finishes a scale-down with exactly the desired members when the controller leader dies mid-way", async () => {
    await kubectl(["scale", "rqc", "demo", "--replicas=5"]);
    await eventually("5 ready members", converged(5), 120_000);
    const leaderOf = async () => {
      for (const c of stack.controllers)
        if (
          c.proc.child.exitCode === null &&
          c.proc.child.signalCode === null &&
          (await c.isLeader().catch(() => false))
        )
          return c;
      return undefined;
    };
    const leading = (await leaderOf())!;
    await kubectl(["scale", "rqc", "demo", "--replicas=3"]);
    await eventually("the first removal", async () => !(await raftMembers("demo-0")).includes("demo-4"), 60_000);
    leading.signal("SIGKILL");
    await eventually(
      "the standby to take over",
      async () => (await leaderOf()) !== undefined && (await leaderOf()) !== leading,
      30_000,
    );
    await eventually(
      "exactly the desired members",
      async () => (await members()).join() === "demo-0,demo-1,demo-2" && converged(3)(),
      120_000,
    );
    assert.deepEqual(await raftMembers("demo-1"), ["demo-0", "demo-1", "demo-2"]);
    const pods = (await kubectl(["get", "pods", "-l", "rqlite.io/cluster=demo", "-o", "name"]))
      .trim()
      .split("\n")
      .sort();
    assert.deepEqual(pods, ["pod/demo-0", "pod/demo-1", "pod/demo-2"]);
    await assertAllRows(["demo-0", "demo-1", "demo-2"]);
    figures.rowsAtEnd = `${written} written, ${written} read on each node`;
  });

  it("uses every permission deploy/ grants the controller, and needs no other", async () => {
    // The audit log holds every request of the operator's ServiceAccount (test/env/controlplane.ts).
    const used = new Set<string>();
    for (const line of (await readFile(stack.cp.auditLogPath))
      .subarray(auditFrom)
      .toString("utf8")
      .split("\n")
      .filter(Boolean)) {
      const e = JSON.parse(line) as {
        verb: string;
        user: { username: string };
        objectRef?: { apiGroup?: string; resource?: string; subresource?: string; namespace?: string; name?: string };
        responseStatus?: { code?: number };
      };
      const o = e.objectRef;
      if (e.user.username !== OPERATOR_SA || !o?.resource) continue;
      if (o.resource === "leases" && o.name !== leaseName()) continue;
      if (o.namespace && o.namespace !== ns && o.namespace !== "rqlite-operator-system") continue;
      assert.notEqual(e.responseStatus?.code, 403, `forbidden: ${e.verb} ${o.resource} — a permission deploy/ lacks`);
      used.add(`${e.verb} ${o.apiGroup ?? ""}/${o.resource}${o.subresource ? `/${o.subresource}` : ""}`);
    }
    const granted = new Set<string>();
    for (const doc of parseAllDocuments(await readFile(join(root, "deploy/base/controller-rbac.yaml"), "utf8")).map(
      (d) => d.toJS(),
    )) {
      if (doc?.kind !== "ClusterRole" && doc?.kind !== "Role") continue;
      for (const rule of doc.rules as Array<{ apiGroups: string[]; resources: string[]; verbs: string[] }>) {
        for (const g of rule.apiGroups)
          for (const r of rule.resources) for (const v of rule.verbs) granted.add(`${v} ${g}/${r}`);
      }
    }
    // Checked by the OwnerReferencesPermissionEnforcement admission plugin when a child is
    // created with blockOwnerDeletion, never requested: without it every create is refused.
    const checkedNotRequested = new Set(["update rqlite.io/rqclusters/finalizers"]);
    const unused = [...granted].filter((p) => !used.has(p) && !checkedNotRequested.has(p)).sort();
    const missing = [...used].filter((p) => !granted.has(p)).sort();
    console.log(`      permissions used: ${[...used].sort().join(", ")}`);
    assert.deepEqual(unused, [], "granted but never used: remove from deploy/base/controller-rbac.yaml");
    assert.deepEqual(missing, [], "used but not granted");
  });
});
