// What `kubectl rqlite restore --from` means, and the spec the restored cluster gets: pure parts of
// cli/commands/restore.ts (the command itself runs in test/cli/restore.test.ts).
import { strict as assert } from "node:assert";
import { parseRestoreSource, restoredSpec } from "../../../../cli/commands/restore.js";
import { CliError, EXIT_USAGE } from "../../../../cli/errors.js";

describe("kubectl rqlite restore --from", () => {
  it("reads an RqBackup name, one S3 object, or an S3 folder's newest object", () => {
    assert.deepEqual(parseRestoreSource("demo-backup"), { backup: "demo-backup" });
    assert.deepEqual(parseRestoreSource("s3://backups/demo/backup-1.sqlite.gz"), {
      s3: { bucket: "backups", key: "demo/backup-1.sqlite.gz" },
    });
    assert.deepEqual(parseRestoreSource("s3://backups/demo/"), {
      s3: { bucket: "backups", path: "demo", key: "latest" },
    });
    assert.deepEqual(parseRestoreSource("s3://backups/a/b/"), {
      s3: { bucket: "backups", path: "a/b", key: "latest" },
    });
    assert.deepEqual(parseRestoreSource("s3://backups"), { s3: { bucket: "backups", key: "latest" } });
    assert.deepEqual(parseRestoreSource("s3://backups/"), { s3: { bucket: "backups", key: "latest" } });
  });

  for (const bad of [
    "",
    "Demo",
    "../other",
    "a/b",
    "s3://",
    "s3://ab/k",
    "s3://Backups/k",
    "s3://back_ups/k",
    `s3://${"b".repeat(64)}/k`,
    "s3://backups//k",
    "s3://backups/a//k",
    "s3://backups/../k",
    "s3://backups/a/./k",
  ]) {
    it(`refuses ${JSON.stringify(bad)} as a usage error naming it`, () => {
      assert.throws(
        () => parseRestoreSource(bad),
        (err: unknown) =>
          err instanceof CliError && err.exitCode === EXIT_USAGE && err.message.includes(JSON.stringify(bad)),
      );
    });
  }
});

describe("the restored cluster's spec", () => {
  it("keeps the source's spec but not its backup schedule, restore source, pause or maintenance", () => {
    const spec = restoredSpec(
      {
        replicas: 3,
        image: "rqlite/rqlite:8.43.4",
        storage: { size: "2Gi" },
        backup: { s3: { bucket: "b", path: "p/x.gz" } },
        restore: { backup: "older" },
        paused: true,
        maintenance: { inProgress: true },
      },
      { backup: "demo-backup" },
      {},
    );
    assert.deepEqual(spec, {
      replicas: 3,
      image: "rqlite/rqlite:8.43.4",
      storage: { size: "2Gi" },
      restore: { backup: "demo-backup" },
    });
  });

  it("takes --replicas and --image over the source's, and needs no source", () => {
    assert.deepEqual(restoredSpec({ replicas: 5, image: "a" }, { backup: "b" }, { replicas: 1, image: "c" }), {
      replicas: 1,
      image: "c",
      restore: { backup: "b" },
    });
    assert.deepEqual(restoredSpec(undefined, { s3: { bucket: "bk", key: "latest" } }, {}), {
      restore: { s3: { bucket: "bk", key: "latest" } },
    });
  });
});
