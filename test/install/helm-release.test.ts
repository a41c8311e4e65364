// The Helm chart installed for real: `helm install`, `helm upgrade` and `helm uninstall` of the
// pinned Helm (hack/tools/helm) against a control plane of this suite's own, with cert-manager's
// controller and cainjector issuing the chart's certificate and injecting its CA. The CRD is
// cluster-wide state (the chart creates, keeps or deletes it), so this suite does not share the
// control plane that other suites' RqClusters live on.
//
// Network rule: the API server dials only loopback. A Helm post-renderer
// (support/helmLoopback.ts) points the chart's webhook configurations at the webhook process this
// suite runs on 127.0.0.1, scoped to the suite's namespace, and adds that IP to the serving
// Certificate; the webhook serves the Secret cert-manager wrote for the release. There is no
// kubelet, so the chart's Deployments create no Pods: their Pods' admission under restricted Pod
// Security is checked by helm-chart.test.ts.
import { strict as assert } from "node:assert";
import { X509Certificate } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseObjects, REPO_ROOT, type K8sObject } from "../../hack/kustomize.js";
import { startControlPlane, type ControlPlane } from "../../testenv/controlplane.js";
import { eventually } from "../../testenv/eventually.js";
import { freePort } from "../../testenv/ports.js";
import { ProcessGroup } from "../../testenv/processes.js";
import { createTestNamespace } from "../../testenv/shared.js";
import { assertRqClusterAdmission } from "./support/admission.js";
import { startCertManager } from "./support/certManager.js";
import { entryPointExists, servedCertFingerprint, startWebhook } from "./support/entrypoints.js";
import { CHART, helm, helmOk, loopbackPostRenderer } from "./support/helm.js";
import { installDependencyCRDs } from "./support/installCrds.js";
import { RESTRICTED } from "./support/podSecurity.js";
import { SecretVolume } from "./support/secretVolume.js";
import { buildTools, run } from "./support/tools.js";

const RELEASE = "rqlite-operator";
const CRDS = ["rqbackups", "rqclusters", "rqscheduledbackups"].map(
  (p) => `customresourcedefinition.apiextensions.k8s.io/${p}.rqlite.io`,
);
const SERVING = "rqlite-operator-webhook-cert";
/** The Secrets cert-manager writes for the chart's Certificates; Helm never created them. */
const CERT_MANAGER_SECRETS = ["secret/rqlite-operator-ca", `secret/${SERVING}`];
/** A serving certificate of the user's own, for `webhook.certificate.source: secret`. */
const OWN_SECRET = "webhook-tls-own";

type Secret = { data: Record<string, string> };
interface WebhookConfiguration {
  webhooks: { failurePolicy: string; clientConfig: { caBundle?: string } }[];
}

describe("install: Helm release (install, upgrade, uninstall)", function () {
  this.timeout(600_000);
  const group = new ProcessGroup();
  const work = mkdtempSync(join(tmpdir(), "rqo-helm-"));
  const volume = new SecretVolume(join(work, "serving-certs"));
  let cp: ControlPlane | undefined;
  let ns: string;
  let port: number;

  const plane = () => cp!;
  const target = () => ["--kubeconfig", plane().kubeconfigPath, "--namespace", ns];
  /** helm install/upgrade of the chart as this suite's release, through the loopback post-renderer. */
  const release = (verb: "install" | "upgrade", values: string[]) =>
    helmOk([verb, RELEASE, CHART, ...target(), ...loopbackPostRenderer(port, ns), ...values]);
  const getJson = async <T>(args: string[]) => JSON.parse(await plane().kubectlOk(["get", ...args, "-o", "json"])) as T;
  const manifest = async () => helmOk(["get", "manifest", RELEASE, ...target()]);
  /** Names (kind/name) of the objects of `manifestText` that exist now. */
  const existing = async (manifestText: string) =>
    (await plane().kubectlOk(["get", "--ignore-not-found", "-o", "name", "-f", "-"], { input: manifestText }))
      .split("\n")
      .filter(Boolean);
  const webhookConfigurations = async () =>
    Promise.all(
      ["mutating", "validating"].map((k) =>
        getJson<WebhookConfiguration>([`${k}webhookconfiguration`, `rqlite-operator-${k}-webhook-configuration`]),
      ),
    );

  before(async function () {
    if (!entryPointExists("webhook")) {
      console.log("    skipped: webhook/main.ts is not there yet");
      this.skip();
    }
    const tools = await buildTools(["helm", "cert-manager"]);
    cp = await startControlPlane();
    await installDependencyCRDs(cp, { rqlite: false });
    startCertManager(group, cp, tools, work);
    ns = await createTestNamespace(cp, "helm", RESTRICTED);
    port = await freePort();
  });

  after(async () => {
    await group.stopAll();
    await cp?.stop();
    rmSync(work, { recursive: true, force: true });
  });

  it("helm install creates every object of the chart, the CRD among them, and prints how to make a first cluster", async () => {
    const started = Date.now();
    const out = await release("install", []);
    console.log(`    helm install: ${((Date.now() - started) / 1000).toFixed(1)} s`);
    assert.match(out, /STATUS: deployed/);
    assert.match(out, new RegExp(`wait --for=condition=Ready certificate/${SERVING}`));
    assert.match(out, /kubectl apply -n db -f - <<'YAML'\n\s+apiVersion: rqlite\.io\/v1alpha1\n\s+kind: RqCluster/);
    const text = await manifest();
    const objects = parseObjects(text, "helm get manifest");
    assert.ok(objects.some((o) => o.kind === "Deployment"));
    assert.equal((await existing(text)).length, objects.length, "every object of the release exists");
    await plane().kubectlOk(["wait", "--for=condition=Established", "--timeout=30s", ...CRDS]);
  });

  it("serves admission through the API server with the certificate cert-manager issued for the release", async () => {
    await plane().kubectlOk(["wait", "-n", ns, "--for=condition=Ready", "--timeout=120s", `certificate/${SERVING}`], {
      timeoutMs: 130_000,
    });
    const secret = await getJson<Secret>(["secret", "-n", ns, SERVING]);
    const file = (k: string) => Buffer.from(secret.data[k]!, "base64");
    volume.update({ "tls.crt": file("tls.crt"), "tls.key": file("tls.key"), "ca.crt": file("ca.crt") });
    await startWebhook(group, volume.dir, work, port);
    await eventually(
      "cainjector to write the release's CA into all three webhooks",
      async () =>
        (await webhookConfigurations())
          .flatMap((c) => c.webhooks)
          .every((w) => w.clientConfig.caBundle === secret.data["ca.crt"]),
      60_000,
      { intervalMs: 200 },
    );
    await assertRqClusterAdmission(plane(), ns);
  });

  it("helm install refuses values of the wrong type and installs nothing", async () => {
    const r = await helm(["install", "wrong-type", CHART, ...target(), "--set", "controller.replicas=two"]);
    assert.notEqual(r.code, 0, r.stdout);
    assert.match(r.stderr, /values don't meet the specifications of the schema/);
    assert.match(r.stderr, /at '\/controller\/replicas': got string, want integer/);
    assert.deepEqual((await helmOk(["list", "--all", "-q", ...target()])).trim().split("\n"), [RELEASE]);
  });

  it("helm upgrade with changed values changes the live objects, and the webhook keeps answering", async () => {
    const started = Date.now();
    await release("upgrade", [
      "--reuse-values",
      ...["--set", "controller.replicas=3", "--set", "logLevel=debug", "--set", "watchNamespaces={db,analytics}"],
      ...["--set", "webhook.failurePolicy=Ignore", "--set", "monitoring.enabled=true"],
      ...["--set", "monitoring.labels.release=kube-prometheus-stack"],
    ]);
    console.log(`    helm upgrade: ${((Date.now() - started) / 1000).toFixed(1)} s`);
    const controller = await getJson<K8sObject>(["deployment", "-n", ns, "rqlite-operator-controller"]);
    const spec = controller.spec as {
      replicas: number;
      template: { spec: { containers: { env: { name: string; value?: string }[] }[] } };
    };
    assert.equal(spec.replicas, 3);
    const env = Object.fromEntries(spec.template.spec.containers[0]!.env.map((e) => [e.name, e.value]));
    assert.equal(env.LOG_LEVEL, "debug");
    assert.equal(env.WATCH_NAMESPACES, "db,analytics");
    const configs = await webhookConfigurations();
    assert.deepEqual(
      configs.flatMap((c) => c.webhooks.map((w) => w.failurePolicy)),
      ["Ignore", "Ignore", "Ignore", "Ignore", "Ignore"],
    );
    for (const ref of ["servicemonitor/rqlite-operator-controller", "servicemonitor/rqlite-operator-webhook"]) {
      const o = await getJson<K8sObject>([ref, "-n", ns]);
      assert.equal(o.metadata.labels?.release, "kube-prometheus-stack", ref);
    }
    const rule = await getJson<K8sObject>(["prometheusrule", "-n", ns, "rqlite-operator"]);
    assert.equal(rule.metadata.labels?.release, "kube-prometheus-stack");
    await getJson<K8sObject>(["configmap", "-n", ns, "rqlite-operator-dashboard"]);
    const history = JSON.parse(await helmOk(["history", RELEASE, ...target(), "-o", "json"])) as {
      revision: number;
      status: string;
    }[];
    assert.deepEqual(
      history.map((h) => [h.revision, h.status]),
      [
        [1, "superseded"],
        [2, "deployed"],
      ],
    );
    // The upgrade left the injected CA alone: admission still goes through the webhook.
    await assertRqClusterAdmission(plane(), ns);
  });

  it("helm upgrade to an existing Secret: its CA replaces cert-manager's, whose objects go, and admission goes on", async () => {
    const certs = join(work, "own-certs");
    await run("bash", [
      join(REPO_ROOT, "certs/mint-local.sh"),
      certs,
      "127.0.0.1",
      `rqlite-operator-webhook.${ns}.svc`,
    ]);
    const file = (k: string) => readFileSync(join(certs, k));
    await plane().kubectlOk([
      ..."create secret tls".split(" "),
      OWN_SECRET,
      "-n",
      ns,
      `--cert=${join(certs, "tls.crt")}`,
      `--key=${join(certs, "tls.key")}`,
    ]);
    const ca = file("ca.crt").toString("base64");
    await release("upgrade", [
      "--reuse-values",
      ...["--set", "webhook.certificate.source=secret", "--set", `webhook.certificate.secret.name=${OWN_SECRET}`],
      ...["--set", `webhook.certificate.secret.caBundle=${ca}`],
    ]);
    const webhook = await getJson<K8sObject>(["deployment", "-n", ns, "rqlite-operator-webhook"]);
    const volumes = (webhook.spec as { template: { spec: { volumes: { secret?: { secretName: string } }[] } } })
      .template.spec.volumes;
    assert.deepEqual(
      volumes.map((v) => v.secret?.secretName),
      [OWN_SECRET],
    );
    assert.deepEqual(
      (await webhookConfigurations()).flatMap((c) => c.webhooks.map((w) => w.clientConfig.caBundle)),
      [ca, ca, ca, ca, ca],
      "the chart wrote the CA from the values, and cainjector no longer owns it",
    );
    assert.equal((await plane().kubectlOk(["get", "certificates,issuers", "-n", ns, "-o", "name"])).trim(), "");
    // The kubelet's part when the new Pods mount the user's Secret: the files change under the webhook.
    volume.update({ "tls.crt": file("tls.crt"), "tls.key": file("tls.key"), "ca.crt": file("ca.crt") });
    const served = new X509Certificate(file("tls.crt")).fingerprint256;
    await eventually(
      "the webhook to serve the user's certificate",
      async () => (await servedCertFingerprint(port, file("ca.crt"))) === served,
      30_000,
      { intervalMs: 100 },
    );
    await assertRqClusterAdmission(plane(), ns);
  });

  it("helm uninstall leaves nothing of the release but the CRDs it keeps (crds.keep) and Secrets it never made", async () => {
    const text = await manifest();
    await helmOk(["uninstall", RELEASE, ...target(), "--wait", "--timeout=60s"]);
    assert.deepEqual((await existing(text)).sort(), CRDS);
    for (const name of CRDS) {
      const crd = await getJson<K8sObject>([name]);
      assert.equal(crd.metadata.annotations?.["helm.sh/resource-policy"], "keep", name);
    }
    const left = (
      await plane().kubectlOk([
        "get",
        "-n",
        ns,
        "-o",
        "name",
        "all,configmaps,secrets,serviceaccounts,roles,rolebindings,networkpolicies,poddisruptionbudgets,certificates,issuers,servicemonitors,prometheusrules",
      ])
    )
      .split("\n")
      .filter((n) => n && n !== "configmap/kube-root-ca.crt");
    assert.deepEqual(
      left.sort(),
      [...CERT_MANAGER_SECRETS, `secret/${OWN_SECRET}`].sort(),
      "only the Secrets that cert-manager and the user wrote are left in the namespace",
    );
  });

  it("a new release adopts the kept CRDs; after an upgrade to crds.keep=false, helm uninstall deletes them", async () => {
    await release("install", []);
    for (const name of CRDS)
      assert.equal((await getJson<K8sObject>([name])).metadata.labels?.["app.kubernetes.io/managed-by"], "Helm", name);
    await release("upgrade", ["--reuse-values", "--set", "crds.keep=false"]);
    for (const name of CRDS) {
      const crd = await getJson<K8sObject>([name]);
      assert.equal(
        crd.metadata.annotations?.["helm.sh/resource-policy"],
        undefined,
        `the upgrade removed the annotation of ${name}`,
      );
    }
    await helmOk(["uninstall", RELEASE, ...target(), "--wait", "--timeout=60s"]);
    await eventually(
      "the CRDs to be gone",
      async () => (await Promise.all(CRDS.map((name) => plane().kubectl(["get", name])))).every((r) => r.code !== 0),
      30_000,
      { intervalMs: 200 },
    );
  });
});
