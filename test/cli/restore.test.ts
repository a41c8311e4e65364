// `kubectl rqlite restore`, against the real operator and a real S3-compatible server: a new
// RqCluster from an RqBackup (the backed-up cluster's spec, --wait until Available with every
// row), from an S3 folder's newest object, from the newest one taken before a time (--before), a
// dry run the API server judges, and each bad input
// refused in one line before anything is created.
import { strict as assert } from "node:assert";
import type { S3TestServer } from "../../testenv/s3.js";
import { expectExit, kubectlRqlite } from "./support/plugin.js";
import { cliStackWithS3, DEMO, IMAGE, type CliStack } from "./support/stack.js";

const BUCKET = "cli-restores";
const SECRET = "restore-credentials";

interface Created {
  metadata: { name: string };
  spec: {
    replicas?: number;
    readReplicas?: number;
    image?: string;
    backup?: unknown;
    restore?: { backup?: string; s3?: Record<string, unknown> };
  };
  status?: { restore?: { location?: string } };
}

describe("kubectl rqlite restore", function () {
  this.timeout(400_000);
  let s: CliStack;
  let s3: S3TestServer;
  const run = (...args: string[]) => kubectlRqlite(s, args, { timeoutMs: 360_000 });
  const ok = async (...args: string[]) => expectExit(await run(...args), 0);
  const exists = async (name: string) =>
    (await s.stack.cp.kubectl(["get", "rqc", name, "-n", s.namespace, "-o", "name"])).code === 0;

  before(async () => {
    [s, s3] = await cliStackWithS3(BUCKET, SECRET);
  });

  after(async () => {
    // The stack is shared by every plugin suite of the run: leave no RqBackup in its namespace.
    await s?.stack.cp.kubectl(["delete", "rqbackup", "--all", "-n", s.namespace, "--wait=false"]);
    await s3?.close();
  });

  it("refuses bad input with a usage error (exit 2) that names it, and creates nothing", async () => {
    const cases: Array<[string[], RegExp]> = [
      [["restore", "Bad_Name", "--from", "b"], /"Bad_Name" is not a valid RqCluster name/],
      [["restore", "r1"], /required option '--from <source>' not specified/],
      [
        ["restore", "r1", "--from", "../other/b"],
        /--from "..\/other\/b" is neither s3:\/\/BUCKET\/KEY nor an RqBackup name/,
      ],
      [["restore", "r1", "--from", "s3://Bu/k"], /"Bu" is not an S3 bucket name/],
      [["restore", "r1", "--from", "s3://bucket/a//b"], /the key has an empty, "." or ".." segment/],
      [["restore", "r1", "--from", "s3://bucket/a/../b"], /the key has an empty, "." or ".." segment/],
      [["restore", "r1", "--from", "b", "--s3-endpoint", "http://x"], /--s3-endpoint goes with --from s3:\/\//],
      [
        ["restore", "r1", "--from", "s3://bucket/k", "--s3-endpoint", "ftp://x"],
        /is not an http:\/\/ or https:\/\/ URL/,
      ],
      [["restore", "r1", "--from", "s3://bucket/k", "--replicas", "0"], /--replicas 0: a whole number from 1 to 9/],
      [["restore", "r1", "--from", "s3://bucket/k", "--s3-credentials-secret", "a/b"], /is not a Secret name/],
      [["restore", "r1", "--from", "s3://bucket/k", "--like", "../x"], /--like "..\/x" is not an RqCluster name/],
      [
        ["restore", "r1", "--from", "s3://bucket/f/", "--before", "yesterday"],
        /--before "yesterday" is not an RFC 3339 time with its offset/,
      ],
      [
        ["restore", "r1", "--from", "s3://bucket/f/", "--before", "2026-12-07T02:00:00"],
        /--before "2026-12-07T02:00:00" is not an RFC 3339 time with its offset/,
      ],
      [
        ["restore", "r1", "--from", "b", "--before", "2026-12-07T02:00:00Z"],
        /--before picks among the backups in an S3 folder: give --from s3:\/\/BUCKET\/FOLDER\/, not "b"/,
      ],
      [
        ["restore", "r1", "--from", "s3://bucket/f/x.sqlite", "--before", "2026-12-07T02:00:00Z"],
        /--before picks among the backups in an S3 folder/,
      ],
    ];
    for (const [args, message] of cases) {
      const r = expectExit(await run(...args), 2);
      assert.match(r.stderr, message, args.join(" "));
      assert.equal(r.stderr.trim().split("\n").length, 1, `one line for ${args.join(" ")}: ${r.stderr}`);
    }
    assert.equal(await exists("r1"), false);
  });

  it("says which RqBackup is missing, and refuses a name that exists (exit 1)", async () => {
    const missing = expectExit(await run("restore", "r1", "--from", "no-such-backup"), 1);
    assert.match(
      missing.stderr,
      new RegExp(`^error: RqBackup no-such-backup not found in namespace ${s.namespace}`, "m"),
    );
    const taken = expectExit(await run("restore", DEMO, "--from", `s3://${BUCKET}/x.sqlite`), 1);
    assert.match(
      taken.stderr,
      new RegExp(`^error: cannot create RqCluster ${s.namespace}/${DEMO}: one of that name exists already`, "m"),
    );
  });

  it("--dry-run has the API server judge the cluster from an S3 folder's newest object, and creates nothing", async () => {
    const r = await ok(
      "restore",
      "from-folder",
      "--from",
      `s3://${BUCKET}/demo/`,
      "--s3-endpoint",
      s3.endpoint,
      "--s3-force-path-style",
      "--s3-credentials-secret",
      SECRET,
      "--like",
      DEMO,
      "--replicas",
      "1",
      "--dry-run",
      "-o",
      "json",
    );
    const created = JSON.parse(r.stdout) as Created;
    assert.equal(created.metadata.name, "from-folder");
    // (The API server adds the schema's defaults: the region, the Secret's key names.)
    const { region, credentialsSecret, ...source } = created.spec.restore?.s3 ?? {};
    assert.ok(region === undefined || region === "us-east-1", String(region));
    assert.equal((credentialsSecret as { name?: string } | undefined)?.name, SECRET);
    assert.deepEqual(source, {
      bucket: BUCKET,
      path: "demo",
      key: "latest",
      endpoint: s3.endpoint,
      forcePathStyle: true,
    });
    assert.equal(created.spec.replicas, 1);
    assert.equal(created.spec.readReplicas, 1, "the rest of the spec is DEMO's");
    assert.equal(await exists("from-folder"), false);
  });

  it("restores an RqBackup into a new cluster with the backed-up cluster's spec, and --wait ends Available with every row", async () => {
    await ok("exec", DEMO, "CREATE TABLE IF NOT EXISTS restored_rows (id INTEGER PRIMARY KEY, v TEXT)");
    await ok("exec", DEMO, "INSERT INTO restored_rows(v) VALUES('one'), ('two'), ('three')");
    const rows = (await ok("query", DEMO, "SELECT v FROM restored_rows ORDER BY id", "--level", "strong", "-o", "csv"))
      .stdout;
    await ok(
      "backup",
      DEMO,
      "--name",
      "restore-src",
      "--s3-bucket",
      BUCKET,
      "--s3-path",
      "demo",
      "--s3-endpoint",
      s3.endpoint,
      "--s3-force-path-style",
      "--s3-credentials-secret",
      SECRET,
      "--wait",
    );
    const r = await ok("restore", "demo-restored", "--from", "restore-src", "--replicas", "1", "--wait");
    console.log(`      ${r.stdout.trim()} (${r.ms} ms)`);
    assert.match(
      r.stdout,
      new RegExp(
        `^RqCluster ${s.namespace}/demo-restored is Available, restored from s3://${BUCKET}/demo/\\S+ with the spec of RqCluster ${DEMO}`,
        "m",
      ),
    );
    const created = JSON.parse(
      await s.stack.cp.kubectlOk(["get", "rqc", "demo-restored", "-n", s.namespace, "-o", "json"]),
    ) as Created;
    assert.deepEqual(created.spec.restore, { backup: "restore-src" });
    assert.equal(created.spec.replicas, 1);
    assert.equal(created.spec.image, IMAGE);
    assert.equal(created.spec.backup, undefined, "no backup schedule copied");
    const restored = (
      await ok("query", "demo-restored", "SELECT v FROM restored_rows ORDER BY id", "--level", "strong", "-o", "csv")
    ).stdout;
    assert.equal(restored, rows);
    await s.stack.cp.kubectlOk(["delete", "rqc", "demo-restored", "-n", s.namespace, "--wait=false"]);
  });

  it("--before restores the newest backup in the folder taken before the time, not a later one", async () => {
    const backup = async (name: string) =>
      await ok(
        "backup",
        DEMO,
        "--name",
        name,
        "--s3-bucket",
        BUCKET,
        "--s3-path",
        "before",
        "--s3-endpoint",
        s3.endpoint,
        "--s3-force-path-style",
        "--s3-credentials-secret",
        SECRET,
        "--wait",
      );
    const location = async (name: string) =>
      (
        JSON.parse(await s.stack.cp.kubectlOk(["get", "rqbackup", name, "-n", s.namespace, "-o", "json"])) as {
          status: { location: string };
        }
      ).status.location;
    await ok("exec", DEMO, "CREATE TABLE IF NOT EXISTS before_rows (id INTEGER PRIMARY KEY, v TEXT)");
    await ok("exec", DEMO, "INSERT INTO before_rows(v) VALUES('early')");
    await backup("before-1");
    const early = (await ok("query", DEMO, "SELECT v FROM before_rows ORDER BY id", "--level", "strong", "-o", "csv"))
      .stdout;
    await ok("exec", DEMO, "INSERT INTO before_rows(v) VALUES('late')");
    await backup("before-2");
    // Each backup's own time, from its name: "before" the second one's is strictly the first one.
    const timeOf = (key: string) => {
      const m = /-(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z\.sqlite/.exec(key);
      assert.ok(m, `a timestamped key: ${key}`);
      return `${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}Z`;
    };
    const first = await location("before-1");
    const cut = timeOf(await location("before-2"));
    assert.ok(timeOf(first) < cut, `the backups were taken in different seconds: ${timeOf(first)}, ${cut}`);

    const r = await ok(
      "restore",
      "demo-before",
      "--from",
      `s3://${BUCKET}/before/`,
      "--before",
      cut,
      "--s3-endpoint",
      s3.endpoint,
      "--s3-force-path-style",
      "--s3-credentials-secret",
      SECRET,
      "--like",
      DEMO,
      "--replicas",
      "1",
      "--wait",
    );
    console.log(`      ${r.stdout.trim()} (${r.ms} ms)`);
    assert.match(r.stdout, new RegExp(`is Available, restored from ${first.replaceAll(".", "\\.")} with the spec`));
    const created = JSON.parse(
      await s.stack.cp.kubectlOk(["get", "rqc", "demo-before", "-n", s.namespace, "-o", "json"]),
    ) as Created;
    const { region: _r, credentialsSecret: _c, ...source } = created.spec.restore?.s3 ?? {};
    assert.deepEqual(source, {
      bucket: BUCKET,
      path: "before",
      before: cut,
      endpoint: s3.endpoint,
      forcePathStyle: true,
    });
    const restored = (
      await ok("query", "demo-before", "SELECT v FROM before_rows ORDER BY id", "--level", "strong", "-o", "csv")
    ).stdout;
    assert.equal(restored, early, "the rows of the backup taken before the time, without the later row");
    await s.stack.cp.kubectlOk(["delete", "rqc", "demo-before", "-n", s.namespace, "--wait=false"]);
  });
});
