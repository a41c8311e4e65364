// `npm run local -- --real`, run as a user runs it: on a real cluster (kubelets, containerd,
// CoreDNS, enforced NetworkPolicies) with the operator installed by its Helm chart from its
// image, every line it prints works when pasted into bash (backup and restore included); then
// `kubectl rqlite` reaches a cluster with spec.auth through a port-forward, which the pod proxy
// cannot (it strips Authorization); Ctrl-C leaves nothing behind.
import { strict as assert } from "node:assert";
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { eventually } from "../../testenv/eventually.js";
import { spawnTsx } from "../../testenv/processes.js";

const root = fileURLToPath(new URL("../..", import.meta.url));
type Ran = { code: number; stdout: string; stderr: string; ms: number };
/** A line run as a user pastes it into bash. */
const shell = (line: string, env: Record<string, string> = {}) =>
  new Promise<Ran>((resolve) => {
    const started = Date.now();
    execFile(
      "bash",
      ["-c", line],
      { timeout: 360_000, maxBuffer: 16 << 20, env: { ...process.env, ...env } },
      (err, stdout, stderr) =>
        resolve({
          code: err ? (typeof err.code === "number" ? err.code : 1) : 0,
          stdout,
          stderr,
          ms: Date.now() - started,
        }),
    );
  });
const ok = async (line: string, env?: Record<string, string>): Promise<string> => {
  const r = await shell(line, env);
  assert.equal(r.code, 0, `${line}\n${r.stdout}${r.stderr}`);
  return r.stdout;
};

describe("npm run local -- --real", function () {
  // A cold cache builds every Kubernetes part and image first.
  this.timeout(3_600_000);
  const figures: Record<string, string> = {};

  after(() =>
    console.log(
      `      figures:\n${Object.entries(figures)
        .map(([k, v]) => `        ${k}: ${v}`)
        .join("\n")}`,
    ),
  );

  it("prints the lines of npm run local, each working on the real cluster; the plugin reaches an auth cluster by port-forward; Ctrl-C cleans up", async () => {
    const started = Date.now();
    const local = spawnTsx(join(root, "local/main.ts"), root, ["--real"]);
    const { child, exited } = local;
    const lines = () =>
      local.out
        .split("\n")
        .filter((l) => l.startsWith("  "))
        .map((l) => l.trim());
    const printed = (fragment: string) => {
      const line = lines().find((l) => l.includes(fragment));
      assert.ok(line, `a printed line with "${fragment}" in:\n${local.out}`);
      return line;
    };
    try {
      await eventually("the try: lines", () => local.out.includes("Ctrl-C stops everything"), 3_000_000, {
        state: () => local.out.slice(-2000),
      });
      figures["start to the try: lines"] = `${((Date.now() - started) / 1000).toFixed(1)} s`;
      const available = /Available ([\d.]+) s after kubectl apply/.exec(local.out);
      assert.ok(available, local.out);
      figures["kubectl apply to Available"] = `${available[1]} s`;
      for (const m of local.out.matchAll(/^local: (.*(?:Ready in|done in) .*)$/gm)) console.log(`      ${m[1]}`);

      // The kubectl lines, in the order printed.
      const kubeconfig = /--kubeconfig (\S+\/admin\.kubeconfig)/.exec(local.out)![1]!;
      assert.match(await ok(printed("get rqc,pods,pvc,svc")), /^rqcluster\.rqlite\.io\/demo /m);
      // Available is a quorum; the third voter's readiness probe (every 5 s) may pass a little later.
      let wide = "";
      await eventually(
        "3 demo Pods 1/1 Running in the printed get pods line",
        async () => {
          wide = await ok(printed("get pods -o wide"));
          return wide.split("\n").filter((l) => /^demo-\d +1\/1 +Running /.test(l)).length === 3;
        },
        60_000,
        { intervalMs: 1000, state: () => wide },
      );
      const pods = (
        JSON.parse(await ok(`kubectl --kubeconfig ${kubeconfig} get pods -n default -o json`)) as {
          items: Array<{ metadata: { name: string }; spec: { nodeName?: string }; status: { podIP?: string } }>;
        }
      ).items.filter((p) => /^demo-\d$/.test(p.metadata.name));
      console.log(
        `      ${pods.map((p) => `${p.metadata.name} on ${p.spec.nodeName} at ${p.status.podIP}`).join(", ")}`,
      );
      // Each voter on a node of its own, at a Pod IP of the CNI (not a loopback stand-in).
      assert.equal(new Set(pods.map((p) => p.spec.nodeName)).size, 3, wide);
      assert.ok(
        pods.every((p) => /^10\.244\.\d+\.\d+$/.test(p.status.podIP ?? "")),
        wide,
      );
      const nodes = await ok(printed("get nodes -L topology.kubernetes.io/zone"));
      assert.deepEqual(
        nodes
          .split("\n")
          .filter((l) => l.startsWith("node-"))
          .map((l) => l.split(/\s+/).pop())
          .sort(),
        ["zone-a", "zone-b", "zone-c"],
        nodes,
      );
      assert.match(await ok(printed("get lease -n rqlite-operator-system")), /rqlite-operator/);
      const status = await ok(printed("kubectl rqlite status demo "));
      assert.match(status, /^RqCluster default\/demo: Running/m, status);
      assert.match(status, /leader/, status);

      // The curl lines, through the pod tunnels on this machine's loopback.
      const executed = await ok(printed("/db/execute"));
      assert.match(executed, /"rows_affected":1/, executed);
      assert.doesNotMatch(executed, /"error"/, executed);
      assert.match(await ok(printed("/db/query")), /"hello"/);

      // Backup by the plugin, the same RqBackup by kubectl (unchanged), restore into a new cluster.
      const backup = await shell(printed("kubectl rqlite backup demo "));
      assert.equal(backup.code, 0, `${backup.stdout}${backup.stderr}`);
      assert.match(backup.stdout, /^RqBackup default\/demo-backup Completed: .* to s3:\/\/backups\/demo\//m);
      figures["backup by the printed line"] = `${(backup.ms / 1000).toFixed(1)} s: ${backup.stdout.trim()}`;
      await ok(printed("backup.yaml"));
      assert.match(await ok(printed("get rqb -n default")), /^demo-backup +demo +Completed /m);
      await ok(printed("restore.yaml"));
      const waited = await shell(printed("rqc/demo-restored --for=condition=Available"));
      assert.equal(waited.code, 0, waited.stderr);
      figures["restore apply to Available"] = `${(waited.ms / 1000).toFixed(1)} s`;
      assert.match(
        await ok(printed("kubectl rqlite status demo-restored")),
        /^Restored: True .*restored from s3:\/\/backups\/demo\/.* \(RqBackup demo-backup\)$/m,
      );
      assert.match(await ok(printed("kubectl rqlite query demo-restored")), /^1 +hello$/m);

      // The scale line, last: 5 voters, each Ready.
      await ok(printed("--replicas=5"));
      const scaled = await shell(
        `kubectl --kubeconfig ${kubeconfig} wait -n default rqc/demo --for=jsonpath='{.status.readyReplicas}'=5 --timeout=300s`,
      );
      assert.equal(scaled.code, 0, scaled.stderr);
      figures["scale 3 to 5, Ready"] = `${(scaled.ms / 1000).toFixed(1)} s`;

      await portForwardOnAuthCluster(kubeconfig, figures);

      const dir = kubeconfig.replace(/\/admin\.kubeconfig$/, "");
      const stopping = Date.now();
      child.kill("SIGINT");
      assert.equal(await exited, 0, local.out.slice(-2000));
      figures["Ctrl-C to exit"] = `${((Date.now() - stopping) / 1000).toFixed(1)} s`;
      assert.equal(existsSync(dir), false, "the run's folder is removed");
      const real = /logs in (\S+)\)/.exec(local.out)![1]!;
      assert.equal(existsSync(real), false, "the real cluster's folder is removed");
    } finally {
      if (child.exitCode === null) child.kill("SIGKILL");
    }
  });
});

/**
 * An RqCluster with spec.auth in the demo's world: the plugin's SQL and status go through a
 * port-forward (the default for it) with the operator's credentials or --rqlite-user's; through
 * the pod proxy they get rqlite's 401, said in one line.
 */
async function portForwardOnAuthCluster(kubeconfig: string, figures: Record<string, string>): Promise<void> {
  const kubectl = `kubectl --kubeconfig ${kubeconfig} -n default`;
  const plugin = `PATH="${join(root, "cli")}:$PATH" kubectl rqlite -n default --kubeconfig ${kubeconfig}`;
  const users = JSON.stringify([{ username: "app", password: "app-password-1", perms: ["all"] }]);
  await ok(`${kubectl} create secret generic locked-users --from-literal='users.json=${users}'`);
  const applied = Date.now();
  await ok(
    `echo '${JSON.stringify({ apiVersion: "rqlite.io/v1alpha1", kind: "RqCluster", metadata: { name: "locked" }, spec: { replicas: 3, auth: { secretName: "locked-users" } } })}' | ${kubectl} apply -f -`,
  );
  await ok(`${kubectl} wait rqc/locked --for=condition=Available --timeout=300s`);
  figures["auth cluster apply to Available"] = `${((Date.now() - applied) / 1000).toFixed(1)} s`;

  const created = await shell(`${plugin} exec locked "CREATE TABLE secrets (id INTEGER PRIMARY KEY, v TEXT)"`);
  assert.equal(created.code, 0, created.stderr);
  const inserted = await shell(`${plugin} exec locked "INSERT INTO secrets(v) VALUES('through a port-forward')"`);
  assert.equal(inserted.code, 0, inserted.stderr);
  assert.match(inserted.stdout, /^1 row\(s\) affected, last insert id 1$/m);
  const query = await shell(`${plugin} query locked "SELECT * FROM secrets" --level strong`);
  assert.equal(query.code, 0, query.stderr);
  assert.match(query.stdout, /^1 +through a port-forward$/m);
  figures["kubectl rqlite query (auth, port-forward)"] = `${query.ms} ms`;
  console.log(`      kubectl rqlite query locked (auth, by port-forward):\n${indent(query.stdout)}`);
  const status = await shell(`${plugin} status locked`);
  assert.equal(status.code, 0, status.stderr);
  assert.doesNotMatch(status.stdout, /credentials/, status.stdout);
  // Every member's rqlite answered: role, version and applied index, as rqlite's /status said.
  const members = status.stdout.match(/^locked-\d+ +(leader|voter) +true +Running +v8\.43\.4 +\d+ /gm) ?? [];
  assert.equal(members.length, 3, status.stdout);
  assert.equal(members.filter((m) => / leader /.test(m)).length, 1, status.stdout);
  figures["kubectl rqlite status (auth, port-forward)"] = `${status.ms} ms`;
  console.log(`      kubectl rqlite status locked (auth, by port-forward):\n${indent(status.stdout)}`);

  // The application's own user, its password from the environment only.
  const asApp = await shell(`${plugin} query locked "SELECT count(*) FROM secrets" --rqlite-user app`, {
    RQLITE_PASSWORD: "app-password-1",
  });
  assert.equal(asApp.code, 0, asApp.stderr);
  assert.match(asApp.stdout, /^1$/m);
  const wrong = await shell(`${plugin} query locked "SELECT 1" --rqlite-user app`, { RQLITE_PASSWORD: "wrong" });
  assert.equal(wrong.code, 1);
  assert.match(wrong.stderr, /^error: cannot run the query on node locked-\d+: rqlite refused the credentials; /m);
  // The pod proxy, asked for explicitly, cannot carry them.
  const proxied = await shell(`${plugin} query locked "SELECT 1" --transport proxy`);
  assert.equal(proxied.code, 1);
  assert.match(
    proxied.stderr,
    /^error: cannot run the query on node locked-\d+: rqlite asks for credentials, which the API server's pod proxy does not pass on; this cluster runs with spec\.auth: use --transport port-forward$/m,
  );
  // And a cluster without auth answers through a port-forward too, when asked.
  const forced = await shell(`${plugin} query demo "SELECT v FROM t WHERE id = 1" --transport port-forward`);
  assert.equal(forced.code, 0, forced.stderr);
  assert.match(forced.stdout, /^hello$/m);
}

const indent = (text: string) =>
  text
    .trimEnd()
    .split("\n")
    .map((l) => `        ${l}`)
    .join("\n");
