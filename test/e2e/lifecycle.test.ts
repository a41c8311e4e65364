// End to end on the local runtime: the real controller (two replicas) drives real rqlited
// processes through the real API server, as a user drives it with kubectl. The changes that can
// break quorum are in safety.test.ts, each under the invariant monitor.
import { operatorKubeconfig, startController } from "../../testenv/controller.js";
import { strict as assert } from "node:assert";
import { readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { V1PersistentVolumeClaim, V1Pod, V1PodDisruptionBudget, V1Service } from "@kubernetes/client-node";
import { parseAllDocuments } from "yaml";
import { RqliteClient } from "../../controller/rqlite/client.js";
import type { KubeClient } from "../../controller/runtime/kubeClient.js";
import type { LocalStack } from "../../local/stack.js";
import { loopbackAddress } from "../../shared/loopback-address.js";
import { eventually as eventuallyWithin } from "../../testenv/eventually.js";
import { sharedSchedulingControlPlane } from "../../testenv/shared.js";
import { isAvailable, isConverged, memberIds, readCluster } from "./clusterStatus.js";
import { monitoredChange } from "./monitoredChange.js";
import { assertRowsOnEveryNode, createRowsTable, startAckedWriter, type AckedRow } from "./rows.js";
import { startScheduledEnv, type ScheduledEnv } from "./scheduledEnv.js";
import { request as httpsRequest } from "node:https";

/** GET over HTTPS from a server with a self-signed certificate (the controller's own). */
function httpsGet(url: string, authorization?: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      url,
      { rejectUnauthorized: false, headers: authorization ? { authorization } : {} },
      (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (c: string) => (body += c));
        res.on("end", () => resolve({ status: res.statusCode!, body }));
      },
    );
    req.on("error", reject);
    req.end();
  });
}

const eventually = <T>(what: string, check: () => Promise<T | undefined | false>, timeoutMs = 60_000) =>
  eventuallyWithin(what, check, timeoutMs, { intervalMs: 250 });

const root = fileURLToPath(new URL("../..", import.meta.url));
const OPERATOR_SA = "system:serviceaccount:rqlite-operator-system:rqlite-operator-controller";
const NEW = "rqlite/rqlite:8.43.4";
const DEMO = ["demo-0", "demo-1", "demo-2"];

describe("end to end on real rqlite nodes", function () {
  this.timeout(300_000);
  let env: ScheduledEnv;
  let stack: LocalStack;
  let client: KubeClient;
  let ns: string;
  let auditFrom = 0;
  const acked: AckedRow[] = [];
  const figures: Record<string, string> = {};

  const leaseName = () => `rqlite-operator-${ns}`;
  const kubectl = (args: string[]) => stack.cp.kubectlOk([...args, "-n", ns]);
  const getJson = async <T>(args: string[]) => JSON.parse(await kubectl([...args, "-o", "json"])) as T;
  const cluster = (name = "demo") => readCluster(stack.cp, ns, name);

  before(async () => {
    // The RBAC check reads only this suite's part of the audit log.
    auditFrom = await stat((await sharedSchedulingControlPlane()).auditLogPath).then(
      (st) => st.size,
      () => 0,
    );
    // A Lease of its own, so this suite's controllers create it (the RBAC check below sees that).
    env = await startScheduledEnv({
      prefix: "e2e",
      // The RqBackup below aims at a closed port on loopback, which the operator refuses unless allowed.
      s3EndpointAllow: "127.0.0.1/32",
      controllerArgs: [
        "--node-failure-timeout=2",
        "--resync-period=3",
        // Outside a Pod the operator cannot read its own image for a pvc RqBackup's Job.
        "--backup-job-image=ghcr.io/rqlite-operator/rqlite-operator:e2e",
      ],
    });
    ({ stack, client, ns } = env);
  });

  after(async () => {
    await env?.stop();
    console.log(`      figures: ${JSON.stringify(figures)}`);
  });

  const change = (name: string, run: Parameters<typeof monitoredChange>[1]) =>
    monitoredChange(
      { name, client, namespace: ns, cluster: "demo", allowance: 1, acked, podsAfter: () => DEMO, figures },
      run,
    );

  it("creates a 3-node cluster that becomes Available and takes writes", async () => {
    const applied = Date.now();
    await stack.cp.kubectlOk(["apply", "-n", ns, "-f", "-"], {
      input: JSON.stringify({
        apiVersion: "rqlite.io/v1alpha1",
        kind: "RqCluster",
        metadata: { name: "demo" },
        spec: { replicas: 3, image: NEW },
      }),
    });
    await eventually("Available", async () => isAvailable((await cluster()).status), 120_000);
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
    const { status } = await eventually("3 members with a leader", async () => {
      const c = await cluster();
      return isConverged(c, 3) && c;
    });
    assert.deepEqual(memberIds(status), DEMO);
    await createRowsTable(ns, status.leader!);
    const writer = startAckedWriter({ client, namespace: ns, cluster: "demo", prefix: "created" });
    await new Promise((r) => setTimeout(r, 2000));
    const rows = await writer.stop();
    assert.ok(rows.acked.length > 0, `the new cluster takes writes (last failure: ${rows.lastFailure})`);
    acked.push(...rows.acked);
    await assertRowsOnEveryNode(ns, DEMO, acked);
  });

  it("recovers when the rqlite leader's process is killed, and status follows", async () => {
    const before = (await cluster()).status.leader!;
    const node = (pod: string) => new RqliteClient(`http://${loopbackAddress(ns, pod)}:4001`, { timeoutMs: 1000 });
    const termBefore = (await node(before).status()).term;
    await change("rqlite leader killed", async (monitor) => {
      monitor.fault(before);
      stack.runtime.kill(ns, before);
      // The runtime restarts the killed rqlited within seconds, as a kubelet would, and it may win
      // the election again: a new leader is one of a later Raft term, whatever its name.
      const leadsNow = async () => {
        const states = await Promise.all(
          DEMO.map((p) =>
            node(p)
              .status()
              .catch(() => undefined),
          ),
        );
        const leader = states.find((s) => s?.raftState === "Leader" && s.term > termBefore);
        return leader && { id: leader.nodeId, term: leader.term };
      };
      const elected = await eventually("a leader elected after the kill", leadsNow);
      figures.leaderKilled = `${before} in term ${termBefore}; then ${elected.id} in term ${elected.term}`;
      await eventually("status names the leader rqlite has now", async () => {
        const [{ leader }, now] = await Promise.all([cluster().then((c) => c.status), leadsNow()]);
        return leader !== undefined && leader === now?.id;
      });
      await eventually("the killed node back as a ready member", async () => isConverged(await cluster(), 3), 90_000);
    });
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
    await eventually(
      "secure Available with a leader from rqlite",
      async () => {
        const { status } = await cluster("secure");
        return (
          status.leader && status.members?.length === 3 && status.members.every((m) => m.ready) && isAvailable(status)
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
    // A user added to the Secret reaches the nodes: the operator's Secret follows (at the next
    // resync) and the Pods roll onto the new users file. (At 3 voters: a roll of 1 or 2 voters
    // under a PodDisruptionBudget has tests of its own.)
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
    await kubectl(["scale", "rqc", "secure", "--replicas=2"]);
    await eventually(
      "secure-2 removed through the authenticated API",
      async () => memberIds((await cluster("secure")).status).join() === "secure-0,secure-1",
      60_000,
    );
    assert.deepEqual((await app.nodes()).map((n) => n.id).sort(), ["secure-0", "secure-1"]);
    assert.equal((await app.query("SELECT COUNT(*) AS n FROM t", { level: "strong" }))[0]!.n, 1);
  });

  it("undoes hand edits of every kind of child, and applies a pod template from a ConfigMap", async () => {
    await kubectl(["patch", "svc", "demo", "--type=merge", "-p", '{"spec":{"selector":{"extra":"x"}}}']);
    await kubectl(["label", "pod", "demo-0", "rqlite.io/role-"]);
    await kubectl(["label", "pvc", "demo-1", "rqlite.io/role-"]);
    await kubectl(["patch", "pdb", "demo", "--type=merge", "-p", '{"spec":{"minAvailable":0}}']);
    // Opening Raft to every Pod of the namespace.
    await kubectl(["patch", "netpol", "demo", "--type=json", "-p", '[{"op":"remove","path":"/spec/ingress/0/from"}]']);
    await eventually(
      "every edit undone",
      async () => {
        const [svc, pod, pvc, pdb, policy] = await Promise.all([
          getJson<V1Service>(["get", "svc/demo"]),
          getJson<V1Pod>(["get", "pod/demo-0"]),
          getJson<V1PersistentVolumeClaim>(["get", "pvc/demo-1"]),
          getJson<V1PodDisruptionBudget>(["get", "pdb/demo"]),
          getJson<{ spec: { ingress: Array<{ from?: unknown[] }> } }>(["get", "netpol/demo"]),
        ]);
        return (
          !("extra" in (svc.spec?.selector ?? {})) &&
          pod.metadata?.labels?.["rqlite.io/role"] === "voter" &&
          pvc.metadata?.labels?.["rqlite.io/role"] === "voter" &&
          pdb.spec?.minAvailable === 2 &&
          policy.spec.ingress[0]?.from?.length === 1
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
      '{"spec":{"podDisruptionBudget":{"maxUnavailable":0},"network":{"policy":false}}}',
    ]);
    await eventually(
      "the PDB and the NetworkPolicy deleted",
      async () =>
        (await stack.cp.kubectl(["get", "pdb", "demo", "-n", ns])).code !== 0 &&
        (await stack.cp.kubectl(["get", "netpol", "demo", "-n", ns])).code !== 0,
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
      async () => (await getJson<V1Pod>(["get", "pod", "tmpl-0"])).metadata?.labels?.team === "db",
      60_000,
    );
  });

  it("serves /metrics over HTTPS, only to callers the API server allows to get it", async () => {
    const cp = stack.cp;
    await cp.kubectlOk(["apply", "-f", join(root, "deploy/base/metrics-reader.yaml")]);
    for (const sa of ["scraper", "nobody"]) await kubectl(["create", "serviceaccount", sa]);
    const binding = `metrics-reader-${ns}`;
    await cp.kubectlOk([
      "create",
      "clusterrolebinding",
      binding,
      "--clusterrole=rqlite-operator-metrics-reader",
      `--serviceaccount=${ns}:scraper`,
    ]);
    // A standby replica as deploy/ runs it: the stack's controllers hold the Lease.
    const secure = await startController({
      kubeconfig: await operatorKubeconfig(cp),
      logDir: cp.dir,
      name: "controller-secure-metrics",
      args: [
        "--leader-elect",
        "--leader-election-namespace=rqlite-operator-system",
        `--leader-election-id=${leaseName()}`,
        "--metrics-secure",
      ],
      env: { WATCH_NAMESPACES: ns },
    });
    try {
      const url = secure.metricsUrl.replace(/^http:/, "https:");
      const token = async (sa: string) => (await kubectl(["create", "token", sa])).trim();
      const scrape = (authorization?: string) => httpsGet(url, authorization);
      assert.equal((await scrape()).status, 401, "no token");
      assert.equal((await scrape("Bearer not-a-token")).status, 401, "a token the API server does not know");
      const refused = await scrape(`Bearer ${await token("nobody")}`);
      assert.equal(refused.status, 403);
      assert.match(refused.body, /may not get \/metrics; bind it to the ClusterRole rqlite-operator-metrics-reader/);
      const served = await scrape(`Bearer ${await token("scraper")}`);
      assert.equal(served.status, 200, served.body);
      assert.match(served.body, /^leader_election_master_status\{name="[^"]+"\} 0$/m, "a standby's metrics");
      await assert.rejects(fetch(secure.metricsUrl), "no plain HTTP");
    } finally {
      await secure.stop();
      await cp.kubectl(["delete", "clusterrolebinding", binding]);
    }
  });

  it("an RqBackup of the cluster gets its status from the controller", async () => {
    // The RqBackup controller's own scenarios are in the backup suites; here it only has to act,
    // so that the RBAC check below sees every permission deploy/ grants for RqBackups in use.
    await kubectl([
      "create",
      "secret",
      "generic",
      "no-server",
      "--from-literal=AWS_ACCESS_KEY_ID=k",
      "--from-literal=AWS_SECRET_ACCESS_KEY=s",
    ]);
    await stack.cp.kubectlOk(["apply", "-n", ns, "-f", "-"], {
      input: JSON.stringify({
        apiVersion: "rqlite.io/v1alpha1",
        kind: "RqBackup",
        metadata: { name: "demo-once" },
        spec: {
          cluster: "demo",
          destination: {
            s3: {
              bucket: "no-server",
              endpoint: "http://127.0.0.1:9",
              forcePathStyle: true,
              credentialsSecret: { name: "no-server" },
            },
          },
        },
      }),
    });
    await eventually("the RqBackup has a phase", async () => {
      const b = await getJson<{ status?: { phase?: string } }>(["get", "rqb", "demo-once"]);
      return b.status?.phase;
    });
    // Its retries would otherwise go on writing after this suite, for suites that share the plane.
    await kubectl(["delete", "rqb", "demo-once", "--wait"]);
  });

  it("a pvc RqBackup gets its Job from the controller", async () => {
    // Creating the Job is what the RBAC check below needs (batch jobs create, list, watch); what
    // the Job writes, and how it ends, is tested in test/e2e/rqbackup-pvc.test.ts.
    await stack.cp.kubectlOk(["apply", "-n", ns, "-f", "-"], {
      input: JSON.stringify({
        apiVersion: "v1",
        kind: "PersistentVolumeClaim",
        metadata: { name: "demo-backups" },
        spec: { accessModes: ["ReadWriteOnce"], resources: { requests: { storage: "1Gi" } } },
      }),
    });
    await stack.cp.kubectlOk(["apply", "-n", ns, "-f", "-"], {
      input: JSON.stringify({
        apiVersion: "rqlite.io/v1alpha1",
        kind: "RqBackup",
        metadata: { name: "demo-to-pvc" },
        spec: { cluster: "demo", destination: { pvc: { claimName: "demo-backups" } } },
      }),
    });
    await eventually("the backup Job exists", async () => {
      const jobs = await getJson<{ items: unknown[] }>(["get", "jobs", "-l", "rqlite.io/backup-job=demo-to-pvc"]);
      return jobs.items.length === 1;
    });
  });

  it("an RqScheduledBackup fires RqBackups and deletes those beyond its history", async () => {
    // The schedule's own scenarios are in test/e2e/rqscheduledbackup.test.ts. Here a claim that
    // does not exist fails each RqBackup at once, so firings every 2 s leave failed backups for
    // retention to delete, which the RBAC check below needs to see.
    const label = "rqlite.io/scheduled-backup=demo-often";
    await stack.cp.kubectlOk(["apply", "-n", ns, "-f", "-"], {
      input: JSON.stringify({
        apiVersion: "rqlite.io/v1alpha1",
        kind: "RqScheduledBackup",
        metadata: { name: "demo-often" },
        spec: {
          schedule: "@every 2s",
          failedBackupsHistoryLimit: 1,
          backup: { cluster: "demo", destination: { pvc: { claimName: "no-such-claim" } } },
        },
      }),
    });
    const names = async () =>
      (await getJson<{ items: Array<{ metadata: { name: string } }> }>(["get", "rqb", "-l", label])).items.map(
        (b) => b.metadata.name,
      );
    const first = await eventually("the first firing's RqBackup", async () => (await names())[0]);
    await eventually("a later firing, and the first RqBackup deleted by retention", async () => {
      const now = await names();
      return now.length > 0 && !now.includes(first);
    });
    const status = await getJson<{ status?: { lastScheduleTime?: string } }>(["get", "rqsb", "demo-often"]);
    assert.ok(status.status?.lastScheduleTime, "the schedule's status says when it last fired");
    await kubectl(["delete", "rqsb", "demo-often", "--wait=true"]);
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
      const what = `${o.apiGroup ?? ""}/${o.resource}${o.subresource ? `/${o.subresource}` : ""}`;
      used.add(`${e.verb} ${what}`);
      // A server-side apply that creates the object (201) is authorized as a create too.
      if (e.verb === "patch" && e.responseStatus?.code === 201) used.add(`create ${what}`);
    }
    const granted = new Set<string>();
    type Rbac = { kind?: string; rules?: Array<{ apiGroups: string[]; resources: string[]; verbs: string[] }> };
    for (const doc of parseAllDocuments(await readFile(join(root, "deploy/base/controller-rbac.yaml"), "utf8")).map(
      (d) => d.toJS() as Rbac | null,
    )) {
      if (doc?.kind !== "ClusterRole" && doc?.kind !== "Role") continue;
      for (const rule of doc.rules ?? []) {
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
