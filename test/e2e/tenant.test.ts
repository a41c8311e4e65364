// A tenant as a tenant is: a ServiceAccount bound to the `edit` ClusterRole by a RoleBinding in
// its own namespace only (the administrator aggregates RqClusters and RqBackups into `edit`).
// Through kubectl as that ServiceAccount it tries every field that names a Secret, a ConfigMap, a
// cluster, a claim or a backup with "..", "/", an encoded traversal and another namespace's name.
// Each is refused with the field's path, or, for a plain name that only another namespace holds,
// looked for in the tenant's own namespace alone. The operator (webhook and two controllers, as
// its ServiceAccount with deploy/'s cluster-wide RBAC) runs on a control plane of its own, whose
// audit log shows every Secret request of the operator's identity; a loopback listener stands in
// for the S3 server every spec names and must see no request.
import { strict as assert } from "node:assert";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { readFile, stat } from "node:fs/promises";
import { startLocalStack, type LocalStack } from "../../local/stack.js";
import { FAST_LEASE_ARGS } from "../../testenv/controller.js";
import { startControlPlane, type ControlPlane } from "../../testenv/controlplane.js";
import { eventually as eventuallyWithin } from "../../testenv/eventually.js";
import { createTestNamespace } from "../../testenv/shared.js";
import { eventMessages } from "./clusterStatus.js";

const eventually = <T>(what: string, check: () => Promise<T | undefined | false>, timeoutMs = 60_000) =>
  eventuallyWithin(what, check, timeoutMs, { intervalMs: 250 });

const TENANT_SA = "tenant";
const OPERATOR_USER = "system:serviceaccount:rqlite-operator-system:";

interface AuditEvent {
  stage: string;
  verb: string;
  user: { username: string };
  objectRef?: { resource?: string; namespace?: string; name?: string };
  responseStatus?: { code?: number };
}

describe("tenant: names are names, and Secrets are read only where the object lives", function () {
  this.timeout(600_000);
  let cp: ControlPlane;
  let stack: LocalStack;
  let tenant: string;
  let victim: string;
  let asTenant: string;
  let listener: Server;
  let endpoint: string;
  const s3Requests: string[] = [];
  let auditFrom = 0;
  const figures: Record<string, string> = {};

  /** kubectl as the tenant's ServiceAccount, in the tenant's namespace. */
  const tenantKubectl = (args: string[], input?: string) =>
    cp.kubectl([...args, "-n", tenant, "--kubeconfig", asTenant], input === undefined ? {} : { input });
  const apply = (obj: object) => tenantKubectl(["apply", "-f", "-"], JSON.stringify(obj));
  const rqCluster = (name: string, spec: object, metadata: object = {}) => ({
    apiVersion: "rqlite.io/v1alpha1",
    kind: "RqCluster",
    metadata: { name, ...metadata },
    spec,
  });
  const rqBackup = (name: string, spec: object) => ({
    apiVersion: "rqlite.io/v1alpha1",
    kind: "RqBackup",
    metadata: { name },
    spec,
  });
  const s3 = (credentialsSecret?: object) => ({
    bucket: "backups",
    endpoint,
    forcePathStyle: true,
    ...(credentialsSecret ? { credentialsSecret } : {}),
  });

  before(async () => {
    listener = createServer((req, res) => {
      s3Requests.push(`${req.method} ${req.url}`);
      res.writeHead(403).end();
    });
    await new Promise<void>((resolve) => listener.listen(0, "127.0.0.1", resolve));
    endpoint = `http://127.0.0.1:${(listener.address() as AddressInfo).port}`;
    // kube-controller-manager aggregates `edit` (an API server alone leaves it without rules).
    const started = Date.now();
    cp = await startControlPlane({ scheduling: true });
    tenant = await createTestNamespace(cp, "tenant");
    victim = await createTestNamespace(cp, "victim");
    stack = await startLocalStack({
      controlPlane: cp,
      namespaces: [tenant],
      // The S3 stand-in listens on loopback, which the operator refuses unless allowed: here the
      // names, not the endpoint, are what the tenant attacks.
      s3EndpointAllow: "127.0.0.1/32",
      controllerArgs: [...FAST_LEASE_ARGS, "--resync-period=3", `--leader-election-id=rqlite-operator-${tenant}`],
    });
    figures.startupMs = String(Date.now() - started);
    // What an administrator does for tenants: RqClusters and RqBackups become part of `edit`.
    await cp.kubectlOk(["apply", "-f", "-"], {
      input: JSON.stringify({
        apiVersion: "rbac.authorization.k8s.io/v1",
        kind: "ClusterRole",
        metadata: { name: "rqlite-tenant-edit", labels: { "rbac.authorization.k8s.io/aggregate-to-edit": "true" } },
        rules: [{ apiGroups: ["rqlite.io"], resources: ["rqclusters", "rqbackups"], verbs: ["*"] }],
      }),
    });
    await cp.kubectlOk(["create", "serviceaccount", TENANT_SA, "-n", tenant]);
    await cp.kubectlOk([
      "create",
      "rolebinding",
      "tenant-edit",
      "--clusterrole=edit",
      `--serviceaccount=${tenant}:${TENANT_SA}`,
      "-n",
      tenant,
    ]);
    asTenant = await cp.serviceAccountKubeconfig(tenant, TENANT_SA);
    await eventually("edit to include RqBackups (aggregated by kube-controller-manager)", async () => {
      const r = await tenantKubectl(["auth", "can-i", "create", "rqbackups.rqlite.io"]);
      return r.stdout.trim() === "yes";
    });
    const victimSecrets = await cp.kubectl(["auth", "can-i", "get", "secrets", "-n", victim, "--kubeconfig", asTenant]);
    assert.equal(victimSecrets.stdout.trim(), "no", "the tenant may read the victim's Secrets itself");
    // The victim's Secrets, by the names the tenant will try.
    for (const name of ["s3", "victim-s3", "victim-users", "victim-tls"]) {
      await cp.kubectlOk([
        "create",
        "secret",
        "generic",
        name,
        "-n",
        victim,
        "--from-literal=AWS_ACCESS_KEY_ID=VICTIM-KEY",
        "--from-literal=AWS_SECRET_ACCESS_KEY=victim-secret",
        "--from-literal=users.json=[]",
        "--from-literal=ca.crt=x",
      ]);
    }
    // The tenant's own Secret: the operator may read it, and then must not reach S3 for a backup
    // whose other names do not hold.
    await tenantKubectl([
      "create",
      "secret",
      "generic",
      "tenant-s3",
      "--from-literal=AWS_ACCESS_KEY_ID=TENANT-KEY",
      "--from-literal=AWS_SECRET_ACCESS_KEY=tenant-secret",
    ]).then((r) => assert.equal(r.code, 0, r.stderr));
    auditFrom = (await stat(cp.auditLogPath)).size;
  });

  after(async () => {
    if (stack && tenant) {
      await cp.kubectl([
        "patch",
        "rqc",
        "held",
        "-n",
        tenant,
        "--type=merge",
        "-p",
        '{"metadata":{"finalizers":null}}',
      ]);
      await cp.kubectl(["delete", "rqb,rqc", "--all", "-n", tenant, "--wait", "--timeout=60s"]);
    }
    await stack?.stop();
    await cp?.stop();
    await new Promise((resolve) => listener?.close(resolve));
    console.log(`      figures: ${JSON.stringify(figures)}`);
  });

  // Every field that names an object, and how to set it on an object of its own.
  const fields: Array<{ field: string; object: (v: string) => object }> = [
    {
      field: "spec.cluster",
      object: (v) => rqBackup("b", { cluster: v, destination: { s3: s3({ name: "tenant-s3" }) } }),
    },
    {
      field: "spec.destination.s3.credentialsSecret.name",
      object: (v) => rqBackup("b", { cluster: "db", destination: { s3: s3({ name: v }) } }),
    },
    {
      field: "spec.destination.s3.credentialsSecret.accessKeyIdKey",
      object: (v) =>
        rqBackup("b", { cluster: "db", destination: { s3: s3({ name: "tenant-s3", accessKeyIdKey: v }) } }),
    },
    {
      field: "spec.destination.s3.credentialsSecret.secretAccessKeyKey",
      object: (v) =>
        rqBackup("b", { cluster: "db", destination: { s3: s3({ name: "tenant-s3", secretAccessKeyKey: v }) } }),
    },
    {
      field: "spec.destination.pvc.claimName",
      object: (v) => rqBackup("b", { cluster: "db", destination: { pvc: { claimName: v } } }),
    },
    { field: "spec.auth.secretName", object: (v) => rqCluster("c", { auth: { secretName: v } }) },
    { field: "spec.tls.http.secretName", object: (v) => rqCluster("c", { tls: { http: { secretName: v } } }) },
    { field: "spec.tls.node.secretName", object: (v) => rqCluster("c", { tls: { node: { secretName: v } } }) },
    { field: "spec.imagePullSecrets[0].name", object: (v) => rqCluster("c", { imagePullSecrets: [{ name: v }] }) },
    {
      field: "spec.podTemplateConfigMap.name",
      object: (v) => rqCluster("c", { podTemplateConfigMap: { name: v } }),
    },
    {
      field: "spec.backup.s3.credentialsSecret.name",
      object: (v) => rqCluster("c", { backup: { s3: { ...s3({ name: v }), path: "db.sqlite" } } }),
    },
    {
      field: "spec.backup.s3.credentialsSecret.accessKeyIdKey",
      object: (v) =>
        rqCluster("c", { backup: { s3: { ...s3({ name: "tenant-s3", accessKeyIdKey: v }), path: "db.sqlite" } } }),
    },
    { field: "spec.restore.backup", object: (v) => rqCluster("c", { restore: { backup: v } }) },
    {
      field: "spec.restore.s3.credentialsSecret.name",
      object: (v) => rqCluster("c", { restore: { s3: { ...s3({ name: v }), key: "latest" } } }),
    },
  ];

  it("refuses '..', '/', an encoded traversal and another namespace's object in every field that names one", async () => {
    const values = () => ["..", `../../${victim}/secrets/s3`, "%2e%2e", `${victim}/s3`];
    const refusals: string[] = [];
    for (const { field, object } of fields) {
      await Promise.all(
        values().map(async (value) => {
          const r = await apply(object(value));
          assert.notEqual(r.code, 0, `${field}=${JSON.stringify(value)} was admitted:\n${r.stdout}`);
          // The API server's schema and the webhook both name the field and quote the value.
          assert.ok(
            r.stderr.includes(`${field}: Invalid value: ${JSON.stringify(value)}`),
            `${field}=${JSON.stringify(value)}: the refusal does not name the field:\n${r.stderr}`,
          );
          refusals.push(r.stderr.trim());
        }),
      );
    }
    figures.refusals = String(refusals.length);
    // Nothing of it was stored.
    const stored = JSON.parse((await tenantKubectl(["get", "rqc,rqb", "-o", "json"])).stdout) as { items: unknown[] };
    assert.deepEqual(stored.items, []);
  });

  it("looks for a name only another namespace holds in the tenant's namespace alone, and says so", async () => {
    const admitted = [
      rqBackup("victim-secret", { cluster: "db", destination: { s3: s3({ name: "victim-s3" }) } }),
      rqBackup("victim-cluster", { cluster: "victim-db", destination: { s3: s3({ name: "tenant-s3" }) } }),
      rqCluster("victim-backup", { backup: { s3: { ...s3({ name: "victim-s3" }), path: "db.sqlite" } } }),
      rqCluster("victim-restore", { restore: { s3: { ...s3({ name: "victim-s3" }), key: "latest" } } }),
      rqCluster("victim-auth", { auth: { secretName: "victim-users" } }),
      rqCluster("victim-tls", { tls: { http: { secretName: "victim-tls" } } }),
    ];
    for (const obj of admitted) {
      const r = await apply(obj);
      assert.equal(r.code, 0, r.stderr);
    }
    const backupReason = async (name: string) =>
      (
        JSON.parse((await tenantKubectl(["get", "rqb", name, "-o", "json"])).stdout) as {
          status?: { reason?: string };
        }
      ).status?.reason;
    const reason = await eventually("the RqBackup's reason", () => backupReason("victim-secret"));
    assert.match(
      reason,
      new RegExp(`: Secret ${tenant}/victim-s3 \\(spec\\.destination\\.s3\\.credentialsSecret\\) does not exist`),
    );
    assert.match(
      await eventually("the other RqBackup's reason", () => backupReason("victim-cluster")),
      // Failed at once: the API server holds no such RqCluster in the tenant's namespace.
      new RegExp(`^RqCluster ${tenant}/victim-db \\(spec\\.cluster\\) does not exist; create it or fix spec\\.cluster`),
    );
    const conditionText = async (name: string) =>
      JSON.stringify(
        (
          JSON.parse((await tenantKubectl(["get", "rqc", name, "-o", "json"])).stdout) as {
            status?: { conditions?: unknown[] };
          }
        ).status?.conditions ?? [],
      );
    await eventually("spec.backup's Secret to be looked for in the tenant's namespace", async () =>
      (await conditionText("victim-backup")).includes(
        `Secret ${tenant}/victim-s3 (spec.backup.s3.credentialsSecret) does not exist`,
      ),
    );
    await eventually("spec.restore's Secret to be looked for in the tenant's namespace", async () =>
      (await conditionText("victim-restore")).includes(
        `Secret ${tenant}/victim-s3 (spec.restore.s3.credentialsSecret) does not exist`,
      ),
    );
    // A few resyncs more, so the retries of the Secrets that do not exist are in the audit log too.
    await new Promise((resolve) => setTimeout(resolve, 7000));
  });

  it("judges an RqCluster again when the webhook is skipped: a spec changed while it is deleted", async () => {
    const held = rqCluster("held", { replicas: 1, paused: true }, { finalizers: ["tenant.example.com/hold"] });
    assert.equal((await apply(held)).code, 0);
    const finalizers = async () =>
      (
        JSON.parse((await tenantKubectl(["get", "rqc", "held", "-o", "json"])).stdout) as {
          metadata: { finalizers?: string[] };
        }
      ).metadata.finalizers ?? [];
    await eventually("the operator's finalizer", async () => (await finalizers()).length === 2);
    assert.equal((await tenantKubectl(["delete", "rqc", "held", "--wait=false"])).code, 0);
    await eventually("the operator to finalize", async () => {
      const f = await finalizers();
      return f.length === 1 && f[0] === "tenant.example.com/hold";
    });
    // While it is Terminating, the webhooks' matchConditions let every update through; the
    // schema still holds the name, so the tenant picks what only the webhook refuses.
    const patch = {
      spec: {
        backup: {
          s3: { ...s3({ name: "victim-s3", accessKeyIdKey: ".." }), path: "db.sqlite" },
          interval: "1s",
        },
        restore: { s3: { ...s3({ name: "victim-s3" }), key: "latest" } },
      },
    };
    const r = await tenantKubectl(["patch", "rqc", "held", "--type=merge", "-p", JSON.stringify(patch)]);
    assert.equal(r.code, 0, `the update of a Terminating RqCluster should pass the webhook by: ${r.stderr}`);
    const refusal = await eventually("the controller's refusal", async () =>
      (await eventMessages(cp, tenant, "InvalidSpec")).find((m) =>
        m.includes("spec.backup.s3.credentialsSecret.accessKeyIdKey"),
      ),
    );
    assert.match(
      refusal,
      /^Warning: RqCluster\.rqlite\.io "held" is invalid: spec\.backup\.s3\.credentialsSecret\.accessKeyIdKey: Invalid value: "\.\.": must not be '\.\.'; the operator only finalizes this RqCluster, which is being deleted$/,
    );
  });

  it("no S3 request was made, and the operator read no Secret outside the tenant's namespace (audit log)", async () => {
    assert.deepEqual(s3Requests, [], "a request reached the S3 stand-in");
    const events = (await readFile(cp.auditLogPath))
      .subarray(auditFrom)
      .toString("utf8")
      .split("\n")
      .filter(Boolean)
      .map((line) => JSON.parse(line) as AuditEvent)
      .filter((e) => e.stage === "ResponseComplete" && e.user.username.startsWith(OPERATOR_USER));
    const secretReads = events.filter(
      (e) => e.objectRef?.resource === "secrets" && ["get", "list", "watch"].includes(e.verb),
    );
    const where = (e: AuditEvent) =>
      `${e.verb} ${e.objectRef?.namespace ?? "(all namespaces)"}/${e.objectRef?.name ?? ""}`;
    figures.operatorSecretReads = String(secretReads.length);
    const outside = secretReads.filter((e) => e.objectRef?.namespace !== tenant);
    assert.deepEqual(outside.map(where), [], "the operator read Secrets outside the tenant's namespace");
    // The log does hold the operator's reads: it looked for the names in the tenant's namespace.
    for (const name of ["victim-s3", "victim-users", "victim-tls"]) {
      const read = secretReads.find((e) => e.verb === "get" && e.objectRef?.name === name);
      assert.ok(read, `no read of ${tenant}/${name} in the audit log: ${secretReads.map(where).join(", ")}`);
      assert.equal(read.responseStatus?.code, 404);
    }
  });
});
