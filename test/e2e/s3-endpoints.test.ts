// Where a tenant's S3 endpoint may point, tried as a tenant: a ServiceAccount bound to `edit` in
// its own namespaces, using kubectl. The webhook refuses each class of endpoint at admission
// (namespace `admit`); the controller refuses them again for objects the webhook never saw
// (namespace `ctl` has no webhook, as during an outage), and at connect time refuses a name
// that passed admission but resolves to loopback. A loopback listener counts every connection:
// none may arrive. Both run with `--s3-endpoint-allow=localhost`: the name passes, the address
// it resolves to (127.0.0.1, ::1) does not.
import { strict as assert } from "node:assert";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { stringify } from "yaml";
import { startLocalStack, type LocalStack } from "../../local/stack.js";
import { FAST_LEASE_ARGS } from "../../testenv/controller.js";
import { runKubectl, type ControlPlane } from "../../testenv/controlplane.js";
import { eventually } from "../../testenv/eventually.js";
import { createTestNamespace, sharedControlPlane } from "../../testenv/shared.js";
import { loopbackConfigurations } from "../../testenv/webhook.js";
import { mintCerts, tempDir, WebhookProcess } from "../../testenv/webhookProcess.js";

const ALLOW = "--s3-endpoint-allow=localhost";
const PASSWORD = "tenant-password-9f3";

interface Condition {
  type: string;
  status: string;
  reason: string;
  message: string;
}

describe("S3 endpoints and ambient credentials, as a tenant", function () {
  this.timeout(240_000);
  let cp: ControlPlane;
  let admitNs: string;
  let ctlNs: string;
  let webhook: WebhookProcess | undefined;
  let stack: LocalStack | undefined;
  let configNames: string[] = [];
  let tenant: string;
  let listener: Server;
  let port: number;
  let connections = 0;

  const asTenant = (args: string[], input?: string) => runKubectl(tenant, args, input === undefined ? {} : { input });

  /** An RqCluster whose spec.backup.s3 (or spec.restore.s3) is `s3`. */
  const cluster = (name: string, field: "backup" | "restore", s3: Record<string, unknown>) =>
    stringify({
      apiVersion: "rqlite.io/v1alpha1",
      kind: "RqCluster",
      metadata: { name },
      spec: {
        replicas: 1,
        ...(field === "backup"
          ? { backup: { s3: { bucket: "backups", path: "db/db.sqlite.gz", forcePathStyle: true, ...s3 } } }
          : { restore: { s3: { bucket: "backups", key: "db/db.sqlite.gz", forcePathStyle: true, ...s3 } } }),
      },
    });
  const withKeys = (endpoint: string) => ({ endpoint, credentialsSecret: { name: "s3" } });

  before(async () => {
    cp = await sharedControlPlane();
    listener = createServer((_req, res) => res.writeHead(500).end());
    listener.on("connection", () => connections++);
    await new Promise<void>((r) => listener.listen(0, "127.0.0.1", r));
    port = (listener.address() as AddressInfo).port;

    admitNs = await createTestNamespace(cp, "s3-admit");
    ctlNs = await createTestNamespace(cp, "s3-ctl");
    // The operator for `ctl` only, without a webhook there.
    stack = await startLocalStack({
      controlPlane: cp,
      namespaces: [ctlNs],
      replicas: 1,
      webhook: false,
      s3EndpointAllow: "localhost",
      controllerArgs: [...FAST_LEASE_ARGS, "--resync-period=3", `--leader-election-id=rqlite-operator-${ctlNs}`],
    });
    // The webhook for `admit` only, so no other suite on the shared plane depends on it.
    const certDir = await tempDir("webhook-s3-endpoints");
    const { ca } = await mintCerts(certDir, ["127.0.0.1"]);
    webhook = await WebhookProcess.start(certDir, [ALLOW]);
    const configs = await loopbackConfigurations(webhook.port, ca, { prefix: "s3-endpoints-", namespace: admitNs });
    configNames = configs.map((c) => `${c.kind.toLowerCase()}/${c.metadata.name}`);
    await cp.kubectlOk(["apply", "--server-side", "--field-manager=s3-endpoints-test", "-f", "-"], {
      input: configs.map((c) => stringify(c)).join("---\n"),
    });

    // The tenant: `edit` in its two namespaces, and the rqlite.io kinds there (the plane runs
    // no aggregation controller to add them to `edit`). Nothing cluster-wide.
    await cp.kubectlOk(["create", "serviceaccount", "tenant", "-n", admitNs]);
    for (const ns of [admitNs, ctlNs]) {
      await cp.kubectlOk(["apply", "-n", ns, "-f", "-"], {
        input: [
          {
            apiVersion: "rbac.authorization.k8s.io/v1",
            kind: "Role",
            metadata: { name: "tenant" },
            rules: [
              { apiGroups: ["rqlite.io"], resources: ["rqclusters", "rqbackups"], verbs: ["*"] },
              { apiGroups: [""], resources: ["secrets", "events"], verbs: ["*"] },
            ],
          },
          ...["edit", "tenant"].map((role) => ({
            apiVersion: "rbac.authorization.k8s.io/v1",
            kind: "RoleBinding",
            metadata: { name: `tenant-${role}` },
            roleRef: {
              apiGroup: "rbac.authorization.k8s.io",
              kind: role === "edit" ? "ClusterRole" : "Role",
              name: role,
            },
            subjects: [{ kind: "ServiceAccount", name: "tenant", namespace: admitNs }],
          })),
        ]
          .map((o) => stringify(o))
          .join("---\n"),
      });
    }
    tenant = await cp.serviceAccountKubeconfig(admitNs, "tenant");
    const secret = ["create", "secret", "generic", "s3", "--from-literal=AWS_ACCESS_KEY_ID=tenant-key"];
    for (const ns of [admitNs, ctlNs]) {
      const r = await asTenant([...secret, `--from-literal=AWS_SECRET_ACCESS_KEY=${PASSWORD}`, "-n", ns]);
      assert.equal(r.code, 0, r.stderr);
    }
    // The API server learns of new webhook configurations by a watch: wait until it calls this one.
    await eventually(
      "kube-apiserver to call the webhook",
      async () => {
        await asTenant(["create", "--dry-run=server", "-n", admitNs, "-f", "-"], cluster("probe", "backup", {}));
        return webhook!.logs.some((l) => l.webhook === "/validate-rqlite-io-v1alpha1-rqcluster");
      },
      30_000,
      { intervalMs: 250 },
    );
  });

  after(async () => {
    if (configNames.length) await cp.kubectl(["delete", "--ignore-not-found", ...configNames]);
    if (webhook) assert.equal(await webhook.stop(), 0, webhook.output());
    if (stack) {
      await cp.kubectl(["delete", "rqb,rqc", "--all", "-n", ctlNs, "--wait", "--timeout=60s"]);
      await stack.stop();
    }
    await new Promise((r) => listener?.close(r));
  });

  afterEach(function () {
    if (this.currentTest?.state === "failed")
      for (const c of stack?.controllers ?? []) console.log(`      ${c.proc.name}:\n${c.proc.tail(40)}`);
  });

  describe("at admission, through kubectl", () => {
    const classes: [string, string, RegExp][] = [
      ["userinfo", `https://AKIAKEY:${PASSWORD}@s3.example.com`, /may not contain a user name or password/],
      ["the metadata service", "http://169.254.169.254", /points at 169\.254\.169\.254, the cloud metadata/],
      ["link-local", "http://169.254.1.1:9000", /points at 169\.254\.1\.1, a link-local address/],
      ["loopback", "http://127.0.0.1:PORT", /points at 127\.0\.0\.1, a loopback address/],
      ["IPv4-mapped loopback", "http://[::ffff:127.0.0.1]:PORT", /points at ::ffff:7f00:1, a loopback address/],
      ["IPv6 loopback", "http://[::1]:PORT", /points at ::1, a loopback address/],
      ["a decimal IPv4", "http://2130706433:PORT", /points at 127\.0\.0\.1, a loopback address/],
      ["a hex IPv4", "http://0x7f.1:PORT", /points at 127\.0\.0\.1, a loopback address/],
      ["a name below localhost", "http://s3.localhost:PORT", /points at s3\.localhost, a loopback address/],
      ["the unspecified address", "http://0.0.0.0:PORT", /points at 0\.0\.0\.0, an unspecified address/],
      [
        "the API server's Service",
        "https://kubernetes.default.svc",
        /points at kubernetes\.default\.svc, the API server/,
      ],
      ["the API server's full name", "https://kubernetes.default.svc.cluster.local", /the API server/],
      // The CRD schema refuses it first; the webhook would too (must use http or https).
      ["another scheme", "file:///var/run/secrets/kubernetes.io/serviceaccount/token", /should match '\^https\?:/],
    ];
    for (const [what, raw, refusal] of classes) {
      for (const field of ["backup", "restore"] as const) {
        it(`refuses ${what} in spec.${field}.s3.endpoint, and nothing connects`, async () => {
          const endpoint = raw.replace("PORT", String(port));
          const before = connections;
          const r = await asTenant(
            ["create", "-n", admitNs, "-f", "-"],
            cluster(`ep-${field}`, field, withKeys(endpoint)),
          );
          assert.notEqual(r.code, 0, `admitted: ${r.stdout}`);
          assert.match(r.stderr, new RegExp(`spec\\.${field}\\.s3\\.endpoint: Invalid value: .*${refusal.source}`));
          assert.doesNotMatch(r.stderr, new RegExp(PASSWORD), "the password is not echoed");
          assert.equal(connections, before, "no connection reached the listener");
        });
      }
    }

    it("refuses an object without credentialsSecret: the operator's own AWS identity is not lent", async () => {
      const r = await asTenant(["create", "-n", admitNs, "-f", "-"], cluster("ambient", "backup", {}));
      assert.notEqual(r.code, 0, r.stdout);
      assert.match(
        r.stderr,
        /spec\.backup\.s3\.credentialsSecret: Required value: is required: without it the operator would sign with its own AWS identity, which namespace "s3-admit-[^"]+" may not use; .*--ambient-credentials-namespaces/,
      );
    });

    it("admits a name the administrator allowed, which the controller judges again after DNS", async () => {
      const r = await asTenant(
        ["create", "--dry-run=server", "-n", admitNs, "-f", "-"],
        cluster("allowed-name", "restore", withKeys(`http://localhost:${port}`)),
      );
      assert.equal(r.code, 0, r.stderr);
    });
  });

  describe("in the controller, for objects the webhook never saw", () => {
    const condition = async (name: string, type: string) => {
      const r = await asTenant(["get", "rqcluster", name, "-n", ctlNs, "-o", "json"]);
      if (r.code !== 0) return undefined;
      const status = (JSON.parse(r.stdout) as { status?: { conditions?: Condition[] } }).status;
      return status?.conditions?.find((c) => c.type === type);
    };
    const create = async (yaml: string) => {
      const r = await asTenant(["create", "-n", ctlNs, "-f", "-"], yaml);
      assert.equal(r.code, 0, r.stderr);
    };

    it("refuses at connect time a name that resolves to 127.0.0.1; status says only 'could not connect'", async () => {
      const endpoint = `http://localhost:${port}`;
      const before = connections;
      await create(cluster("resolves-to-loopback", "restore", withKeys(endpoint)));
      const restored = await eventually(
        "the Restored condition to name the unreachable source",
        () => condition("resolves-to-loopback", "Restored").then((c) => c?.reason === "RestoreSourceUnavailable" && c),
        60_000,
        { intervalMs: 500 },
      );
      assert.match(
        restored.message,
        new RegExp(`could not connect to S3 endpoint http://localhost:${port}; check that it is up`),
      );
      // No socket error, no resolved address: nothing that maps the operator's network.
      assert.doesNotMatch(restored.message, /ECONN|ENOTFOUND|127\.0\.0\.1|::1|refused to connect/);
      assert.equal(connections, before, "no connection reached the listener");
      const events = await asTenant(["get", "events", "-n", ctlNs, "-o", "json"]);
      assert.doesNotMatch(events.stdout, /ECONN|127\.0\.0\.1|ERR_S3_ENDPOINT_REFUSED/);
      // The controller's log keeps the detail, at debug.
      assert.ok(
        stack!.controllers.some((c) => /refused to connect to an S3 endpoint/.test(c.proc.tail(400))),
        "the controller logged the refusal",
      );
    });

    const refusals: [string, Record<string, unknown>, RegExp][] = [
      [
        "metadata",
        withKeys("http://169.254.169.254"),
        /spec\.backup\.s3\.endpoint\b.*points at 169\.254\.169\.254, the cloud metadata service's address/,
      ],
      [
        "userinfo",
        withKeys(`https://AKIAKEY:${PASSWORD}@s3.example.com`),
        /spec\.backup\.s3\.endpoint\b.*may not contain a user name or password/,
      ],
      [
        "apiserver",
        withKeys("https://kubernetes.default.svc"),
        /spec\.backup\.s3\.endpoint\b.*points at kubernetes\.default\.svc, the API server/,
      ],
      // The plane's API server listens on 127.0.0.1 too: either name is right.
      [
        "decimal",
        withKeys("http://2130706433:PORT"),
        /spec\.backup\.s3\.endpoint\b.*points at 127\.0\.0\.1, (a loopback address|the API server)/,
      ],
      ["ambient", {}, /spec\.backup\.s3\.credentialsSecret\b.*is required: without it the operator would sign/],
    ];
    for (const [name, s3, refusal] of refusals) {
      it(`holds a cluster whose spec.backup is refused (${name}), with the reason and no Pod`, async () => {
        const before = connections;
        const endpoint = typeof s3.endpoint === "string" ? s3.endpoint.replace("PORT", String(port)) : undefined;
        await create(cluster(`refused-${name}`, "backup", endpoint ? { ...s3, endpoint } : s3));
        // The controller judges the whole spec again as the webhook does (the webhook is off in
        // this namespace), so the refusal is an InvalidSpec naming the field, before anything is read.
        const progressing = await eventually(
          "Progressing=False with reason InvalidSpec",
          () => condition(`refused-${name}`, "Progressing").then((c) => c?.reason === "InvalidSpec" && c),
          60_000,
          { intervalMs: 500 },
        );
        assert.match(progressing.message, refusal);
        const all = await asTenant(["get", "rqcluster", `refused-${name}`, "-n", ctlNs, "-o", "jsonpath={.status}"]);
        assert.doesNotMatch(all.stdout, new RegExp(PASSWORD), "status never shows the password");
        const pods = await asTenant([
          "get",
          "pods",
          "-n",
          ctlNs,
          "-l",
          `rqlite.io/cluster=refused-${name}`,
          "-o",
          "name",
        ]);
        assert.equal(pods.stdout.trim(), "", "no Pod was created");
        assert.equal(connections, before, "no connection reached the listener");
      });
    }

    it("fails an RqBackup whose destination is refused, before reading its Secret", async () => {
      const before = connections;
      await create(
        stringify({
          apiVersion: "rqlite.io/v1alpha1",
          kind: "RqBackup",
          metadata: { name: "to-loopback" },
          spec: {
            cluster: "refused-metadata",
            destination: {
              s3: {
                bucket: "backups",
                endpoint: `http://[::ffff:127.0.0.1]:${port}`,
                credentialsSecret: { name: "s3" },
              },
            },
          },
        }),
      );
      const status = await eventually(
        "the RqBackup to fail",
        async () => {
          const r = await asTenant(["get", "rqbackup", "to-loopback", "-n", ctlNs, "-o", "jsonpath={.status}"]);
          const s = r.stdout ? (JSON.parse(r.stdout) as { phase?: string; reason?: string }) : {};
          return s.phase === "Failed" && s;
        },
        60_000,
        { intervalMs: 500 },
      );
      assert.match(
        status.reason!,
        /spec\.destination\.s3\.endpoint\b.*points at ::ffff:7f00:1, (a loopback address|the API server)/,
      );
      assert.equal(connections, before, "no connection reached the listener");
    });
  });
});
