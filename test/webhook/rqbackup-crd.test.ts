// The RqBackup CRD behind a real kube-apiserver: it needs no webhook, because its defaults are
// structural and its rules (exactly one destination, an immutable spec) are CEL the API server
// enforces. kubectl is the client, as a user's.
import { strict as assert } from "node:assert";
import { stringify } from "yaml";
import type { ControlPlane } from "../../testenv/controlplane.js";
import { installCRDs, OPERATOR_CRD_FILES } from "../../testenv/crds.js";
import { createTestNamespace, sharedControlPlane } from "../../testenv/shared.js";

describe("RqBackup CRD behind kube-apiserver", function () {
  this.timeout(120_000);
  let cp: ControlPlane;
  let ns: string;

  const backup = (name: string, spec: object) => ({
    apiVersion: "rqlite.io/v1alpha1",
    kind: "RqBackup",
    metadata: { name },
    spec,
  });
  const create = (obj: object) => cp.kubectl(["create", "-n", ns, "-f", "-"], { input: stringify(obj) });
  const s3 = { bucket: "backups", endpoint: "http://127.0.0.1:7070", forcePathStyle: true };

  before(async () => {
    cp = await sharedControlPlane();
    await installCRDs(cp, [...OPERATOR_CRD_FILES]);
    ns = await createTestNamespace(cp, "rqbackup-crd");
  });

  it("stores an RqBackup with format, compress, vacuum and the S3 defaults filled in", async () => {
    await cp.kubectlOk(["create", "-n", ns, "-f", "-"], {
      input: stringify(
        backup("defaults", { cluster: "db", destination: { s3: { ...s3, credentialsSecret: { name: "s3" } } } }),
      ),
    });
    const stored = JSON.parse(await cp.kubectlOk(["get", "-n", ns, "rqb", "defaults", "-o", "json"])) as {
      spec: Record<string, unknown> & { destination: { s3: Record<string, unknown> } };
    };
    assert.equal(stored.spec.format, "binary");
    assert.equal(stored.spec.compress, true);
    assert.equal(stored.spec.vacuum, false);
    assert.equal(stored.spec.destination.s3.region, "us-east-1");
    assert.deepEqual(stored.spec.destination.s3.credentialsSecret, {
      name: "s3",
      accessKeyIdKey: "AWS_ACCESS_KEY_ID",
      secretAccessKeyKey: "AWS_SECRET_ACCESS_KEY",
    });
  });

  it("prints cluster, phase, size and age", async () => {
    const out = await cp.kubectlOk(["get", "-n", ns, "rqbackups", "defaults"]);
    assert.match(out.split("\n")[0]!, /^NAME\s+CLUSTER\s+PHASE\s+SIZE\s+AGE/);
  });

  it("refuses a backup with both destinations or neither", async () => {
    for (const destination of [{}, { s3, pvc: { claimName: "pvc" } }]) {
      const res = await create(backup(`two-${Object.keys(destination).length}`, { cluster: "db", destination }));
      assert.notEqual(res.code, 0);
      assert.match(res.stderr, /set exactly one of s3 and pvc/);
    }
  });

  it("refuses a change to the spec once created, and allows status and metadata changes", async () => {
    await cp.kubectlOk(["create", "-n", ns, "-f", "-"], {
      input: stringify(backup("frozen", { cluster: "db", destination: { pvc: { claimName: "pvc" } } })),
    });
    const res = await cp.kubectl([
      "patch",
      "-n",
      ns,
      "rqb",
      "frozen",
      "--type=merge",
      "-p",
      '{"spec":{"vacuum":true}}',
    ]);
    assert.notEqual(res.code, 0);
    assert.match(res.stderr, /spec is immutable; create a new RqBackup instead/);
    await cp.kubectlOk(["label", "-n", ns, "rqb", "frozen", "team=db"]);
    await cp.kubectlOk([
      "patch",
      "-n",
      ns,
      "rqb",
      "frozen",
      "--subresource=status",
      "--type=merge",
      "-p",
      '{"status":{"phase":"Completed","size":42}}',
    ]);
    const out = await cp.kubectlOk(["get", "-n", ns, "rqb", "frozen", "--no-headers"]);
    assert.match(out, /^frozen\s+db\s+Completed\s+42\s/);
  });
});
