// cert-manager for real: its controller and cainjector (v1.21, built from the Go module proxy)
// run against the test control plane and act on certs/ as deploy/default installs it. The CA
// chain and serving certificate become Ready, the CA lands in the webhook configurations, the
// webhook serving that Secret's files rejects a bad RqCluster through kubectl, and a renewal is
// picked up by the running webhook without a restart while it keeps answering.
//
// Network rule: the API server reaches the webhook on 127.0.0.1 only. The test's webhook
// configurations are copies of deploy/default's with `url: https://127.0.0.1:PORT` instead of
// the Service (which would resolve to a non-loopback ClusterIP), scoped to this suite's namespace
// so no other suite's writes depend on this webhook, and the serving certificate gets the
// 127.0.0.1 IP SAN the API server then checks.
import { strict as assert } from "node:assert";
import { X509Certificate } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { stringify } from "yaml";
import { kustomize, type K8sObject } from "../../hack/kustomize.js";
import type { ControlPlane } from "../../testenv/controlplane.js";
import { installCRDs, OPERATOR_CRD_FILES } from "../../testenv/crds.js";
import { ProcessGroup } from "../../testenv/processes.js";
import { createTestNamespace, sharedControlPlane } from "../../testenv/shared.js";
import { assertRqClusterAdmission, OWNED_FLAG_DENIED, ownedFlagCluster } from "./support/admission.js";
import { startCertManager } from "./support/certManager.js";
import {
  entryPointExists,
  httpText,
  servedCertFingerprint,
  startWebhook,
  type Running,
} from "./support/entrypoints.js";
import { SecretVolume } from "./support/secretVolume.js";
import { buildTools } from "./support/tools.js";

const NS = "rqlite-operator-system";
const SERVING = "rqlite-operator-webhook-cert";
const TEST_PREFIX = "install-test-";

type Secret = { data: Record<string, string> };

async function poll<T>(
  what: string,
  check: () => Promise<T | undefined>,
  timeoutMs = 60_000,
  everyMs = 100,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

async function getJson<T>(cp: ControlPlane, args: string[]): Promise<T | undefined> {
  const r = await cp.kubectl(["get", ...args, "-o", "json"]);
  return r.code === 0 ? (JSON.parse(r.stdout) as T) : undefined;
}

const fromB64 = (s: string) => Buffer.from(s, "base64");
const fingerprint = (pem: Buffer) => new X509Certificate(pem).fingerprint256;

/** deploy/default's webhook configurations, pointed at 127.0.0.1:port and scoped to `namespace`. */
function loopbackWebhookConfigurations(objects: K8sObject[], port: number, namespace: string): K8sObject[] {
  return objects
    .filter((o) => o.kind.endsWith("WebhookConfiguration"))
    .map((o) => {
      const copy = structuredClone(o);
      copy.metadata.name = `${TEST_PREFIX}${o.metadata.name}`;
      copy.webhooks = (o.webhooks as { clientConfig: { service: { path: string } } }[]).map((w) => ({
        ...w,
        clientConfig: { url: `https://127.0.0.1:${port}${w.clientConfig.service.path}` },
        namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": namespace } },
      }));
      return copy;
    });
}

describe("install: cert-manager issues and rotates the webhook certificate", function () {
  this.timeout(600_000);
  const group = new ProcessGroup();
  const work = mkdtempSync(join(tmpdir(), "rqo-cert-manager-"));
  const volume = new SecretVolume(join(work, "serving-certs"));
  let cp: ControlPlane;
  let ns: string;
  let defaults: K8sObject[];
  let webhook: Running | undefined;
  let configNames: string[] = [];

  before(async () => {
    cp = await sharedControlPlane();
    const tools = await buildTools(["cert-manager"]);
    await installCRDs(cp, [tools.crds("cert-manager"), ...OPERATOR_CRD_FILES]);
    ns = await createTestNamespace(cp, "cert-manager");
    startCertManager(group, cp, tools, work);
    defaults = await kustomize("deploy/default");
  });

  after(async () => {
    if (configNames.length) await cp.kubectl(["delete", "--ignore-not-found", ...configNames]);
    await group.stopAll();
    rmSync(work, { recursive: true, force: true });
  });

  it("makes the CA chain and the serving certificate Ready", async () => {
    const started = Date.now();
    const certManaged = defaults.filter((o) => o.apiVersion.startsWith("cert-manager.io/") || o.kind === "Namespace");
    for (const o of certManaged) {
      if (o.kind === "Certificate" && o.metadata.name === SERVING) {
        // The API server dials the test's webhook at 127.0.0.1, so the certificate must name it.
        (o.spec as { ipAddresses?: string[] }).ipAddresses = ["127.0.0.1"];
      }
    }
    await cp.kubectlOk(["apply", "--server-side", "--field-manager=install-test", "-f", "-"], {
      input: certManaged.map((o) => stringify(o)).join("---\n"),
    });
    const certs = certManaged.filter((o) => o.kind === "Certificate").map((o) => `certificate/${o.metadata.name}`);
    assert.equal(certs.length, 2);
    await cp.kubectlOk(["wait", "-n", NS, "--for=condition=Ready", "--timeout=120s", ...certs], { timeoutMs: 130_000 });
    console.log(`    certificates Ready ${((Date.now() - started) / 1000).toFixed(1)} s after apply`);
    const secret = (await getJson<Secret>(cp, ["secret", "-n", NS, SERVING]))!;
    const served = new X509Certificate(fromB64(secret.data["tls.crt"]!));
    assert.ok(
      served.verify(new X509Certificate(fromB64(secret.data["ca.crt"]!)).publicKey),
      "serving certificate is signed by the CA in ca.crt",
    );
    assert.match(served.subjectAltName ?? "", new RegExp(`DNS:rqlite-operator-webhook\\.${NS}\\.svc`));
  });

  it("serves that Secret's files from the webhook and gets the CA injected into both webhook configurations", async function () {
    if (!entryPointExists("webhook")) {
      console.log("    skipped: webhook/main.ts is not there yet");
      this.skip();
    }
    const secret = (await getJson<Secret>(cp, ["secret", "-n", NS, SERVING]))!;
    volume.update({
      "tls.crt": fromB64(secret.data["tls.crt"]!),
      "tls.key": fromB64(secret.data["tls.key"]!),
      "ca.crt": fromB64(secret.data["ca.crt"]!),
    });
    webhook = await startWebhook(group, volume.dir, work);

    const configs = loopbackWebhookConfigurations(defaults, webhook.port, ns);
    for (const c of configs) {
      for (const w of c.webhooks as { clientConfig: { url: string } }[])
        assert.match(w.clientConfig.url, /^https:\/\/127\.0\.0\.1:\d+\//);
      assert.equal(c.metadata.annotations?.["cert-manager.io/inject-ca-from"], `${NS}/${SERVING}`);
    }
    configNames = configs.map((c) => `${c.kind.toLowerCase()}/${c.metadata.name}`);
    await cp.kubectlOk(["apply", "--server-side", "--field-manager=install-test", "-f", "-"], {
      input: configs.map((c) => stringify(c)).join("---\n"),
    });
    const ca = secret.data["ca.crt"]!;
    await poll("cainjector to write ca.crt into every webhook", async () => {
      const bundles = await Promise.all(
        configNames.map(async (n) =>
          ((await getJson<{ webhooks: { clientConfig: { caBundle?: string } }[] }>(cp, [n]))?.webhooks ?? []).map(
            (w) => w.clientConfig.caBundle,
          ),
        ),
      );
      const flat = bundles.flat();
      return flat.length === 5 && flat.every((b) => b === ca) ? true : undefined;
    });
  });

  it("rejects a bad RqCluster at kubectl apply, defaults a good one, and judges only labelled ConfigMaps", async function () {
    if (!webhook) this.skip();
    await assertRqClusterAdmission(cp, ns);

    const template = { "pod-template.json": JSON.stringify({ spec: { restartPolicy: "Never" } }) };
    const labelled = await cp.kubectl(["create", "--dry-run=server", "-f", "-"], {
      input: stringify({
        apiVersion: "v1",
        kind: "ConfigMap",
        metadata: { name: "tpl", namespace: ns, labels: { "rqlite.io/pod-template": "" } },
        data: template,
      }),
    });
    assert.notEqual(labelled.code, 0);
    assert.match(labelled.stderr, /restartPolicy/);
    await cp.kubectlOk(["create", "--dry-run=server", "-f", "-"], {
      input: stringify({
        apiVersion: "v1",
        kind: "ConfigMap",
        metadata: { name: "other", namespace: ns },
        data: template,
      }),
    });

    // Each answer came from the webhook process: its request counter has every path.
    const metrics = (await httpText(webhook.metricsPort, "/metrics"))?.body ?? "";
    for (const path of [
      "/mutate-rqlite-io-v1alpha1-rqcluster",
      "/validate-rqlite-io-v1alpha1-rqcluster",
      "/validate-v1-configmap-pod-template",
    ]) {
      assert.match(
        metrics,
        new RegExp(`controller_runtime_webhook_requests_total\\{[^}]*webhook="${path}"[^}]*\\} [1-9]`),
        path,
      );
    }
  });

  it("renews: the running webhook serves the new certificate without a restart and keeps answering", async function () {
    if (!webhook) this.skip();
    const running = webhook;
    const before = (await getJson<Secret>(cp, ["secret", "-n", NS, SERVING]))!;
    const oldFingerprint = fingerprint(fromB64(before.data["tls.crt"]!));
    const caBundle = fromB64(before.data["ca.crt"]!);
    assert.equal(await servedCertFingerprint(running.port, caBundle), oldFingerprint);

    // Admission keeps working during the rotation, as the API server sees it.
    let stop = false;
    const answers: string[] = [];
    const prober = (async () => {
      while (!stop) {
        const r = await cp.kubectl(["apply", "--dry-run=server", "-f", "-"], {
          input: ownedFlagCluster(ns, "probe"),
        });
        answers.push(OWNED_FLAG_DENIED.test(r.stderr) ? "denied" : `unexpected: ${r.stderr.trim() || r.stdout.trim()}`);
      }
    })();

    // What `cmctl renew` does: mark the Certificate Issuing, and cert-manager issues a new one.
    const t0 = Date.now();
    const issuing = {
      type: "Issuing",
      status: "True",
      reason: "ManuallyTriggered",
      message: "renewal requested by the install test",
      lastTransitionTime: new Date().toISOString().replace(/\.\d+Z$/, "Z"),
    };
    await cp.kubectlOk([
      "patch",
      "certificate",
      SERVING,
      "-n",
      NS,
      "--subresource=status",
      "--type=json",
      "-p",
      JSON.stringify([{ op: "add", path: "/status/conditions/-", value: issuing }]),
    ]);
    const renewed = await poll("cert-manager to write a new certificate into the Secret", async () => {
      const s = await getJson<Secret>(cp, ["secret", "-n", NS, SERVING]);
      return s && fingerprint(fromB64(s.data["tls.crt"]!)) !== oldFingerprint ? s : undefined;
    });
    const t1 = Date.now();
    // The kubelet's part: the Secret's new version appears in the volume in one atomic swap.
    volume.update({
      "tls.crt": fromB64(renewed.data["tls.crt"]!),
      "tls.key": fromB64(renewed.data["tls.key"]!),
      "ca.crt": fromB64(renewed.data["ca.crt"]!),
    });
    const newFingerprint = fingerprint(fromB64(renewed.data["tls.crt"]!));
    await poll(
      "the webhook to serve the renewed certificate",
      async () => ((await servedCertFingerprint(running.port, caBundle)) === newFingerprint ? true : undefined),
      30_000,
      50,
    );
    const t2 = Date.now();
    // A few more admissions on the new certificate, then stop probing.
    const seen = answers.length;
    await poll(
      "admissions after the swap",
      () => Promise.resolve(answers.length >= seen + 2 ? true : undefined),
      30_000,
    );
    stop = true;
    await prober;

    console.log(
      `    renewal: new certificate in the Secret ${((t1 - t0) / 1000).toFixed(2)} s after the request; ` +
        `served ${((t2 - t1) / 1000).toFixed(2)} s after the files changed; ${((t2 - t0) / 1000).toFixed(2)} s end to end; ${answers.length} admissions during it`,
    );
    assert.equal(running.proc.child.exitCode, null, "the webhook was not restarted");
    assert.deepEqual(
      answers.filter((a) => a !== "denied"),
      [],
      "every admission during the rotation was answered by the webhook",
    );
    assert.deepEqual(fromB64(renewed.data["ca.crt"]!), caBundle, "the CA, and so every caBundle, stays the same");
  });
});
