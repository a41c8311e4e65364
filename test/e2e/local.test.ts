// `npm run local`, the README's first command, run as a user runs it: the lines it prints work
// (the backup and the restore into a new cluster too: rows written = rows read, on every node
// of the restored cluster), a port-forward is refused with the reason (no kubelet), and Ctrl-C
// leaves nothing behind.
import { strict as assert } from "node:assert";
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { Registry } from "prom-client";
import { KubeClient, loadKubeConfig } from "../../controller/runtime/kubeClient.js";
import { eventually } from "../../testenv/eventually.js";
import { isAlive, spawnTsx } from "../../testenv/processes.js";
import { digest } from "./backupData.js";
import { monitoredChange } from "./monitoredChange.js";
import { createRowsTable, type AckedRow } from "./rows.js";

const root = fileURLToPath(new URL("../..", import.meta.url));
const run = promisify(execFile);
/** A printed line run as a user pastes it into bash; resolves with what it printed and its exit code. */
const shell = (line: string) =>
  new Promise<{ code: number; stdout: string; stderr: string }>((resolve) =>
    execFile("bash", ["-c", line], { timeout: 360_000, maxBuffer: 16 << 20 }, (err, stdout, stderr) =>
      resolve({ code: err ? (typeof err.code === "number" ? err.code : 1) : 0, stdout, stderr }),
    ),
  );
/** The printed line that contains `fragment`. */
const printed = (out: string, fragment: string): string => {
  const line = out.split("\n").find((l) => l.startsWith("  ") && l.includes(fragment));
  assert.ok(line, `a printed line with "${fragment}" in:\n${out}`);
  return line.trim();
};
const ROWS = 100;

describe("npm run local", function () {
  this.timeout(900_000);

  it("brings up a 3-node cluster whose printed kubectl, rqlite, backup and restore lines work, and stops cleanly on Ctrl-C", async () => {
    const local = spawnTsx(join(root, "local/main.ts"), root);
    const { child, exited } = local;
    try {
      await eventually("the try: lines", () => local.out.includes("Ctrl-C stops everything"), 180_000);
      const available = /Available ([\d.]+) s after kubectl apply/.exec(local.out);
      assert.ok(available, local.out);
      console.log(`      kubectl apply to Available: ${available[1]} s`);

      const kubectlLine = /^ {2}kubectl --kubeconfig (\S+) get rqc,pods,pvc,svc -n default$/m.exec(local.out)!;
      // Available can come a moment before the phase settles (e.g. Degraded while a member's
      // readiness is still being recorded), so the phase is waited for, not sampled once.
      let phase = "";
      await eventually(
        "RqCluster demo Running",
        async () =>
          (phase = (
            await run("kubectl", [
              "--kubeconfig",
              kubectlLine[1]!,
              "get",
              "rqc",
              "demo",
              "-n",
              "default",
              "-o",
              "jsonpath={.status.phase}",
            ])
          ).stdout) === "Running",
        60_000,
        { state: () => phase },
      );

      // The Pods run on the runtime's Nodes, placed by the scheduler, and their claims are Bound.
      assert.match(local.out, /^ {2}kubectl --kubeconfig \S+ get pods -o wide -n default$/m);
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

      const node = /curl -s 'http:\/\/([\d.]+):4001\/db\/query/.exec(local.out)![1]!;
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

      // Backup and restore, by the printed lines: rows written in the demo = rows read on every
      // node of the cluster restored from its backup. The backup runs under the invariant monitor
      // with a writer, and every row it acknowledged is on every node of the demo afterwards.
      const values = Array.from({ length: ROWS - 1 }, (_, i) => `('row-${i + 2}')`).join(", ");
      const more = await fetch(`http://${node}:4001/db/execute`, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify([`INSERT INTO t(v) VALUES ${values}`]),
      });
      assert.equal(more.status, 200);
      // Read from demo-0 itself (level none): wait until it has applied the inserts.
      let written = await digest("default", "demo-0", "t");
      await eventually(
        `demo-0 to hold the ${ROWS} rows`,
        async () => (written = await digest("default", "demo-0", "t")).rows === ROWS,
        30_000,
      );
      const client = new KubeClient(loadKubeConfig(kubectlLine[1]), new Registry());
      const acked: AckedRow[] = [];
      const figures: Record<string, string> = {};
      await createRowsTable("default", "demo-0");
      const backupLine = printed(local.out, "kubectl rqlite backup demo ");
      let backupRun = { code: -1, stdout: "", stderr: "" };
      await monitoredChange(
        {
          name: "backup by the printed line",
          client,
          namespace: "default",
          cluster: "demo",
          acked,
          podsAfter: () => ["demo-0", "demo-1", "demo-2"],
          figures,
        },
        async () => {
          backupRun = await shell(backupLine);
        },
      );
      assert.equal(backupRun.code, 0, `${backupLine}\n${backupRun.stdout}${backupRun.stderr}`);
      assert.match(backupRun.stdout, /^RqBackup default\/demo-backup Completed: .* to s3:\/\/backups\/demo\//m);
      console.log(`      ${backupRun.stdout.trim()}`);
      const rqb = await shell(printed(local.out, "get rqb -n default"));
      assert.match(rqb.stdout, /^demo-backup +demo +Completed /m, rqb.stdout);

      const restoreLine = printed(local.out, "restore.yaml");
      const restoreStarted = Date.now();
      assert.equal((await shell(restoreLine)).code, 0, restoreLine);
      const waited = await shell(printed(local.out, "rqc/demo-restored --for=condition=Available"));
      assert.equal(waited.code, 0, waited.stderr);
      console.log(
        `      demo-restored Available ${((Date.now() - restoreStarted) / 1000).toFixed(1)} s after kubectl apply`,
      );
      for (const pod of ["demo-restored-0", "demo-restored-1", "demo-restored-2"])
        assert.deepEqual(await digest("default", pod, "t"), written, `${pod} holds every row of the backup, in order`);
      console.log(
        `      rows written ${written.rows} = rows read on each of 3 restored nodes, sha256 ${written.sha256.slice(0, 16)}`,
      );
      const status = await shell(printed(local.out, "kubectl rqlite status demo-restored"));
      assert.equal(status.code, 0, status.stderr);
      assert.match(
        status.stdout,
        /^Restored: True .*restored from s3:\/\/backups\/demo\/.* \(RqBackup demo-backup\)$/m,
      );
      const rows = await shell(printed(local.out, "kubectl rqlite query demo-restored"));
      assert.equal(rows.code, 0, rows.stderr);
      assert.equal(rows.stdout.trim().split("\n").length, ROWS + 1, "a header and every row");
      assert.match(rows.stdout, /^1 +hello$/m);

      // A port-forward needs the node's kubelet, which the local runtime does not run: the plugin
      // says so (npm run local -- --real, test/real/local.test.ts, has one).
      const forwarded = await shell(
        `${printed(local.out, "kubectl rqlite status demo ").replace(/ status demo /, " query demo 'SELECT 1' --transport port-forward ")}`,
      );
      assert.equal(forwarded.code, 1, forwarded.stdout);
      assert.match(
        forwarded.stderr,
        /^error: cannot run the query on node demo-\d: no port-forward to Pod demo-\d \(.*\); a port-forward goes through the kubelet of the Pod's node, which a simulated runtime \(npm run local without --real\) does not run: use --transport proxy$/m,
      );

      const dir = /--kubeconfig (\/\S+)\/admin\.kubeconfig/.exec(local.out)![1]!;
      const s3Root = /S3 server \(versitygw\) serving on \S+ with bucket\(s\) backups \(data in (\S+)\)/.exec(
        local.out,
      )![1]!;
      const pids = (await Promise.all([dir, s3Root].map((d) => run("pgrep", ["-f", d]))))
        .flatMap((r) => r.stdout.trim().split("\n"))
        .map(Number);
      child.kill("SIGINT");
      assert.equal(await exited, 0, local.out.slice(-2000));
      await eventually("every process of the run to exit", () => pids.every((p) => !isAlive(p)), 15_000);
      assert.equal(existsSync(dir), false, "the run's folder is removed");
      assert.equal(existsSync(dirname(s3Root)), false, "the S3 server's folder is removed");
    } finally {
      if (child.exitCode === null) child.kill("SIGKILL");
    }
  });
});
