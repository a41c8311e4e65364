// With the webhook down (crashed, scaled to zero, or uninstalled before its configurations), a
// write it would judge is refused (failurePolicy Fail), but cleanup is not: deploy/base's
// matchConditions let finalizer UPDATEs and writes to objects being deleted through, so an
// RqCluster and a pod-template ConfigMap can still go.
import { strict as assert } from "node:assert";
import { join } from "node:path";
import { stringify } from "yaml";
import type { ControlPlane } from "../../testenv/controlplane.js";
import { installCRDs } from "../../testenv/crds.js";
import { createTestNamespace, sharedControlPlane } from "../../testenv/shared.js";
import { loopbackConfigurations } from "../../testenv/webhook.js";
import { mintCerts, root, tempDir, WebhookProcess } from "../../testenv/webhookProcess.js";

const FINALIZER = "rqlite.io/test-cleanup";
const REFUSED = /failed calling webhook/;

describe("webhook outage", function () {
  this.timeout(120_000);
  let cp: ControlPlane;
  let ns: string;
  let configNames: string[] = [];

  const kubectl = (args: string[], input?: object) =>
    cp.kubectl(["-n", ns, ...args], input ? { input: stringify(input) } : {});
  const exists = async (ref: string) => (await kubectl(["get", ref, "-o", "name"])).code === 0;
  const mergePatch = (ref: string, patch: object) =>
    kubectl(["patch", ref, "--type=merge", "-p", JSON.stringify(patch)]);

  before(async () => {
    cp = await sharedControlPlane();
    await installCRDs(cp, [join(root, "crds/rqlite.io_rqclusters.yaml")]);
    ns = await createTestNamespace(cp, "webhook-outage");
    const certDir = await tempDir("webhook-outage");
    const { ca } = await mintCerts(certDir, ["127.0.0.1"]);
    const server = await WebhookProcess.start(certDir);
    const configs = await loopbackConfigurations(server.port, ca, { prefix: "outage-test-", namespace: ns });
    configNames = configs.map((c) => `${c.kind.toLowerCase()}/${c.metadata.name}`);
    await cp.kubectlOk(["apply", "--server-side", "--field-manager=webhook-outage-test", "-f", "-"], {
      input: configs.map((c) => stringify(c)).join("---\n"),
    });
    const cluster = {
      apiVersion: "rqlite.io/v1alpha1",
      kind: "RqCluster",
      metadata: { name: "db", finalizers: [FINALIZER] },
      spec: { replicas: 3 },
    };
    const template = {
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: { name: "tmpl", labels: { "rqlite.io/pod-template": "" }, finalizers: [FINALIZER] },
      data: { "pod-template.json": JSON.stringify({ metadata: { labels: { team: "a" } } }) },
    };
    // Written while the webhook is up (and seen to default the spec), then the webhook goes.
    const deadline = Date.now() + 30_000;
    while ((await kubectl(["create", "-f", "-"], cluster)).code !== 0) {
      if (Date.now() > deadline) throw new Error(`the RqCluster was never admitted:\n${server.output()}`);
      await new Promise((r) => setTimeout(r, 250));
    }
    await cp.kubectlOk(["-n", ns, "create", "-f", "-"], { input: stringify(template) });
    assert.equal(await server.stop(), 0, server.output());
  });

  after(async () => {
    if (configNames.length) await cp.kubectl(["delete", "--ignore-not-found", ...configNames]);
  });

  it("still refuses a spec change it cannot check", async () => {
    const r = await mergePatch("rqcluster/db", { spec: { replicas: 5 } });
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, REFUSED);
  });

  it("lets labels, annotations and finalizers change when the spec does not", async () => {
    const r = await mergePatch("rqcluster/db", {
      metadata: { labels: { team: "a" }, annotations: { note: "x" }, finalizers: [FINALIZER, "example.com/other"] },
    });
    assert.equal(r.code, 0, r.stderr);
    const back = await mergePatch("rqcluster/db", { metadata: { finalizers: [FINALIZER] } });
    assert.equal(back.code, 0, back.stderr);
  });

  it("completes deleting an RqCluster: the finalizer's removal is let through", async () => {
    await cp.kubectlOk(["-n", ns, "delete", "rqcluster/db", "--wait=false"]);
    assert.ok(await exists("rqcluster/db"), "held by its finalizer");
    const r = await mergePatch("rqcluster/db", { metadata: { finalizers: null } });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(await exists("rqcluster/db"), false);
  });

  it("completes deleting a pod-template ConfigMap, even with its content changed on the way out", async () => {
    assert.match((await mergePatch("configmap/tmpl", { data: { "pod-template.json": "{}" } })).stderr, REFUSED);
    await cp.kubectlOk(["-n", ns, "delete", "configmap/tmpl", "--wait=false"]);
    const r = await mergePatch("configmap/tmpl", {
      metadata: { finalizers: null },
      data: { "pod-template.json": "{}" },
    });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(await exists("configmap/tmpl"), false);
  });
});
