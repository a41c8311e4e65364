// The OLM bundle: committed files equal what `npm run bundle` renders from deploy/ and crds/, and
// operator-framework's validators (as `operator-sdk bundle validate` with the OperatorHub suite
// runs them) accept it without errors or warnings, while they do catch a broken copy.
import { strict as assert } from "node:assert";
import { cpSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parse, stringify } from "yaml";
import { BUNDLE_ANNOTATIONS, BUNDLE_DIR, committedBundleFiles, renderBundle } from "../../hack/bundle.js";
import { outOfDateFiles } from "./support/drift.js";
import { buildTools, run, type Tools } from "./support/tools.js";
import { kustomize, type K8sObject } from "../../hack/kustomize.js";
import { installCRDs } from "../../testenv/crds.js";
import { createTestNamespace, sharedControlPlane } from "../../testenv/shared.js";

/** Every webhook of the Mutating and ValidatingWebhookConfigurations among `objects`, in order. */
const webhooksOf = (objects: K8sObject[]) =>
  objects
    .filter((o) => o.kind === "MutatingWebhookConfiguration" || o.kind === "ValidatingWebhookConfiguration")
    .flatMap((o) => o.webhooks as Record<string, unknown>[]);

const CSV = "manifests/rqlite-operator.clusterserviceversion.yaml";
/** The Kubernetes minor the tests run on: removed-API checks are made against it. */
const K8S_VERSION = "1.34";

describe("install: OLM bundle", function () {
  this.timeout(600_000);
  let rendered: Record<string, string>;
  let tools: Tools;
  before(async () => {
    [rendered, tools] = await Promise.all([renderBundle(), buildTools(["bundle-validate"])]);
  });

  it("is up to date with deploy/ and crds/", () => {
    const outOfDate = outOfDateFiles(rendered, BUNDLE_DIR, committedBundleFiles());
    assert.deepEqual(
      outOfDate,
      [],
      `bundle/ is out of date (${outOfDate.join(", ")}): run \`npm run bundle\` and commit the result`,
    );
  });

  it("labels the bundle image with exactly its metadata annotations", () => {
    const labels = Object.fromEntries(
      [...rendered["bundle.Dockerfile"]!.matchAll(/^LABEL (\S+)=(\S+)$/gm)].map((m): [string, string] => [
        m[1]!,
        m[2]!,
      ]),
    );
    assert.deepEqual(labels, BUNDLE_ANNOTATIONS);
    assert.deepEqual(
      (parse(rendered["metadata/annotations.yaml"]!) as { annotations: unknown }).annotations,
      BUNDLE_ANNOTATIONS,
    );
  });

  it("passes operator-framework's validators with the OperatorHub suite, without warnings", async () => {
    const r = await run(tools.bin("bundle-validate"), ["--k8s-version", K8S_VERSION, BUNDLE_DIR]);
    assert.equal(r.code, 0, `bundle-validate failed:\n${r.stdout}${r.stderr}`);
    assert.doesNotMatch(r.stdout, /^WARN/m, r.stdout);
    assert.match(r.stdout, /^OK bundle rqlite-operator\.v/m);
  });

  it("whose validators reject a CSV that breaks the OperatorHub rules", async () => {
    const dir = mkdtempSync(join(tmpdir(), "rqo-bundle-"));
    try {
      cpSync(BUNDLE_DIR, dir, { recursive: true });
      const csv = parse(rendered[CSV]!) as {
        metadata: { annotations: Record<string, string> };
        spec: Record<string, unknown>;
      };
      csv.metadata.annotations.capabilities = "Mostly Automatic";
      delete csv.spec.icon;
      writeFileSync(join(dir, CSV), stringify(csv));
      const r = await run(tools.bin("bundle-validate"), ["--k8s-version", K8S_VERSION, dir]);
      assert.equal(r.code, 1, r.stdout);
      assert.match(r.stdout, /^ERROR .*capabilities/m);
      assert.match(r.stdout, /Icon not specified/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("installs in every mode: namespaced rules as permissions (Roles per target namespace), Nodes cluster-wide", () => {
    type Rule = { resources: string[] };
    const csv = parse(rendered[CSV]!) as {
      spec: {
        installModes: { type: string; supported: boolean }[];
        webhookdefinitions: unknown[];
        install: {
          spec: {
            permissions: { serviceAccountName: string; rules: Rule[] }[];
            clusterPermissions: { serviceAccountName: string; rules: Rule[] }[];
            deployments: { name: string; spec: { template: { spec: { containers: { env?: unknown[] }[] } } } }[];
          };
        };
      };
    };
    assert.deepEqual(
      csv.spec.installModes.filter((m) => m.supported).map((m) => m.type),
      ["OwnNamespace", "SingleNamespace", "MultiNamespace", "AllNamespaces"],
    );
    assert.equal(csv.spec.webhookdefinitions.length, 5);
    const { permissions, clusterPermissions, deployments } = csv.spec.install.spec;
    const resources = (rules: Rule[]) => rules.flatMap((r) => r.resources);
    assert.deepEqual(
      clusterPermissions.map((p) => [p.serviceAccountName, resources(p.rules)]),
      [
        ["rqlite-operator-controller", ["nodes", "tokenreviews", "subjectaccessreviews"]],
        // Only to check who may read its /metrics.
        ["rqlite-operator-webhook", ["tokenreviews", "subjectaccessreviews"]],
      ],
    );
    const controller = resources(permissions.find((p) => p.serviceAccountName === "rqlite-operator-controller")!.rules);
    for (const r of [
      "rqclusters",
      "pods",
      "persistentvolumeclaims",
      "services",
      "networkpolicies",
      "secrets",
      "leases",
    ])
      assert.ok(controller.includes(r), r);
    assert.deepEqual(deployments.map((d) => d.name).sort(), ["rqlite-operator-controller", "rqlite-operator-webhook"]);
    const env = deployments.find((d) => d.name === "rqlite-operator-controller")!.spec.template.spec.containers[0]!.env;
    assert.deepEqual(
      env?.find((e) => (e as { name: string }).name === "WATCH_NAMESPACES"),
      {
        name: "WATCH_NAMESPACES",
        valueFrom: { fieldRef: { fieldPath: "metadata.annotations['olm.targetNamespaces']" } },
      },
    );
  });

  it("leaves matchConditions out: OLM's ClusterServiceVersion schema refuses them (or, unvalidated, prunes them)", async () => {
    // OLM's own CRD (operator-framework/api, the version of the validator) on a real API server:
    // the validator above does not look at unknown fields, the CRD's schema does.
    const cp = await sharedControlPlane();
    await installCRDs(cp, [join(tools.crds("bundle-validate"), "operators.coreos.com_clusterserviceversions.yaml")]);
    const ns = await createTestNamespace(cp, "olm-csv");
    const csv = parse(rendered[CSV]!) as {
      metadata: { namespace?: string };
      spec: { webhookdefinitions: Record<string, unknown>[] };
    };
    // The bundle's "placeholder", which OLM replaces with the install namespace.
    csv.metadata.namespace = ns;
    const create = (extra: string[]) =>
      cp.kubectl(["create", "-n", ns, "-o", "json", ...extra, "-f", "-"], { input: JSON.stringify(csv) });
    const generated = await create(["--dry-run=server"]);
    assert.equal(generated.code, 0, `OLM's schema refuses the generated CSV: ${generated.stderr}`);

    const conditions = new Map(webhooksOf(await kustomize("deploy/base")).map((w) => [w.name, w.matchConditions]));
    for (const w of csv.spec.webhookdefinitions) {
      assert.equal(w.matchConditions, undefined, "the generated CSV has none");
      const wanted = conditions.get(w.generateName);
      assert.ok(
        Array.isArray(wanted) && wanted.length > 0,
        `deploy/ has matchConditions for ${String(w.generateName)}`,
      );
      w.matchConditions = wanted;
    }
    const strict = await create([]);
    assert.notEqual(strict.code, 0);
    assert.match(strict.stderr, /unknown field "spec\.webhookdefinitions\[0\]\.matchConditions"/);
    const stored = JSON.parse((await create(["--validate=false"])).stdout) as typeof csv;
    assert.equal(stored.spec.webhookdefinitions.length, 5);
    for (const w of stored.spec.webhookdefinitions) {
      assert.equal(w.matchConditions, undefined, `${String(w.generateName)}: OLM's schema kept matchConditions`);
      assert.ok(w.rules, "the rest of the definition is kept");
    }
  });
});
