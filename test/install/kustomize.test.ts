// The kustomize install paths: every overlay renders and passes the API server's own checks
// (server-side dry run against the real CRDs of cert-manager and prometheus-operator), and the
// rendered objects keep the contract the two entry points and the webhook server rely on.
import { strict as assert } from "node:assert";
import { join } from "node:path";
import { findObject, kustomize, REPO_ROOT, type K8sObject } from "../../hack/kustomize.js";
import { WEBHOOKS } from "../../webhook/handlers.js";
import { sharedControlPlane } from "../../testenv/shared.js";
import { installDependencyCRDs } from "./support/installCrds.js";

const OVERLAYS = ["deploy/base", "deploy/default", "deploy/monitoring", "deploy/namespaced"];
const NS = "rqlite-operator-system";

interface Container {
  name: string;
  command?: string[];
  args?: string[];
  env?: { name: string; value?: string; valueFrom?: unknown }[];
  readinessProbe?: { httpGet: { path: string; port: string; scheme?: string } };
  livenessProbe?: { httpGet: { path: string; port: string; scheme?: string } };
  ports?: { name: string; containerPort: number }[];
  volumeMounts?: { name: string; mountPath: string }[];
}
interface Webhook {
  name: string;
  failurePolicy: string;
  sideEffects: string;
  timeoutSeconds: number;
  matchPolicy: string;
  admissionReviewVersions: string[];
  objectSelector?: unknown;
  clientConfig: { service: { name: string; namespace: string; path: string; port: number } };
}

const containerOf = (d: K8sObject) =>
  (d.spec as { template: { spec: { containers: Container[] } } }).template.spec.containers[0]!;
const replicasOf = (d: K8sObject) => (d.spec as { replicas: number }).replicas;
const webhooksOf = (objects: K8sObject[]) =>
  objects
    .filter((o) => o.kind === "MutatingWebhookConfiguration" || o.kind === "ValidatingWebhookConfiguration")
    .flatMap((o) => o.webhooks as Webhook[]);

describe("install: kustomize overlays", function () {
  this.timeout(600_000);

  describe("rendered manifests", () => {
    let base: K8sObject[];
    let defaults: K8sObject[];
    before(async () => {
      [base, defaults] = await Promise.all([kustomize("deploy/base"), kustomize("deploy/default")]);
    });

    it("run the controller entry point with its flags, Lease namespace and probes, twice", () => {
      const d = findObject(base, "Deployment", "rqlite-operator-controller");
      assert.equal(replicasOf(d), 2);
      const c = containerOf(d);
      assert.deepEqual(c.command, ["node", "dist/controller/main.js"]);
      assert.deepEqual(c.args, [
        "--metrics-bind-address=:8080",
        "--metrics-secure",
        "--health-probe-bind-address=:8081",
        "--leader-elect",
      ]);
      assert.deepEqual(c.env?.find((e) => e.name === "POD_NAMESPACE")?.valueFrom, {
        fieldRef: { fieldPath: "metadata.namespace" },
      });
      assert.ok(
        c.env?.some((e) => e.name === "WATCH_NAMESPACES"),
        "WATCH_NAMESPACES is set",
      );
      assert.equal(c.livenessProbe?.httpGet.path, "/healthz");
      assert.equal(c.readinessProbe?.httpGet.path, "/readyz");
      assert.equal(c.ports?.find((p) => p.name === c.readinessProbe!.httpGet.port)?.containerPort, 8081);
    });

    it("run the webhook entry point on 9443 with the cert-manager Secret at controller-runtime's folder, twice", () => {
      const d = findObject(base, "Deployment", "rqlite-operator-webhook");
      assert.equal(replicasOf(d), 2);
      const c = containerOf(d);
      assert.deepEqual(c.command, ["node", "dist/webhook/main.js"]);
      // Metrics over HTTPS, for callers the API server allows (test/webhook/metrics-auth.test.ts).
      assert.deepEqual(c.args, ["--port=9443", "--metrics-bind-address=:8080", "--metrics-secure"]);
      assert.equal(c.ports?.find((p) => p.name === "webhook-server")?.containerPort, 9443);
      assert.equal(c.ports?.find((p) => p.name === "metrics")?.containerPort, 8080);
      assert.equal(c.readinessProbe?.httpGet.scheme, "HTTPS");
      assert.equal(c.readinessProbe?.httpGet.port, "webhook-server");
      assert.deepEqual(
        c.volumeMounts?.map((m) => m.mountPath),
        ["/tmp/k8s-webhook-server/serving-certs"],
      );
    });

    it("register every webhook the server serves, strictly, and keep unlabelled ConfigMaps away", () => {
      const hooks = webhooksOf(base);
      assert.deepEqual(hooks.map((w) => w.clientConfig.service.path).sort(), WEBHOOKS.map((w) => w.path).sort());
      for (const w of hooks) {
        assert.equal(w.failurePolicy, "Fail", w.name);
        assert.equal(w.sideEffects, "None", w.name);
        assert.equal(w.matchPolicy, "Equivalent", w.name);
        assert.deepEqual(w.admissionReviewVersions, ["v1"], w.name);
        assert.ok(w.timeoutSeconds >= 1 && w.timeoutSeconds <= 30, `${w.name} timeoutSeconds`);
        assert.deepEqual(w.clientConfig.service, {
          name: "rqlite-operator-webhook",
          namespace: NS,
          path: w.clientConfig.service.path,
          port: 443,
        });
      }
      const cm = hooks.find((w) => w.clientConfig.service.path === "/validate-v1-configmap-pod-template")!;
      assert.deepEqual(cm.objectSelector, {
        matchExpressions: [{ key: "rqlite.io/pod-template", operator: "Exists" }],
      });
      findObject(base, "Service", "rqlite-operator-webhook");
    });

    it("give both Deployments a PodDisruptionBudget and a NetworkPolicy", () => {
      for (const name of ["rqlite-operator-controller", "rqlite-operator-webhook"]) {
        const selector = (findObject(base, "Deployment", name).spec as { selector: { matchLabels: unknown } }).selector
          .matchLabels;
        assert.deepEqual(
          (findObject(base, "PodDisruptionBudget", name).spec as { selector: { matchLabels: unknown } }).selector
            .matchLabels,
          selector,
        );
        assert.deepEqual(
          (findObject(base, "NetworkPolicy", name).spec as { podSelector: { matchLabels: unknown } }).podSelector
            .matchLabels,
          selector,
        );
      }
    });

    it("default: cert-manager's CA lands in both webhook configurations from a certificate for the Service", () => {
      const configs = defaults.filter((o) => o.kind.endsWith("WebhookConfiguration"));
      assert.equal(configs.length, 2);
      for (const c of configs)
        assert.equal(
          c.metadata.annotations?.["cert-manager.io/inject-ca-from"],
          `${NS}/rqlite-operator-webhook-cert`,
          c.metadata.name,
        );
      const cert = findObject(defaults, "Certificate", "rqlite-operator-webhook-cert").spec as {
        secretName: string;
        dnsNames: string[];
        issuerRef: { name: string };
      };
      assert.ok(cert.dnsNames.includes(`rqlite-operator-webhook.${NS}.svc`));
      const mounted = (
        findObject(defaults, "Deployment", "rqlite-operator-webhook").spec as {
          template: { spec: { volumes: { secret?: { secretName: string } }[] } };
        }
      ).template.spec.volumes.map((v) => v.secret?.secretName);
      assert.deepEqual(mounted, [cert.secretName]);
      const ca = findObject(defaults, "Issuer", cert.issuerRef.name).spec as { ca: { secretName: string } };
      const caCert = defaults.find(
        (o) => o.kind === "Certificate" && (o.spec as { secretName: string }).secretName === ca.ca.secretName,
      );
      assert.equal(
        (caCert?.spec as { isCA?: boolean } | undefined)?.isCA,
        true,
        "the CA Issuer signs with a cert-manager CA certificate",
      );
    });
  });

  describe("server-side dry run", () => {
    before(async function () {
      const cp = await sharedControlPlane();
      await installDependencyCRDs(cp, { rqlite: true });
      // A dry run creates nothing, so namespaced objects need their namespace to exist already.
      if ((await cp.kubectl(["get", "namespace", NS])).code !== 0) await cp.kubectlOk(["create", "namespace", NS]);
    });

    for (const overlay of OVERLAYS) {
      it(`kubectl apply --server-side --dry-run=server -k ${overlay}`, async () => {
        const cp = await sharedControlPlane();
        const r = await cp.kubectl([
          "apply",
          "--server-side",
          "--dry-run=server",
          "--field-manager=install-test",
          "-k",
          join(REPO_ROOT, overlay),
        ]);
        assert.equal(r.code, 0, `${overlay}: ${r.stderr}`);
        assert.match(r.stdout, /deployment\.apps\/rqlite-operator-webhook serverside-applied \(server dry run\)/);
      });
    }
  });
});
