// Each command of `kubectl rqlite`, run through kubectl against real rqlited nodes: what a person
// sees (key lines, exit codes) and what a script reads (the JSON/YAML shape).
import { strict as assert } from "node:assert";
import { parse } from "yaml";
import { performance } from "node:perf_hooks";
import { Kube } from "../../cli/kube.js";
import { clusterStatus } from "../../cli/status.js";
import { eventually } from "../../testenv/eventually.js";
import { expectExit, kubectlRqlite } from "./support/plugin.js";
import { cliStack, DEMO, waitConverged, type CliStack } from "./support/stack.js";

interface StatusJson {
  name: string;
  phase: string;
  leader?: string;
  conditions: Array<{ type: string; status: string }>;
  members: Array<{ name: string; role: string; ready: boolean; version?: string; appliedIndex?: number; lag?: number }>;
  pvcs: Array<{ name: string }>;
  events: Array<{ reason: string }>;
}

describe("kubectl rqlite commands on a 5-voter cluster with a read replica", function () {
  this.timeout(300_000);
  let s: CliStack;
  const run = (...args: string[]) => kubectlRqlite(s, args);
  const ok = async (...args: string[]) => expectExit(await run(...args), 0);
  const statusJson = async () => JSON.parse((await ok("status", DEMO, "-o", "json")).stdout) as StatusJson;

  before(async () => {
    s = await cliStack();
  });

  it("status shows phase, conditions, every member's role, lag and version, PVCs and events", async () => {
    const { stdout, ms } = await ok("status", DEMO);
    console.log(
      `      kubectl rqlite status ${DEMO} (${ms} ms, process start included):\n${stdout.replace(/^/gm, "        ")}`,
    );
    assert.match(stdout, new RegExp(`^RqCluster ${s.namespace}/${DEMO}: Running`, "m"));
    assert.match(stdout, /Voters ready: 5\/5 {3}Read replicas ready: 1\/1 {3}Leader: demo-\d/);
    assert.match(stdout, /^Available +True/m);
    for (const n of [0, 1, 2, 3, 4])
      assert.match(stdout, new RegExp(`^demo-${n} +(leader|voter) +true +Running +v8\\.43\\.4 +\\d+ +\\d+$`, "m"));
    assert.match(stdout, /^demo-ro-0 +read-only +true +Running +v8\.43\.4 +\d+ +\d+$/m);
    assert.equal(stdout.match(/^demo-\d +leader /gm)?.length, 1, "exactly one leader");
    assert.match(stdout, /^PVC +STATUS +CAPACITY$/m);
    assert.match(stdout, /^demo-ro-0 +\w+ +1Gi$/m);
    assert.match(stdout, /Normal +Created +RqCluster\/demo/);
  });

  it("status -o json and -o yaml give the same document, one entry per member", async () => {
    const json = await statusJson();
    const yaml = parse((await ok("status", DEMO, "-o", "yaml")).stdout) as StatusJson;
    assert.deepEqual(
      yaml.members.map((m) => [m.name, m.role]),
      json.members.map((m) => [m.name, m.role]),
    );
    assert.equal(json.phase, "Running");
    assert.deepEqual(
      json.members.map((m) => m.name),
      ["demo-0", "demo-1", "demo-2", "demo-3", "demo-4", "demo-ro-0"],
    );
    for (const m of json.members) {
      assert.equal(m.ready, true, m.name);
      assert.equal(m.version, "v8.43.4", m.name);
      assert.equal(typeof m.appliedIndex, "number", m.name);
      assert.equal(typeof m.lag, "number", m.name);
    }
    assert.equal(json.members.find((m) => m.role === "leader")?.name, json.leader);
    assert.deepEqual(
      json.conditions.map((c) => c.type),
      ["Ready", "Available", "Progressing", "Degraded"],
    );
    assert.equal(json.pvcs.length, 6);
  });

  it("status gathers its screen in under a second on 6 nodes (one /status each, in parallel)", async () => {
    // Timed in-process: the executable adds Node's and tsx's start-up, the same for every command.
    const kube = Kube.connect({ kubeconfig: s.kubeconfig });
    const times: number[] = [];
    for (let i = 0; i < 3; i++) {
      const started = performance.now();
      const view = await clusterStatus(kube, DEMO);
      times.push(performance.now() - started);
      assert.equal(view.members.filter((m) => m.version).length, 6);
    }
    const best = Math.min(...times);
    console.log(`      status gathered in ${times.map((t) => t.toFixed(0)).join(", ")} ms`);
    assert.ok(best < 1000, `status took ${best.toFixed(0)} ms`);
  });

  it("exec writes and query reads, as a table, CSV, JSON and YAML, at every level", async () => {
    await ok("exec", DEMO, "CREATE TABLE IF NOT EXISTS people (id INTEGER PRIMARY KEY, name TEXT, note TEXT)");
    const insert = await ok(
      "exec",
      DEMO,
      `INSERT INTO people(name, note) VALUES('ada', 'a, "quoted" note'), ('bob', NULL)`,
      "-o",
      "json",
    );
    assert.deepEqual(JSON.parse(insert.stdout), [{ rowsAffected: 2, lastInsertId: 2 }]);
    assert.match(
      (await ok("exec", DEMO, "UPDATE people SET note = 'x' WHERE name = 'bob'")).stdout,
      /^1 row\(s\) affected$/m,
    );
    const table = (await ok("query", DEMO, "SELECT id, name FROM people ORDER BY id")).stdout;
    assert.deepEqual(table.trim().split("\n"), ["id   name", "1    ada", "2    bob"]);
    const csv = (await ok("query", DEMO, "SELECT name, note FROM people ORDER BY id", "-o", "csv")).stdout;
    assert.equal(csv, 'name,note\r\nada,"a, ""quoted"" note"\r\nbob,x\r\n');
    for (const level of ["none", "weak", "strong", "linearizable"]) {
      const rows = JSON.parse(
        (await ok("query", DEMO, "SELECT name FROM people ORDER BY id", "--level", level, "-o", "json")).stdout,
      ) as unknown;
      assert.deepEqual(rows, [{ name: "ada" }, { name: "bob" }], `--level ${level}`);
    }
    assert.deepEqual(parse((await ok("query", DEMO, "SELECT count(*) AS n FROM people", "-o", "yaml")).stdout), [
      { n: 2 },
    ]);
  });

  it("version names the plugin, the operator (not found: no Deployment here) and each node's rqlite", async () => {
    const human = (await ok("version", DEMO)).stdout;
    assert.match(human, /^Plugin: 0\.1\.0$/m);
    assert.match(human, /^Operator: not found$/m);
    assert.match(human, /^demo-ro-0 +v8\.43\.4$/m);
    const json = JSON.parse((await ok("version", DEMO, "-o", "json")).stdout) as {
      nodes: Array<{ name: string; version: string }>;
    };
    assert.equal(json.nodes.length, 6);
    assert.ok(json.nodes.every((n) => n.version === "v8.43.4"));
  });

  it("stepdown --to moves leadership to the named voter, and refuses a read replica as a usage error", async () => {
    const before = (await statusJson()).leader!;
    const to = ["demo-3", "demo-4"].find((n) => n !== before)!;
    const moved = await ok("stepdown", DEMO, "--to", to);
    assert.match(moved.stdout, new RegExp(`moved from ${before} to ${to}`));
    await eventually("the operator to see the new leader", async () => (await statusJson()).leader === to, 30_000);
    const ro = expectExit(await run("stepdown", DEMO, "--to", "demo-ro-0"), 2);
    assert.match(ro.stderr, /^error: --to demo-ro-0 is a read replica; only a voter can lead$/m);
  });

  it("pause and resume set spec.paused, and status shows it", async () => {
    assert.match((await ok("pause", DEMO)).stdout, /paused: the operator observes it but changes nothing/);
    await eventually(
      "status to say Paused",
      async () => (await ok("status", DEMO)).stdout.includes("(paused)"),
      30_000,
    );
    assert.match((await ok("resume", DEMO)).stdout, /resumed/);
    const spec = JSON.parse(await s.stack.cp.kubectlOk(["get", "rqc", DEMO, "-n", s.namespace, "-o", "json"])) as {
      spec: { paused: boolean };
    };
    assert.equal(spec.spec.paused, false);
    await waitConverged(s.stack, s.namespace, DEMO, 5, 1);
  });

  it("recover changes nothing without the uid, and the operator refuses it while a leader answers", async () => {
    const rq = JSON.parse(await s.stack.cp.kubectlOk(["get", "rqc", DEMO, "-n", s.namespace, "-o", "json"])) as {
      metadata: { uid: string };
      spec: { recovery?: unknown };
    };
    const dry = await ok("recover", DEMO);
    assert.match(dry.stdout, /Nothing was changed\. To go ahead: kubectl rqlite recover demo -n \S+ --confirm /);
    assert.ok(dry.stdout.includes(rq.metadata.uid), "names the uid to type");
    const wrong = expectExit(await run("recover", DEMO, "--confirm", "not-the-uid"), 1);
    assert.match(wrong.stderr, /--confirm not-the-uid is not the uid of RqCluster .*nothing was changed/);
    const read = async () =>
      JSON.parse(await s.stack.cp.kubectlOk(["get", "rqc", DEMO, "-n", s.namespace, "-o", "json"])) as {
        spec: { recovery?: { source?: string } };
        status: { recovery?: { phase?: string; message?: string } };
      };
    assert.equal((await read()).spec.recovery, undefined, "no request was made");
    const refused = expectExit(await run("recover", DEMO, "--confirm", rq.metadata.uid, "--timeout", "60s"), 1);
    assert.match(refused.stdout, /recovery Refused/);
    assert.match(refused.stderr, /recovery refused: rqlite leader demo-\d answers: the cluster has quorum/);
    const events = (await ok("status", DEMO)).stdout;
    assert.match(events, /QuorumExists/);
    // From a backup: the same confirmation, the same refusal while the leader answers.
    const dryBackup = await ok("recover", DEMO, "--from-backup");
    assert.match(dryBackup.stdout, /every write after that backup was taken is lost/);
    assert.match(dryBackup.stdout, /To go ahead: kubectl rqlite recover demo -n \S+ --from-backup --confirm /);
    const fromBackup = expectExit(
      await run("recover", DEMO, "--from-backup", "--confirm", rq.metadata.uid, "--timeout", "60s"),
      1,
    );
    assert.match(fromBackup.stderr, /recovery refused: rqlite leader demo-\d answers/);
    assert.equal((await read()).spec.recovery?.source, "Backup");
    await waitConverged(s.stack, s.namespace, DEMO, 5, 1);
  });

  it("scale adds a read replica and waits until Available, with a progress line", async () => {
    const up = await ok("scale", DEMO, "--replicas", "5", "--read-replicas", "2", "--timeout", "3m");
    assert.match(up.stdout, /scaled to 5 voter\(s\) and 2 read replica\(s\)/);
    assert.match(up.stderr, /^demo: \w+, voters ready \d\/5, read replicas ready \d\/2$/m);
    const json = await statusJson();
    assert.deepEqual(
      json.members.filter((m) => m.role === "read-only").map((m) => m.name),
      ["demo-ro-0", "demo-ro-1"],
    );
    const down = await ok("scale", DEMO, "--replicas", "5", "--read-replicas", "1", "--timeout", "3m");
    assert.match(down.stdout, /scaled to 5 voter\(s\) and 1 read replica\(s\)/);
    const bad = expectExit(await run("scale", DEMO, "--replicas", "0"), 2);
    assert.match(bad.stderr, /--replicas <n>' argument '0' is invalid\. expected a whole number from 1 to 9/);
  });

  it("restart rolls every Pod through a pod-template annotation, as kubectl rollout restart does", async () => {
    const uids = async () =>
      (
        JSON.parse(
          await s.stack.cp.kubectlOk(["get", "pods", "-n", s.namespace, "-l", "rqlite.io/cluster=demo", "-o", "json"]),
        ) as {
          items: Array<{ metadata: { name: string; uid: string; annotations?: Record<string, string> } }>;
        }
      ).items;
    const before = new Map((await uids()).map((p) => [p.metadata.name, p.metadata.uid]));
    assert.match(
      (await ok("restart", DEMO)).stdout,
      /restarting: the operator replaces one node at a time, leader last/,
    );
    await eventually(
      "every Pod replaced and carrying the annotation",
      async () =>
        (await uids()).every(
          (p) =>
            before.get(p.metadata.name) !== p.metadata.uid &&
            p.metadata.annotations?.["kubectl.kubernetes.io/restartedAt"],
        ) && (await uids()).length === 6,
      240_000,
    );
    await waitConverged(s.stack, s.namespace, DEMO, 5, 1);
  });
});
