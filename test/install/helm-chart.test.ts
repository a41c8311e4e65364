// The Helm chart as files: it is what `npm run chart` generates from deploy/ (and README's values
// table what it generates from the schema); `helm lint --strict` passes with the default and a
// full values file; `helm template` with default values installs exactly what kustomize's
// deploy/default installs (and with monitoring on, deploy/monitoring), RBAC included, apart from
// Helm's labels and settings the chart spells out at their defaults; every value of the full file
// reaches the objects; values.schema.json refuses wrong types and unknown keys; and the rendered
// objects pass the API server's server-side dry run and the restricted Pod Security Standard.
import { strict as assert } from "node:assert";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parse } from "yaml";
import { leaderElectionDefaults } from "../../controller/runtime/leaderElection.js";
import { CHART_DIR, committedChartFiles, readmeWithValuesTable, renderChart } from "../../hack/helm-chart.js";
import { findObject, kustomize, REPO_ROOT, type K8sObject } from "../../hack/kustomize.js";
import type { Schema } from "../../hack/helm/values.js";
import { createTestNamespace, sharedControlPlane } from "../../testenv/shared.js";
import { outOfDateFiles } from "./support/drift.js";
import { CHART, FULL_VALUES, helm, helmTemplate } from "./support/helm.js";
import { installDependencyCRDs } from "./support/installCrds.js";
import { createPodDryRun, podOfDeployment, RESTRICTED } from "./support/podSecurity.js";
import { buildTools } from "./support/tools.js";

const NS = "rqlite-operator-system";
/** Labels Helm's charts put on every object (the chart's _helpers.tpl), not in deploy/. */
const HELM_LABELS = [
  "helm.sh/chart",
  "app.kubernetes.io/managed-by",
  "app.kubernetes.io/instance",
  "app.kubernetes.io/version",
];
/** Flags and variables the chart sets explicitly, which deploy/ leaves to the binaries' defaults. */
const EXPLICIT_DEFAULTS = {
  controllerArgs: [
    `--lease-duration=${leaderElectionDefaults.leaseDurationSeconds}`,
    `--renew-deadline=${leaderElectionDefaults.renewDeadlineSeconds}`,
    `--retry-period=${leaderElectionDefaults.retryPeriodSeconds}`,
  ],
  env: { name: "LOG_LEVEL", value: "info" },
};

interface Container {
  name: string;
  image: string;
  imagePullPolicy: string;
  args?: string[];
  env?: { name: string; value?: string }[];
  resources?: unknown;
}
interface PodSpec {
  containers: Container[];
  nodeSelector?: unknown;
  tolerations?: unknown;
  affinity?: unknown;
  imagePullSecrets?: unknown;
  volumes?: { secret?: { secretName: string } }[];
}
interface Webhook {
  failurePolicy: string;
  clientConfig: { caBundle?: string; service: { namespace: string } };
}

const podSpec = (d: K8sObject) => (d.spec as { template: { spec: PodSpec } }).template.spec;
const container = (d: K8sObject) => podSpec(d).containers[0]!;
const webhooks = (objects: K8sObject[]) =>
  objects.filter((o) => o.kind.endsWith("WebhookConfiguration")).flatMap((o) => o.webhooks as Webhook[]);
const keyOf = (o: K8sObject) => `${o.kind}/${o.metadata.name}`;
const kinds = (objects: K8sObject[]) => objects.map(keyOf).sort();

/**
 * A Helm render as kustomize would have written it: without Helm's labels and the keep
 * annotation, and without the flags and variable the chart sets to the binaries' defaults
 * (asserting first that they are there, at those defaults).
 */
function asKustomizeWouldHave(objects: K8sObject[]): K8sObject[] {
  return objects.map((original) => {
    const o = structuredClone(original);
    for (const l of HELM_LABELS) delete o.metadata.labels?.[l];
    delete o.metadata.annotations?.["helm.sh/resource-policy"];
    for (const field of ["labels", "annotations"] as const) {
      if (Object.keys(o.metadata[field] ?? { absent: true }).length === 0) delete o.metadata[field];
    }
    if (o.kind === "Deployment") {
      const c = container(o);
      assert.deepEqual(
        c.env?.filter((e) => e.name === EXPLICIT_DEFAULTS.env.name),
        [EXPLICIT_DEFAULTS.env],
        `${o.metadata.name}: LOG_LEVEL`,
      );
      c.env = c.env?.filter((e) => e.name !== EXPLICIT_DEFAULTS.env.name);
      if (c.env?.length === 0) delete c.env;
      if (o.metadata.name === "rqlite-operator-controller") {
        const extra = c.args?.slice(-EXPLICIT_DEFAULTS.controllerArgs.length);
        assert.deepEqual(extra, EXPLICIT_DEFAULTS.controllerArgs, "the controller's Lease flags at their defaults");
        c.args = c.args?.slice(0, -EXPLICIT_DEFAULTS.controllerArgs.length);
      }
    }
    return o;
  });
}

function sameObjects(helmObjects: K8sObject[], kustomizeObjects: K8sObject[]): void {
  const expected = kustomizeObjects.filter((o) => o.kind !== "Namespace");
  const got = asKustomizeWouldHave(helmObjects);
  assert.deepEqual(kinds(got), kinds(expected));
  for (const e of expected) assert.deepEqual(findObject(got, e.kind, e.metadata.name), e, keyOf(e));
}

describe("install: Helm chart", function () {
  this.timeout(600_000);

  before(async () => {
    await buildTools(["helm"]);
  });

  describe("generated from deploy/", () => {
    let rendered: { files: Record<string, string>; schema: Schema };
    before(async () => {
      rendered = await renderChart();
    });

    it("is up to date with deploy/, deploy/helm/parts/ and package.json (npm run chart)", () => {
      const outOfDate = outOfDateFiles(rendered.files, CHART_DIR, committedChartFiles());
      assert.deepEqual(
        outOfDate,
        [],
        `deploy/helm/rqlite-operator is out of date (${outOfDate.join(", ")}): run \`npm run chart\` and commit the result`,
      );
    });

    it("README's values table is the one from values.schema.json", () => {
      const readme = readFileSync(join(REPO_ROOT, "README.md"), "utf8");
      assert.equal(
        readme,
        readmeWithValuesTable(readme, rendered.schema),
        "README.md's values table is out of date: run `npm run chart`",
      );
    });
  });

  describe("helm lint --strict", () => {
    for (const [what, args] of [
      ["default values", []],
      ["the full values file", ["--values", FULL_VALUES]],
    ] as const) {
      it(`passes with ${what}`, async () => {
        const r = await helm(["lint", "--strict", CHART, ...args]);
        assert.equal(r.code, 0, `${r.stdout}${r.stderr}`);
        assert.match(r.stdout, /1 chart\(s\) linted, 0 chart\(s\) failed/);
        assert.doesNotMatch(r.stdout, /\[(WARNING|ERROR)\]/, r.stdout);
      });
    }
  });

  describe("helm template", () => {
    it("with default values installs what kustomize's deploy/default installs", async () => {
      sameObjects(await helmTemplate(NS), await kustomize("deploy/default"));
    });

    it("with monitoring.enabled installs what deploy/monitoring installs", async () => {
      sameObjects(await helmTemplate(NS, ["--set", "monitoring.enabled=true"]), await kustomize("deploy/monitoring"));
    });

    it("grants the controller exactly deploy/base's least-privilege RBAC, whatever the values", async () => {
      const base = await kustomize("deploy/base");
      const rbac = (objects: K8sObject[]) =>
        objects
          .filter((o) => /^(Cluster)?Role(Binding)?$/.test(o.kind))
          .map((o) => ({
            kind: o.kind,
            name: o.metadata.name,
            rules: o.rules,
            roleRef: o.roleRef,
            subjects: o.subjects,
          }))
          .sort((a, b) => `${a.kind}/${a.name}`.localeCompare(`${b.kind}/${b.name}`));
      assert.deepEqual(rbac(await helmTemplate(NS, ["--values", FULL_VALUES])), rbac(base));
    });

    it("with the full values file puts every value into the objects", async () => {
      const values = parse(readFileSync(FULL_VALUES, "utf8")) as {
        image: { repository: string; tag: string; digest: string; pullPolicy: string };
        imagePullSecrets: unknown;
        controller: {
          replicas: number;
          resources: unknown;
          nodeSelector: unknown;
          tolerations: unknown;
          affinity: unknown;
          extraEgress: unknown[];
        };
        webhook: { replicas: number; resources: unknown; nodeSelector: unknown; tolerations: unknown };
        monitoring: { labels: Record<string, string> };
      };
      const objects = await helmTemplate("ops", ["--values", FULL_VALUES]);
      const controller = findObject(objects, "Deployment", "rqlite-operator-controller");
      const webhook = findObject(objects, "Deployment", "rqlite-operator-webhook");
      const image = `${values.image.repository}:${values.image.tag}@${values.image.digest}`;
      for (const d of [controller, webhook]) {
        assert.equal(container(d).image, image);
        assert.equal(container(d).imagePullPolicy, values.image.pullPolicy);
        assert.deepEqual(podSpec(d).imagePullSecrets, values.imagePullSecrets);
        assert.equal(container(d).env?.find((e) => e.name === "LOG_LEVEL")?.value, "debug");
      }
      assert.equal(container(controller).env?.find((e) => e.name === "WATCH_NAMESPACES")?.value, "db,analytics");
      // The chart's flags, then every tuning flag (0 included), then extraArgs, which win.
      assert.deepEqual(container(controller).args?.slice(-16), [
        "--lease-duration=30",
        "--renew-deadline=20",
        "--retry-period=4",
        "--workers=6",
        "--resync-period=300",
        "--node-failure-timeout=120",
        "--cache-sync-timeout=90",
        "--cache-failure-timeout=45",
        "--rqlite-metrics-interval=0",
        "--backup-workers=3",
        "--backup-max-per-namespace=2",
        "--backup-deadline=1800",
        "--backup-retry-base-delay=5",
        "--backup-job-image=registry.example.com/mirror/rqlite-operator:0.1.0-rc.1",
        "--cluster-domain=k8s.example.internal",
        "--workers=4",
      ]);
      assert.equal(container(webhook).args?.at(-1), "--port=9444");
      for (const d of [controller, webhook]) {
        const template = (d.spec as { template: { metadata: { labels: object; annotations: object } } }).template;
        assert.equal((template.metadata.labels as Record<string, string>).team, "platform");
        assert.equal((template.metadata.annotations as Record<string, string>)["example.com/scrape"], "false");
        assert.equal((podSpec(d) as { priorityClassName?: string }).priorityClassName, "system-cluster-critical");
        assert.deepEqual(
          container(d)
            .env?.slice(-2)
            .map((e) => e.name),
          ["HTTPS_PROXY", "NO_PROXY"],
        );
      }
      for (const name of ["rqlite-operator-controller", "rqlite-operator-webhook"])
        assert.equal(
          findObject(objects, "ServiceAccount", name).metadata.annotations?.["eks.amazonaws.com/role-arn"],
          "arn:aws:iam::123456789012:role/rqlite-backups",
        );
      for (const [d, v] of [
        [controller, values.controller],
        [webhook, values.webhook],
      ] as const) {
        assert.equal((d.spec as { replicas: number }).replicas, v.replicas);
        assert.deepEqual(container(d).resources, v.resources);
        assert.deepEqual(podSpec(d).nodeSelector, v.nodeSelector);
        assert.deepEqual(podSpec(d).tolerations, v.tolerations);
      }
      // Helm merges maps: the node affinity comes on top of the default spread over nodes.
      const defaults = parse(readFileSync(join(CHART_DIR, "values.yaml"), "utf8")) as typeof values;
      assert.deepEqual(podSpec(controller).affinity, {
        ...(defaults.controller.affinity as object),
        ...(values.controller.affinity as object),
      });
      assert.equal(podSpec(webhook).affinity, undefined, "affinity: null leaves the Pods unconstrained");
      // One webhook replica: a PodDisruptionBudget of minAvailable 1 would block every drain.
      assert.deepEqual(
        objects.filter((o) => o.kind === "PodDisruptionBudget").map((o) => o.metadata.name),
        ["rqlite-operator-controller"],
      );
      assert.deepEqual(
        webhooks(objects).map((w) => w.failurePolicy),
        ["Ignore", "Ignore", "Ignore", "Ignore", "Ignore"],
      );
      assert.ok(webhooks(objects).every((w) => w.clientConfig.service.namespace === "ops"));
      // Watching some namespaces, the release's webhooks judge only those.
      for (const w of webhooks(objects))
        assert.deepEqual((w as { namespaceSelector?: unknown }).namespaceSelector, {
          matchExpressions: [{ key: "kubernetes.io/metadata.name", operator: "In", values: ["db", "analytics"] }],
        });
      // The user's ClusterIssuer signs; the chart makes no CA of its own.
      assert.deepEqual(objects.filter((o) => o.apiVersion.startsWith("cert-manager.io/")).map(keyOf), [
        "Certificate/rqlite-operator-webhook-cert",
      ]);
      assert.deepEqual(findObject(objects, "Certificate", "rqlite-operator-webhook-cert").spec, {
        ...(findObject(await helmTemplate("ops"), "Certificate", "rqlite-operator-webhook-cert").spec as object),
        issuerRef: { group: "cert-manager.io", kind: "ClusterIssuer", name: "platform-ca" },
      });
      const monitors = ["rqlite-operator-controller", "rqlite-operator-webhook"];
      for (const [kind, name] of [
        ...monitors.map((m) => ["ServiceMonitor", m]),
        ["PrometheusRule", "rqlite-operator"],
      ]) {
        const o = findObject(objects, kind!, name!);
        assert.equal(o.metadata.labels?.release, values.monitoring.labels.release, `${kind} ${name}`);
      }
      for (const name of monitors)
        assert.deepEqual(
          (findObject(objects, "ServiceMonitor", name).spec as { namespaceSelector: unknown }).namespaceSelector,
          { matchNames: ["ops"] },
        );
      findObject(objects, "ConfigMap", "rqlite-operator-dashboard");
      // The controller's own egress rules (DNS, the API server and 443, rqlite), then the user's.
      const egress = (policy: K8sObject) => (policy.spec as { egress: unknown[] }).egress;
      const ownEgress = egress(findObject(await helmTemplate("ops"), "NetworkPolicy", "rqlite-operator-controller"));
      assert.deepEqual(egress(findObject(objects, "NetworkPolicy", "rqlite-operator-controller")), [
        ...ownEgress,
        ...values.controller.extraEgress,
      ]);
      assert.deepEqual(
        findObject(objects, "NetworkPolicy", "rqlite-operator-webhook").spec,
        findObject(await helmTemplate("ops"), "NetworkPolicy", "rqlite-operator-webhook").spec,
        "the webhook sends nothing to S3: its policy stays",
      );
      assert.equal(
        objects.find((o) => o.kind === "CustomResourceDefinition"),
        undefined,
        "crds.install: false leaves the CRD out",
      );
    });

    it("with fullnameOverride or another release name, names every object so that two releases share no cluster-wide name", async () => {
      const clusterWide = (objects: K8sObject[]) =>
        objects.filter((o) => !o.metadata.namespace && o.kind !== "CustomResourceDefinition").map(keyOf);
      const first = await helmTemplate(NS);
      const second = await helmTemplate("team-b", ["--set", "fullnameOverride=rqo-b", "--set", "crds.install=false"]);
      assert.ok(clusterWide(second).length >= 6, clusterWide(second).join(", "));
      assert.deepEqual(
        clusterWide(second).filter((k) => clusterWide(first).includes(k)),
        [],
      );
      // Everything deploy/ names rqlite-operator-* is rqo-b-* now, and points at rqo-b-* objects.
      const text = JSON.stringify(second);
      assert.doesNotMatch(text, /rqlite-operator-(?!system)[a-z]/);
      const controller = findObject(second, "Deployment", "rqo-b-controller");
      assert.equal((podSpec(controller) as { serviceAccountName?: string }).serviceAccountName, "rqo-b-controller");
      assert.ok(webhooks(second).every((w) => (w.clientConfig.service as { name?: string }).name === "rqo-b-webhook"));
      const cert = findObject(second, "Certificate", "rqo-b-webhook-cert").spec as { dnsNames: string[] };
      assert.ok(cert.dnsNames.includes("rqo-b-webhook.team-b.svc"), cert.dnsNames.join(", "));
      const webhook = findObject(second, "Deployment", "rqo-b-webhook");
      assert.ok(podSpec(webhook).volumes?.some((v) => v.secret?.secretName === "rqo-b-webhook-cert"));
      // Without an override, a release name without the chart's name is put before it.
      const named = await helmTemplate("team-c", ["--set", "crds.install=false"], "db");
      findObject(named, "Deployment", "db-rqlite-operator-controller");
      const renamed = await helmTemplate("team-c", ["--set", "nameOverride=rqo", "--set", "crds.install=false"], "db");
      findObject(renamed, "ClusterRole", "db-rqo-controller");
    });

    it("with an existing Secret: its name is mounted, its CA is in every webhook, and cert-manager is not used", async () => {
      const ca = Buffer.from("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n").toString("base64");
      const objects = await helmTemplate(NS, [
        "--set",
        "webhook.certificate.source=secret",
        "--set",
        "webhook.certificate.secret.name=my-webhook-tls",
        "--set",
        `webhook.certificate.secret.caBundle=${ca}`,
      ]);
      assert.deepEqual(
        podSpec(findObject(objects, "Deployment", "rqlite-operator-webhook")).volumes?.map((v) => v.secret?.secretName),
        ["my-webhook-tls"],
      );
      assert.deepEqual(
        webhooks(objects).map((w) => w.clientConfig.caBundle),
        [ca, ca, ca, ca, ca],
      );
      assert.deepEqual(
        objects.filter(
          (o) =>
            o.apiVersion.startsWith("cert-manager.io/") || o.metadata.annotations?.["cert-manager.io/inject-ca-from"],
        ),
        [],
      );
    });

    for (const [what, args, message] of [
      ["a wrong type", ["--set", "controller.replicas=two"], /at '\/controller\/replicas': got string, want integer/],
      ["an unknown key", ["--set", "controler.replicas=3"], /additional properties 'controler' not allowed/],
      [
        "a value outside its enum",
        ["--set", "webhook.failurePolicy=Sometimes"],
        /at '\/webhook\/failurePolicy': value must be one of 'Fail', 'Ignore'/,
      ],
      [
        "an existing-Secret source without its CA",
        ["--set", "webhook.certificate.source=secret", "--set", "webhook.certificate.secret.name=x"],
        /at '\/webhook\/certificate\/secret\/caBundle': minLength: got 0, want 1/,
      ],
      [
        "a Pod label the Deployments select by",
        ["--set", "podLabels.app\\.kubernetes\\.io/name=x"],
        // Helm's schema library names the wrong property in this message's path, so only its text.
        /invalid propertyName 'app\.kubernetes\.io\/name'/,
      ],
      [
        "a tuning flag out of range",
        ["--set", "controller.flags.workers=0"],
        /at '\/controller\/flags\/workers': minimum/,
      ],
      [
        "an extra argument that is no flag",
        ["--set", "controller.extraArgs={workers}"],
        /at '\/controller\/extraArgs\/0'/,
      ],
      [
        "an egress port out of range",
        ["--set", "controller.extraEgress[0].ports[0].port=70000"],
        /at '\/controller\/extraEgress\/0\/ports\/0\/port': maximum/,
      ],
      [
        "an egress peer the API does not know",
        ["--set", "controller.extraEgress[0].to[0].ipblock.cidr=10.0.5.0/24"],
        /at '\/controller\/extraEgress\/0\/to\/0': additional properties 'ipblock' not allowed/,
      ],
      [
        "a Lease renewed after it expires",
        ["--set", "leaderElection.renewDeadline=20"],
        /leaderElection\.leaseDuration \(15\) must be greater than leaderElection\.renewDeadline \(20\)/,
      ],
    ] as const) {
      it(`refuses ${what}`, async () => {
        const r = await helm(["template", "rqlite-operator", CHART, ...args]);
        assert.notEqual(r.code, 0, r.stdout);
        assert.match(r.stderr, message);
      });
    }
  });

  describe("on the API server", () => {
    let ns: string;
    before(async () => {
      const cp = await sharedControlPlane();
      await installDependencyCRDs(cp, { rqlite: true });
      ns = await createTestNamespace(cp, "helm-chart", RESTRICTED);
    });

    for (const [what, args] of [
      ["default values", []],
      ["the full values file", ["--values", FULL_VALUES]],
    ] as const) {
      it(`passes kubectl apply --server-side --dry-run=server with ${what}`, async () => {
        const cp = await sharedControlPlane();
        const r = await helm(["template", "rqlite-operator", CHART, "--namespace", ns, ...args]);
        assert.equal(r.code, 0, r.stderr);
        const applied = await cp.kubectl(
          ["apply", "--server-side", "--dry-run=server", "--field-manager=install-test", "-f", "-"],
          { input: r.stdout },
        );
        assert.equal(applied.code, 0, applied.stderr);
        assert.match(applied.stdout, /deployment\.apps\/rqlite-operator-webhook serverside-applied \(server dry run\)/);
      });

      it(`admits both Deployments' Pods under restricted Pod Security with ${what}`, async () => {
        const cp = await sharedControlPlane();
        const deployments = (await helmTemplate(ns, [...args])).filter((o) => o.kind === "Deployment");
        assert.equal(deployments.length, 2);
        for (const d of deployments) {
          const r = await createPodDryRun(cp, ns, podOfDeployment(d));
          assert.equal(r.code, 0, `${d.metadata.name}: ${r.stderr}`);
        }
      });
    }
  });
});
