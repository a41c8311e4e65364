// The namespaced install (deploy/namespaced): Roles instead of ClusterRoles, the watch narrowed
// to the operator's namespace, no Nodes. Checked as rendered, then for real: the controller runs
// as that Role's ServiceAccount on the real API server, converges a cluster in its namespace,
// and the audit log shows it asked for nothing the Role does not grant.
import { strict as assert } from "node:assert";
import { readFile } from "node:fs/promises";
import { stringify } from "yaml";
import { findObject, kustomize, type K8sObject } from "../../hack/kustomize.js";
import { NAMESPACED_OPERATOR_NS, type ControlPlane } from "../../testenv/controlplane.js";
import { startController, type ControllerProcess } from "../../testenv/controller.js";
import { installCRDs, OPERATOR_CRD_FILES } from "../../testenv/crds.js";
import { eventually } from "../../testenv/eventually.js";
import { createTestNamespace, sharedControlPlane } from "../../testenv/shared.js";

const SA = "rqlite-operator-controller";
const NS = "rqlite-operator-system";

interface Rule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
}
const rulesOf = (o: K8sObject) => o.rules as Rule[];
const grants = (rules: Rule[]) =>
  new Set(
    rules.flatMap((r) =>
      r.apiGroups.flatMap((g) => r.resources.flatMap((res) => r.verbs.map((v) => `${v} ${g}/${res}`))),
    ),
  );

describe("install: namespaced (deploy/namespaced)", function () {
  this.timeout(300_000);
  let objects: K8sObject[];
  let base: K8sObject[];

  before(async () => {
    [objects, base] = await Promise.all([kustomize("deploy/namespaced"), kustomize("deploy/default")]);
  });

  it("grants Roles in its namespace only: every namespaced rule of the ClusterRole, and no Nodes", () => {
    // Only what checks the callers of /metrics, whose APIs are cluster-scoped, stays cluster-wide.
    assert.deepEqual(
      objects
        .filter((o) => o.kind.startsWith("Cluster") && o.kind !== "ClusterIssuer")
        .map((o) => `${o.kind}/${o.metadata.name}`)
        .sort(),
      [
        "ClusterRole/rqlite-operator-metrics-auth",
        "ClusterRole/rqlite-operator-metrics-reader",
        "ClusterRoleBinding/rqlite-operator-metrics-auth",
      ],
    );
    const role = findObject(objects, "Role", SA);
    assert.equal(role.metadata.namespace, NS);
    const clusterWide = grants(rulesOf(findObject(base, "ClusterRole", SA)));
    const granted = grants(rulesOf(role));
    assert.deepEqual(
      [...clusterWide].filter((g) => !granted.has(g)),
      ["list /nodes", "watch /nodes"],
    );
    assert.deepEqual(
      [...granted].filter((g) => !clusterWide.has(g)),
      [],
    );
    const binding = findObject(objects, "RoleBinding", SA);
    assert.deepEqual(binding.roleRef, { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: SA });
  });

  it("watches only its own namespace, never Nodes, and the webhooks judge only that namespace", () => {
    const d = findObject(objects, "Deployment", SA);
    const c = (d.spec as { template: { spec: { containers: { args: string[]; env: unknown[] }[] } } }).template.spec
      .containers[0]!;
    assert.ok(c.args.includes("--node-failure-timeout=0"));
    assert.deepEqual(c.env[0], {
      name: "WATCH_NAMESPACES",
      valueFrom: { fieldRef: { fieldPath: "metadata.namespace" } },
    });
    const webhooks = objects
      .filter((o) => o.kind.endsWith("WebhookConfiguration"))
      .flatMap((o) => o.webhooks as { namespaceSelector?: unknown }[]);
    assert.equal(webhooks.length, 5);
    for (const w of webhooks)
      assert.deepEqual(w.namespaceSelector, { matchLabels: { "kubernetes.io/metadata.name": NS } });
  });

  describe("running as that ServiceAccount", () => {
    let cp: ControlPlane;
    let ns: string;
    let other: string;
    let controller: ControllerProcess;
    let auditFrom = 0;

    before(async () => {
      cp = await sharedControlPlane();
      await installCRDs(cp, [...OPERATOR_CRD_FILES]);
      // A fixed name: the control plane audits this namespace's ServiceAccounts.
      ns = NAMESPACED_OPERATOR_NS;
      if ((await cp.kubectl(["get", "namespace", ns])).code !== 0) await cp.kubectlOk(["create", "namespace", ns]);
      other = await createTestNamespace(cp, "not-mine");
      // The overlay's ServiceAccount and RBAC, moved into this test's namespace.
      const moved = objects
        .filter((o) => ["ServiceAccount", "Role", "RoleBinding"].includes(o.kind))
        .map((o) => ({
          ...o,
          metadata: { ...o.metadata, namespace: ns },
          ...(o.subjects ? { subjects: (o.subjects as object[]).map((s) => ({ ...s, namespace: ns })) } : {}),
        }));
      await cp.kubectlOk(["apply", "-f", "-"], { input: moved.map((o) => stringify(o)).join("---\n") });
      auditFrom = (await readFile(cp.auditLogPath)).length;
      controller = await startController({
        kubeconfig: await cp.serviceAccountKubeconfig(ns, SA),
        logDir: cp.dir,
        name: "controller-namespaced",
        args: ["--leader-elect", `--leader-election-namespace=${ns}`, "--node-failure-timeout=0"],
        env: { WATCH_NAMESPACES: ns },
      });
    });

    after(async () => {
      await controller?.stop();
    });

    it("converges a cluster in its namespace, leaves other namespaces alone, and is never refused", async () => {
      const cluster = (namespace: string) =>
        cp.kubectlOk(["apply", "-n", namespace, "-f", "-"], {
          input: stringify({
            apiVersion: "rqlite.io/v1alpha1",
            kind: "RqCluster",
            metadata: { name: "db" },
            spec: { replicas: 3 },
          }),
        });
      await Promise.all([cluster(ns), cluster(other)]);
      const children = ["pod/db-0", "pod/db-1", "pod/db-2", "svc/db", "svc/db-internal", "pdb/db", "netpol/db"];
      await eventually(
        "every child in its namespace",
        async () => (await cp.kubectl(["get", "-n", ns, ...children, "-o", "name"])).code === 0,
        30_000,
      );
      assert.equal((await cp.kubectl(["get", "-n", other, "pod/db-0"])).code, 1, "another namespace's cluster");

      const user = `system:serviceaccount:${ns}:${SA}`;
      const requests = (await readFile(cp.auditLogPath))
        .subarray(auditFrom)
        .toString("utf8")
        .split("\n")
        .filter(Boolean)
        .map(
          (l) =>
            JSON.parse(l) as {
              verb: string;
              user: { username: string };
              objectRef?: { apiGroup?: string; resource?: string; subresource?: string; namespace?: string };
              responseStatus?: { code?: number };
            },
        )
        .filter((e) => e.user.username === user && e.objectRef?.resource);
      assert.ok(requests.length > 10, "the audit log holds its requests");
      for (const e of requests) {
        const o = e.objectRef!;
        const what = `${e.verb} ${o.apiGroup ?? ""}/${o.resource}${o.subresource ? `/${o.subresource}` : ""} in ${o.namespace ?? "(cluster)"}`;
        assert.notEqual(e.responseStatus?.code, 403, `refused: ${what}`);
        assert.equal(o.namespace, ns, `outside its namespace: ${what}`);
      }
    });
  });
});
