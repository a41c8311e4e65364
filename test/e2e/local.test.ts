// `npm run local`, the README's first command, run as a user runs it: the lines it prints work,
// and Ctrl-C leaves nothing behind.
import { strict as assert } from "node:assert";
import { execFile, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { eventually } from "../../testenv/eventually.js";
import { isAlive } from "../../testenv/processes.js";

const root = fileURLToPath(new URL("../..", import.meta.url));
const run = promisify(execFile);

describe("npm run local", function () {
  this.timeout(240_000);

  it("brings up a 3-node cluster whose printed kubectl and rqlite lines work, and stops cleanly on Ctrl-C", async () => {
    const child = spawn(process.execPath, ["--import", "tsx", join(root, "local/main.ts")], {
      cwd: root,
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, TESTENV_QUIET: "1" },
    });
    let out = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((r) => child.once("exit", r));
    try {
      await eventually("the try: lines", () => out.includes("Ctrl-C stops everything"), 180_000);
      const available = /Available ([\d.]+) s after kubectl apply/.exec(out);
      assert.ok(available, out);
      console.log(`      kubectl apply to Available: ${available[1]} s`);

      const kubectlLine = /^ {2}kubectl --kubeconfig (\S+) get rqc,pods,pvc,svc -n default$/m.exec(out)!;
      const { stdout } = await run("kubectl", [
        "--kubeconfig",
        kubectlLine[1]!,
        "get",
        "rqc",
        "demo",
        "-n",
        "default",
        "-o",
        "jsonpath={.status.phase}",
      ]);
      assert.equal(stdout, "Running");

      // The Pods run on the runtime's Nodes, placed by the scheduler, and their claims are Bound.
      assert.match(out, /^ {2}kubectl --kubeconfig \S+ get pods -o wide -n default$/m);
      const list = async (kind: string) =>
        (
          JSON.parse(
            (await run("kubectl", ["--kubeconfig", kubectlLine[1]!, "get", kind, "-n", "default", "-o", "json"]))
              .stdout,
          ) as { items: Array<{ metadata: { name: string }; spec: { nodeName?: string }; status: { phase?: string } }> }
        ).items;
      const placed = (await list("pods")).map((p) => `${p.metadata.name} ${p.status.phase} on ${p.spec.nodeName}`);
      const claims = (await list("pvc")).map((c) => `${c.metadata.name} ${c.status.phase}`);
      console.log(`      ${placed.join(", ")}; PVCs ${claims.join(", ")}`);
      assert.equal(placed.length, 3);
      assert.ok(
        placed.every((p) => / Running on node-[a-c]$/.test(p)),
        placed.join(", "),
      );
      assert.ok(claims.length === 3 && claims.every((c) => c.endsWith(" Bound")), claims.join(", "));

      const node = /curl -s 'http:\/\/([\d.]+):4001\/db\/query/.exec(out)![1]!;
      assert.match(node, /^127\./, "the printed address is loopback");
      const execute = await fetch(`http://${node}:4001/db/execute`, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(["CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)", "INSERT INTO t(v) VALUES('hello')"]),
      });
      assert.equal(execute.status, 200);
      const query = (await (await fetch(`http://${node}:4001/db/query?level=strong&q=SELECT+v+FROM+t`)).json()) as {
        results: Array<{ values: unknown[][] }>;
      };
      assert.deepEqual(query.results[0]!.values, [["hello"]]);

      const dir = /--kubeconfig (\/\S+)\/admin\.kubeconfig/.exec(out)![1]!;
      const pids = (await run("pgrep", ["-f", dir])).stdout.trim().split("\n").map(Number);
      child.kill("SIGINT");
      assert.equal(await exited, 0, out.slice(-2000));
      await eventually("every process of the run to exit", () => pids.every((p) => !isAlive(p)), 15_000);
      assert.equal(existsSync(dir), false, "the run's folder is removed");
    } finally {
      if (child.exitCode === null) child.kill("SIGKILL");
    }
  });
});
