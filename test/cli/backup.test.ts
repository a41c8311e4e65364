// `kubectl rqlite backup` and the backup part of `status`, against the real operator and a real
// S3-compatible server (versitygw, testenv/s3.ts): the RqBackup it creates, --wait following it
// to Completed (exit 0) or Failed (exit 1 with the operator's reason), the destination copied
// from spec.backup, and what status shows (schedule, last success, the RqBackups) in every format.
import { strict as assert } from "node:assert";
import { execFile } from "node:child_process";
import { existsSync, statSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { parse } from "yaml";
import { parseS3Location } from "../../shared/backup-names.js";
import { eventually } from "../../testenv/eventually.js";
import type { S3TestServer } from "../../testenv/s3.js";
import { expectExit, kubectlRqlite } from "./support/plugin.js";
import { cliStackWithS3, DEMO, startCluster, type CliStack } from "./support/stack.js";

const exec = promisify(execFile);
const BUCKET = "cli-backups";
const SECRET = "s3-credentials";
// A one-voter cluster with scheduled backups (an interval long enough that rqlite never uploads
// during the test), so `backup` has a spec.backup to copy.
const SCHEDULED = "bk";

interface StatusJson {
  backup: {
    schedule?: { destination: string; endpoint?: string; interval: string; retention?: { keepLast?: number } };
    lastSuccessfulTime?: string;
    backups: Array<{ name: string; phase: string; size?: number; location?: string; reason?: string }>;
  };
}

describe("kubectl rqlite backup, and the backup state in status", function () {
  this.timeout(300_000);
  let s: CliStack;
  let s3: S3TestServer;
  const run = (...args: string[]) => kubectlRqlite(s, args, { timeoutMs: 240_000 });
  const ok = async (...args: string[]) => expectExit(await run(...args), 0);
  const statusJson = async (cluster: string) =>
    JSON.parse((await ok("status", cluster, "-o", "json")).stdout) as StatusJson;
  const s3Flags = () => [
    "--s3-bucket",
    BUCKET,
    "--s3-endpoint",
    s3.endpoint,
    "--s3-force-path-style",
    "--s3-credentials-secret",
    SECRET,
  ];
  /** The object a location names, as versitygw's posix backend keeps it. */
  const objectFile = (location: string) => {
    const at = parseS3Location(location);
    assert.ok(at, location);
    return join(s3.root, at.bucket, at.key);
  };

  before(async () => {
    [s, s3] = await cliStackWithS3(BUCKET, SECRET);
  });

  after(async () => {
    await s3?.close();
  });

  it("status shows no backup part while a cluster has none, and an empty list in JSON", async () => {
    assert.doesNotMatch((await ok("status", DEMO)).stdout, /Scheduled backups|RqBackups|BACKUP/);
    assert.deepEqual((await statusJson(DEMO)).backup, { backups: [] });
  });

  it("without spec.backup and without --s3-bucket, backup is a usage error that says what to pass", async () => {
    const r = expectExit(await run("backup", DEMO), 2);
    assert.match(
      r.stderr,
      /^error: RqCluster \S+\/demo has no spec.backup to copy the destination from; pass --s3-bucket/m,
    );
    const half = expectExit(await run("backup", DEMO, "--s3-endpoint", "http://127.0.0.1:1"), 2);
    assert.match(half.stderr, /^error: --s3-endpoint needs --s3-bucket/m);
    const both = expectExit(await run("backup", DEMO, "--from-spec", "--s3-bucket", "x"), 2);
    assert.match(both.stderr, /'--from-spec' cannot be used with option '--s3-bucket/);
  });

  it("backup --wait takes a backup to the bucket, shows progress, and ends Completed with the object in S3", async () => {
    const r = await ok("backup", DEMO, "--name", "demo-once", ...s3Flags(), "--s3-path", "manual", "--wait");
    console.log(`      ${r.stdout.trim()} (${r.ms} ms)`);
    assert.match(
      r.stdout,
      new RegExp(
        `^RqBackup ${s.namespace}/demo-once Completed: \\S+ \\((\\d+) bytes\\) to s3://${BUCKET}/manual/\\S+ from demo-\\d \\(rqlite v8\\.43\\.4\\)$`,
        "m",
      ),
    );
    assert.match(r.stderr, /^demo-once: (Pending|Running|Completed)/m, "a progress line");
    const json = await statusJson(DEMO);
    const b = json.backup.backups.find((x) => x.name === "demo-once");
    assert.equal(b?.phase, "Completed");
    assert.equal(statSync(objectFile(b.location!)).size, b.size, "the object holds the bytes status reports");
    const human = (await ok("status", DEMO)).stdout;
    assert.match(human, /^Scheduled backups: none \(spec\.backup is not set\)$/m);
    assert.match(human, /^BACKUP +PHASE +SIZE +AGE +LOCATION$/m);
    assert.match(human, new RegExp(`^demo-once +Completed +[\\d.]+(B|KiB|MiB) +\\S+ +s3://${BUCKET}/manual/`, "m"));
    const yaml = parse((await ok("status", DEMO, "-o", "yaml")).stdout) as StatusJson;
    assert.deepEqual(yaml.backup.backups, json.backup.backups);
    // The RqBackup is immutable: a second one of that name is refused in one line.
    const again = expectExit(await run("backup", DEMO, "--name", "demo-once", ...s3Flags()), 1);
    assert.match(again.stderr, /^error: cannot create RqBackup \S+\/demo-once: one of that name exists already/m);
  });

  it("backup --wait exits 1 with the operator's reason when the backup Fails (a bucket that does not exist)", async () => {
    const r = expectExit(
      await run(
        "backup",
        DEMO,
        "--name",
        "demo-nobucket",
        ...s3Flags().map((f) => (f === BUCKET ? "no-such-bucket" : f)),
        "--wait",
      ),
      1,
    );
    assert.match(
      r.stderr,
      /^error: RqBackup \S+\/demo-nobucket Failed: .*bucket "no-such-bucket" refused the upload \(NoSuchBucket.*create the bucket/m,
    );
    const b = (await statusJson(DEMO)).backup.backups.find((x) => x.name === "demo-nobucket");
    assert.equal(b?.phase, "Failed");
    assert.match(b.reason!, /NoSuchBucket/);
    const human = (await ok("status", DEMO)).stdout;
    assert.match(human, /^demo-nobucket +Failed +- +\S+ +s3:\/\/no-such-bucket\//m);
    assert.match(human, /^ {2}demo-nobucket: .*NoSuchBucket/m);
  });

  it("backup copies the destination from spec.backup, and status shows the schedule and the last success", async () => {
    await startCluster(s, SCHEDULED, {
      replicas: 1,
      backup: {
        s3: {
          bucket: BUCKET,
          path: "scheduled/bk/db.sqlite.gz",
          endpoint: s3.endpoint,
          forcePathStyle: true,
          credentialsSecret: { name: SECRET },
        },
        interval: "24h",
        retention: { keepLast: 3 },
      },
    });
    const r = await ok("backup", SCHEDULED, "--wait", "-o", "json");
    const created = JSON.parse(r.stdout) as {
      metadata: { name: string };
      spec: { destination: { s3: { bucket: string; path: string; endpoint: string } } };
      status: { phase: string; location: string };
    };
    assert.match(created.metadata.name, /^bk-\d{8}t\d{6}z$/, "the default name is the cluster and the UTC time");
    assert.deepEqual(
      [created.spec.destination.s3.bucket, created.spec.destination.s3.path, created.spec.destination.s3.endpoint],
      [BUCKET, "scheduled/bk", s3.endpoint],
    );
    assert.equal(created.status.phase, "Completed");
    assert.match(created.status.location, new RegExp(`^s3://${BUCKET}/scheduled/bk/`));
    assert.ok(existsSync(objectFile(created.status.location)));
    let json: StatusJson | undefined;
    await eventually(
      "status.backup.lastSuccessfulTime from the Completed RqBackup",
      async () => {
        json = await statusJson(SCHEDULED);
        return Boolean(json.backup.lastSuccessfulTime);
      },
      150_000,
      { intervalMs: 1000, state: () => json?.backup },
    );
    assert.deepEqual(json!.backup.schedule, {
      destination: `s3://${BUCKET}/scheduled/bk/db.sqlite.gz`,
      endpoint: s3.endpoint,
      interval: "24h",
      timestamp: true,
      retention: { keepLast: 3 },
    });
    const human = (await ok("status", SCHEDULED)).stdout;
    console.log(
      `      kubectl rqlite status ${SCHEDULED}, backup part:\n${human.slice(human.indexOf("Scheduled")).replace(/^/gm, "        ")}`,
    );
    assert.match(
      human,
      new RegExp(
        `^Scheduled backups: every 24h to s3://${BUCKET}/scheduled/bk/db\\.sqlite\\.gz at ${s3.endpoint.replace(/\./g, "\\.")} \\(timestamped\\); retention: keep last 3`,
        "m",
      ),
    );
    assert.match(human, /^Last successful backup: \d{4}-\d\d-\d\dT\S+ \(\S+ ago\)$/m);
    assert.match(human, new RegExp(`^${created.metadata.name} +Completed `, "m"));
  });

  it("report reads the credential Secrets of spec.backup and of the RqBackups, and scrubs their values from every file", async () => {
    // Keys pasted where they do not belong: the bundle must not carry them either.
    const { accessKeyId, secretAccessKey } = s3.credentials;
    const pasted = `${accessKeyId}:${secretAccessKey}`;
    const clusters = [SCHEDULED, DEMO]; // demo names the Secret only through its RqBackups
    for (const c of clusters)
      await s.stack.cp.kubectlOk(["annotate", "rqc", c, "-n", s.namespace, "--overwrite", `pasted-keys=${pasted}`]);
    const dir = await mkdtemp(join(tmpdir(), "rqo-cli-report-"));
    try {
      for (const c of clusters) {
        const file = join(dir, `${c}.tar.gz`);
        expectExit(await run("report", c, "-f", file), 0);
        const unpacked = join(dir, c);
        await mkdir(unpacked);
        await exec("tar", ["xzf", file, "-C", unpacked]);
        const top = join(unpacked, `rqlite-report-${s.namespace}-${c}`);
        const secrets = await readFile(join(top, "children/secrets.yaml"), "utf8");
        assert.match(secrets, new RegExp(`name: ${SECRET}\n`), `${c}: the credentials Secret is in the bundle`);
        assert.match(secrets, /AWS_SECRET_ACCESS_KEY: REDACTED/);
        assert.match(secrets, /AWS_ACCESS_KEY_ID: REDACTED/);
        assert.match(await readFile(join(top, "cluster.yaml"), "utf8"), /pasted-keys: REDACTED:REDACTED/);
        assert.match(await readFile(join(top, "backups.yaml"), "utf8"), new RegExp(`name: ${SECRET}`));
        const needles = [accessKeyId, secretAccessKey].flatMap((v) => [v, Buffer.from(v).toString("base64")]);
        const { stdout: leaks } = await exec("grep", ["-rlF", ...needles.flatMap((n) => ["-e", n]), top]).catch(
          (err: { code?: number; stdout?: string }) => {
            if (err.code === 1) return { stdout: "" };
            throw err as Error;
          },
        );
        assert.equal(leaks, "", `${c}: the S3 keys are in ${leaks}`);
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
      await s.stack.cp.kubectl(["annotate", "rqc", DEMO, "-n", s.namespace, "pasted-keys-"]);
    }
  });

  it("status still shows the cluster to a user RBAC lets read it but not the RqBackups, and says so", async () => {
    const role = {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "Role",
      metadata: { name: "status-no-backups" },
      rules: [
        { apiGroups: ["rqlite.io"], resources: ["rqclusters"], verbs: ["get"] },
        { apiGroups: [""], resources: ["pods", "persistentvolumeclaims", "events"], verbs: ["get", "list"] },
        { apiGroups: [""], resources: ["pods/proxy"], verbs: ["get", "create"] },
      ],
    };
    await s.stack.cp.kubectlOk(["apply", "-n", s.namespace, "-f", "-"], { input: JSON.stringify(role) });
    await s.stack.cp.kubectlOk([
      "create",
      "rolebinding",
      "status-no-backups",
      "-n",
      s.namespace,
      "--role=status-no-backups",
      "--user=no-backups",
    ]);
    const kubeconfig = await s.stack.cp.userKubeconfig("no-backups");
    const r = expectExit(
      await kubectlRqlite(s, ["status", SCHEDULED, "-n", s.namespace], { kubeconfig, timeoutMs: 60_000 }),
      0,
    );
    assert.match(r.stdout, new RegExp(`^RqCluster ${s.namespace}/${SCHEDULED}: Running`, "m"));
    assert.match(r.stdout, /^Scheduled backups: every 24h to /m);
    assert.match(
      r.stdout,
      /^RqBackups: cannot list the RqBackups of namespace \S+: forbidden by RBAC \(.*cannot list resource "rqbackups".*\); ask a cluster admin/m,
    );
    const denied = expectExit(
      await kubectlRqlite(s, ["backup", SCHEDULED, "-n", s.namespace], { kubeconfig, timeoutMs: 60_000 }),
      1,
    );
    assert.match(denied.stderr, /^error: cannot create RqBackup \S+: forbidden by RBAC/m);
  });

  it("completion offers backup, its flags and the --format choices", async () => {
    const complete = async (...words: string[]) =>
      (await ok("__complete", ...words)).stdout.trim().split("\n").slice(0, -1);
    assert.deepEqual(await complete("ba"), ["backup"]);
    assert.deepEqual(await complete("backup", DEMO, "--format", ""), ["binary", "sql"]);
    assert.ok((await complete("backup", DEMO, "--s3-")).includes("--s3-credentials-secret"));
  });
});
