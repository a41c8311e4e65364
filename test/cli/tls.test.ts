// A second cluster, "web", serving rqlite's API over HTTPS (spec.tls.http) with secrets planted
// where a support bundle could pick them up; then one of its two voters hangs, so it has no leader.
import { strict as assert } from "node:assert";
import { execFile } from "node:child_process";
import { mkdtemp, readdir, readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { loopbackAddress } from "../../shared/loopback-address.js";
import { generateCa, issueCert } from "../../testenv/pki.js";
import { expectExit, kubectlRqlite } from "./support/plugin.js";
import { cliStack, startCluster, type CliStack } from "./support/stack.js";

const WEB = "web";
const PLANTED_TOKEN = "planted-env-token-6f1d2c";
const PLANTED_SECRET = "planted-secret-value-93ab7e";

describe("kubectl rqlite on a cluster with tls.http", function () {
  this.timeout(300_000);
  let s: CliStack;
  let dir: string;
  let tlsKey: string;
  const run = (...args: string[]) => kubectlRqlite(s, args);

  before(async () => {
    s = await cliStack();
    dir = await mkdtemp(join(tmpdir(), "rqo-cli-tls-"));
    await generateCa(dir, "/CN=rqlite-cli-test-ca");
    // The operator dials each node by its loopback address and checks the certificate for it.
    const sans = [0, 1].map((n) => `IP:${loopbackAddress(s.namespace, `${WEB}-${n}`)}`).join(",");
    const leaf = await issueCert(
      dir,
      "web-http",
      `/CN=${WEB}`,
      `subjectAltName=${sans}\nextendedKeyUsage=serverAuth\n`,
    );
    tlsKey = await readFile(leaf.key, "utf8");
    await s.stack.cp.kubectlOk([
      "create",
      "secret",
      "generic",
      "web-http-tls",
      "-n",
      s.namespace,
      "--type=kubernetes.io/tls",
      `--from-file=tls.crt=${leaf.cert}`,
      `--from-file=tls.key=${leaf.key}`,
      `--from-file=ca.crt=${join(dir, "ca.crt")}`,
      `--from-literal=planted=${PLANTED_SECRET}`,
    ]);
    await startCluster(s, WEB, {
      replicas: 2,
      tls: { http: { secretName: "web-http-tls" } },
      env: [{ name: "API_TOKEN", value: PLANTED_TOKEN }],
    });
  });

  it("reaches HTTPS nodes through the pod proxy", async () => {
    const status = expectExit(await run("status", WEB), 0);
    assert.match(status.stdout, /^web-[01] +leader +true +Running +v8\.43\.4/m);
    const rows = expectExit(await run("query", WEB, "SELECT 40 + 2 AS answer", "-o", "json"), 0);
    assert.deepEqual(JSON.parse(rows.stdout), [{ answer: 42 }]);
  });

  it("report writes a bundle with the cluster, children, events and nodes, and no secret in it", async () => {
    const file = join(dir, "report.tar.gz");
    const out = expectExit(await run("report", WEB, "-f", file), 0);
    assert.match(out.stdout, /^wrote .*report\.tar\.gz: \d+ files, secrets redacted$/m);
    const unpacked = join(dir, "unpacked");
    await promisify(execFile)("mkdir", ["-p", unpacked]);
    await promisify(execFile)("tar", ["xzf", file, "-C", unpacked]);
    const top = join(unpacked, `rqlite-report-${s.namespace}-${WEB}`);
    const files = await listFiles(top);
    for (const f of [
      "cluster.yaml",
      "children/pods.yaml",
      "children/persistentvolumeclaims.yaml",
      "children/services.yaml",
      "children/poddisruptionbudgets.yaml",
      "children/secrets.yaml",
      "events.yaml",
      "status.yaml",
      "operator/leases.yaml",
      "operator/deployments.yaml",
      "nodes/web-0/status.json",
      "nodes/web-1/nodes.json",
      "ERRORS.txt",
    ])
      assert.ok(files.includes(f), `${f} in the bundle (it has ${files.join(", ")})`);
    assert.match(await readFile(join(top, "operator/leases.yaml"), "utf8"), /holderIdentity/);
    assert.match(await readFile(join(top, "nodes/web-0/status.json"), "utf8"), /"node_id": "web-0"/);
    assert.match(await readFile(join(top, "children/secrets.yaml"), "utf8"), /tls\.key: REDACTED/);
    // Every planted value, in every form it could take, is absent from every file.
    const keyLines = tlsKey.split("\n").filter((l) => l.length > 20 && !l.startsWith("-----"));
    const needles = [PLANTED_TOKEN, PLANTED_SECRET, ...keyLines].flatMap((v) => [v, Buffer.from(v).toString("base64")]);
    assert.ok(keyLines.length > 0);
    const { stdout: leaks } = await promisify(execFile)("grep", [
      "-rlF",
      ...needles.flatMap((n) => ["-e", n]),
      top,
    ]).catch((err: { code?: number; stdout?: string }) => {
      if (err.code === 1) return { stdout: "" };
      throw err as Error;
    });
    assert.equal(leaks, "", `planted secrets found in ${leaks}`);
  });

  it("with one of two voters hung there is no leader: status says so, query names the cause", async () => {
    const leader = (
      JSON.parse(await s.stack.cp.kubectlOk(["get", "rqc", WEB, "-n", s.namespace, "-o", "json"])) as {
        status: { leader: string };
      }
    ).status.leader;
    await s.stack.runtime.freeze(s.namespace, leader);
    const query = await waitForNoLeader(() => run("query", WEB, "SELECT 1"));
    assert.match(
      query.stderr,
      /^error: cannot run the query: the cluster has no rqlite leader right now \(node web-[01] says ".*leader not found.*"\); wait for an election, or see kubectl rqlite status$/m,
    );
    const status = expectExit(await run("status", WEB, "-o", "json"), 0);
    const members = (JSON.parse(status.stdout) as { members: Array<{ name: string; role: string; error?: string }> })
      .members;
    assert.ok(!members.some((m) => m.role === "leader"), JSON.stringify(members));
    assert.match(members.find((m) => m.name === leader)?.error ?? "", /did not answer within 3 s/);
  });
});

/** rqlite notices a lost leader after its election timeout: retry until the answer says so. */
async function waitForNoLeader(query: () => ReturnType<typeof kubectlRqlite>) {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const r = await query();
    if (r.code === 1 && /no rqlite leader/.test(r.stderr)) return r;
    if (Date.now() > deadline) throw new Error(`never saw "no leader": exit ${r.code}, ${r.stderr}${r.stdout}`);
    await new Promise((res) => setTimeout(res, 1000));
  }
}

async function listFiles(dir: string, prefix = ""): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const rel = prefix ? `${prefix}/${e.name}` : e.name;
    if (e.isDirectory()) out.push(...(await listFiles(join(dir, e.name), rel)));
    else out.push(rel);
  }
  return out;
}
