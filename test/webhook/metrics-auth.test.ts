// The webhook's /metrics as deploy/ runs it (--metrics-secure): HTTPS, and only for callers the
// real API server says may get it, checked with the webhook's own ServiceAccount and deploy/'s RBAC.
import { strict as assert } from "node:assert";
import { join } from "node:path";
import type { ControlPlane } from "../../testenv/controlplane.js";
import { webhookKubeconfig } from "../../testenv/controller.js";
import { createTestNamespace, sharedControlPlane } from "../../testenv/shared.js";
import { httpGet, httpsRequest, mintCerts, root, tempDir, WebhookProcess } from "../../testenv/webhookProcess.js";

describe("webhook /metrics behind the API server's authentication and authorization", function () {
  this.timeout(180_000);
  let cp: ControlPlane;
  let ns: string;
  let server: WebhookProcess;
  let ca: Buffer;
  const binding = () => `webhook-metrics-reader-${ns}`;

  before(async () => {
    cp = await sharedControlPlane();
    ns = await createTestNamespace(cp, "webhook-metrics");
    const kubeconfig = await webhookKubeconfig(cp);
    await cp.kubectlOk(["apply", "-f", join(root, "deploy/base/metrics-reader.yaml")]);
    for (const sa of ["scraper", "nobody"]) await cp.kubectlOk(["create", "serviceaccount", sa, "-n", ns]);
    await cp.kubectlOk([
      "create",
      "clusterrolebinding",
      binding(),
      "--clusterrole=rqlite-operator-metrics-reader",
      `--serviceaccount=${ns}:scraper`,
    ]);
    const certDir = await tempDir("webhook-metrics-auth");
    ({ ca } = await mintCerts(certDir));
    server = await WebhookProcess.start(certDir, ["--metrics-secure", "--kubeconfig", kubeconfig]);
  });

  after(async () => {
    if (server) assert.equal(await server.stop(), 0, server.output());
    if (cp) await cp.kubectl(["delete", "clusterrolebinding", binding(), "--ignore-not-found"]);
  });

  const token = async (sa: string) => (await cp.kubectlOk(["create", "token", sa, "-n", ns])).trim();
  const scrape = (authorization?: string) =>
    httpsRequest(server.metricsPort, "/metrics", ca, { headers: authorization ? { authorization } : {} });

  it("refuses a scrape without a token, or with one the API server does not accept", async () => {
    const none = await scrape();
    assert.equal(none.status, 401);
    assert.match(none.text, /send a bearer token/);
    assert.equal((await scrape("Bearer not-a-token")).status, 401);
  });

  it("refuses a ServiceAccount that may not get /metrics, saying which ClusterRole to bind", async () => {
    const refused = await scrape(`Bearer ${await token("nobody")}`);
    assert.equal(refused.status, 403);
    assert.match(refused.text, /may not get \/metrics; bind it to the ClusterRole rqlite-operator-metrics-reader/);
    assert.doesNotMatch(refused.text, /controller_runtime_webhook/);
  });

  it("serves a ServiceAccount bound to rqlite-operator-metrics-reader", async () => {
    const served = await scrape(`Bearer ${await token("scraper")}`);
    assert.equal(served.status, 200, served.text);
    assert.match(served.text, /^controller_runtime_webhook_requests_in_flight\{webhook="[^"]+"\} 0$/m);
  });

  it("speaks no plain HTTP on the metrics port, serves no /metrics on the admission port, and probes need no token", async () => {
    await assert.rejects(httpGet(server.metricsPort, "/metrics"));
    assert.equal((await httpsRequest(server.port, "/metrics", ca)).status, 404);
    assert.equal((await httpsRequest(server.metricsPort, "/readyz", ca)).status, 200);
  });
});
