// spec.backup and spec.restore through the running webhook process, over HTTPS, as kube-apiserver
// sends them: the mutating webhook fills rqlite's backup defaults, and the validating webhook
// refuses a bad backup spec and a spec.restore added or changed after creation, with
// field-pathed causes.
import { strict as assert } from "node:assert";
import fastJsonPatch, { type Operation } from "fast-json-patch";
import { applyDefaults } from "../../shared/index.js";
import {
  admissionReview,
  answerOf,
  decodePatch,
  httpsRequest,
  mintCerts,
  rqCluster,
  tempDir,
  WebhookProcess,
} from "../../testenv/webhookProcess.js";

const MUTATE = "/mutate-rqlite-io-v1alpha1-rqcluster";
const VALIDATE = "/validate-rqlite-io-v1alpha1-rqcluster";
const VALIDATE_BACKUP = "/validate-rqlite-io-v1alpha1-rqbackup";
const RQBACKUP_KIND = { group: "rqlite.io", version: "v1alpha1", kind: "RqBackup" };
const rqBackup = (spec: Record<string, unknown>) => ({
  apiVersion: "rqlite.io/v1alpha1",
  kind: "RqBackup",
  metadata: { name: "nightly", namespace: "tenant" },
  spec,
});
const s3 = {
  bucket: "backups",
  path: "prod/db.sqlite.gz",
  endpoint: "http://127.0.0.1:7070",
  credentialsSecret: { name: "s3" },
};

describe("webhook: spec.backup and spec.restore", () => {
  let server: WebhookProcess;
  let ca: Buffer;
  const review = async (path: string, o: Parameters<typeof admissionReview>[0]) =>
    answerOf(await httpsRequest(server.port, path, ca, { body: JSON.stringify(admissionReview(o)) }));

  before(async () => {
    const dir = await tempDir("webhook-backup-certs");
    ({ ca } = await mintCerts(dir));
    // The fixture's endpoint is on loopback, which the webhook refuses unless allowed.
    server = await WebhookProcess.start(dir, ["--s3-endpoint-allow=127.0.0.1/32"]);
  });

  after(async () => {
    assert.equal(await server.stop(), 0, server.output());
  });

  it("defaults spec.backup as rqlite does", async () => {
    const object = rqCluster("db", { backup: { s3 } });
    const answer = await review(MUTATE, { object });
    assert.equal(answer.allowed, true);
    const patched = fastJsonPatch.applyPatch(object, decodePatch(answer) as Operation[]).newDocument as {
      spec: { backup: Record<string, unknown> & { s3: Record<string, unknown> } };
    };
    const spec = patched.spec;
    assert.equal(spec.backup.interval, "1h");
    assert.equal(spec.backup.timestamp, true);
    assert.equal(spec.backup.compress, true);
    assert.equal(spec.backup.s3.region, "us-east-1");
  });

  it("refuses a folder as the backup path and a $ rqlited would expand, with field paths", async () => {
    const object = applyDefaults(rqCluster("db", { backup: { s3: { ...s3, path: "prod/$X/" } } }));
    const answer = await review(VALIDATE, { object });
    assert.equal(answer.allowed, false);
    assert.equal(answer.status?.code, 422);
    assert.deepEqual(
      answer.status?.details?.causes.map((c) => c.field),
      ["spec.backup.s3.path", "spec.backup.s3.path"],
    );
  });

  it("refuses a restore before a time that is no RFC 3339 time, or with a key too, with field paths", async () => {
    const restoring = (source: Record<string, unknown>) =>
      applyDefaults(
        rqCluster("db", {
          restore: { s3: { bucket: "backups", path: "prod", credentialsSecret: { name: "s3" }, ...source } },
        }),
      );
    const good = await review(VALIDATE, { object: restoring({ before: "2026-12-07T13:45:00+01:00" }) });
    assert.equal(good.allowed, true, JSON.stringify(good.status));
    for (const [source, field, message] of [
      [{ before: "2026-12-07T12:45:00" }, "spec.restore.s3.before", /must be an RFC 3339 time with its offset/],
      [{ before: "2026-02-30T12:00:00Z" }, "spec.restore.s3.before", /must be an RFC 3339 time with its offset/],
      [{ before: "2026-12-07T12:45:00Z", key: "latest" }, "spec.restore.s3", /set exactly one of key .* and before/],
      [{}, "spec.restore.s3", /set exactly one of key .* and before/],
    ] as const) {
      const answer = await review(VALIDATE, { object: restoring(source) });
      assert.equal(answer.allowed, false, JSON.stringify(source));
      const causes = answer.status?.details?.causes ?? [];
      assert.deepEqual(
        causes.map((c) => c.field),
        [field],
        JSON.stringify(causes),
      );
      assert.match(causes[0]!.message ?? "", message);
    }
  });

  it("refuses spec.restore added to, or changed on, an existing cluster", async () => {
    const plain = applyDefaults(rqCluster("db", { replicas: 3 }));
    const restored = applyDefaults(rqCluster("db", { replicas: 3, restore: { backup: "nightly" } }));
    const added = await review(VALIDATE, { operation: "UPDATE", oldObject: plain, object: restored });
    assert.equal(added.allowed, false);
    assert.match(added.status!.message, /spec\.restore: Forbidden: may be set only when the cluster is created/);
    const changed = await review(VALIDATE, {
      operation: "UPDATE",
      oldObject: restored,
      object: applyDefaults(rqCluster("db", { replicas: 3, restore: { backup: "weekly" } })),
    });
    assert.equal(changed.allowed, false);
    assert.equal(changed.status?.details?.causes[0]?.field, "spec.restore");
    const created = await review(VALIDATE, { operation: "CREATE", object: restored });
    assert.equal(created.allowed, true);
  });

  it("refuses every RqBackup name that is no name, with the field of each", async () => {
    const hostile = rqBackup({
      cluster: "../db",
      destination: {
        s3: {
          bucket: "backups",
          credentialsSecret: { name: "../../victim/secrets/s3", accessKeyIdKey: "..", secretAccessKeyKey: "a/b" },
        },
      },
    });
    const answer = await review(VALIDATE_BACKUP, { kind: RQBACKUP_KIND, object: hostile });
    assert.equal(answer.allowed, false);
    assert.equal(answer.status?.code, 422);
    assert.deepEqual(answer.status?.details?.causes.map((c) => c.field).sort(), [
      "spec.cluster",
      "spec.destination.s3.credentialsSecret.accessKeyIdKey",
      "spec.destination.s3.credentialsSecret.name",
      "spec.destination.s3.credentialsSecret.secretAccessKeyKey",
    ]);
    assert.match(answer.status.message, /^RqBackup\.rqlite\.io "nightly" is invalid: /);
    const claim = await review(VALIDATE_BACKUP, {
      kind: RQBACKUP_KIND,
      object: rqBackup({ cluster: "db", destination: { pvc: { claimName: "%2e%2e" } } }),
    });
    assert.deepEqual(
      claim.status?.details?.causes.map((c) => c.field),
      ["spec.destination.pvc.claimName"],
    );
    const fine = await review(VALIDATE_BACKUP, {
      kind: RQBACKUP_KIND,
      object: rqBackup({
        cluster: "db",
        destination: { s3: { bucket: "backups", credentialsSecret: { name: "s3" } } },
      }),
    });
    assert.equal(fine.allowed, true);
  });

  it("admits spec.verify on a pvc backup, and refuses a verify that is no boolean, with the field", async () => {
    const pvc = await review(VALIDATE_BACKUP, {
      kind: RQBACKUP_KIND,
      object: rqBackup({ cluster: "db", verify: true, destination: { pvc: { claimName: "claim" } } }),
    });
    assert.equal(pvc.allowed, true);
    const notBool = await review(VALIDATE_BACKUP, {
      kind: RQBACKUP_KIND,
      object: rqBackup({
        cluster: "db",
        verify: "yes",
        destination: { s3: { bucket: "backups", credentialsSecret: { name: "s3" } } },
      }),
    });
    assert.deepEqual(
      notBool.status?.details?.causes.map((c) => c.field),
      ["spec.verify"],
    );
    const fine = await review(VALIDATE_BACKUP, {
      kind: RQBACKUP_KIND,
      object: rqBackup({
        cluster: "db",
        verify: true,
        destination: { s3: { bucket: "backups", credentialsSecret: { name: "s3" } } },
      }),
    });
    assert.equal(fine.allowed, true);
  });
});
