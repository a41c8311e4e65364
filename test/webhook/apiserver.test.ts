// The webhook behind a real kube-apiserver, reached the way users reach it: kubectl. The
// configurations are deploy/base's, pointed at `url: https://127.0.0.1:PORT` with the local CA
// as caBundle and limited to this suite's namespace, so no other suite depends on this webhook.
import { strict as assert } from "node:assert";
import { join } from "node:path";
import { stringify } from "yaml";
import type { ControlPlane } from "../../testenv/controlplane.js";
import { installCRDs } from "../../testenv/crds.js";
import { createTestNamespace, sharedControlPlane } from "../../testenv/shared.js";
import { loopbackConfigurations } from "../../testenv/webhook.js";
import { eventually } from "../../testenv/eventually.js";
import { holdHalfOpenHandshakes, mintCerts, root, tempDir, WebhookProcess } from "../../testenv/webhookProcess.js";

describe("webhook behind kube-apiserver", function () {
  this.timeout(180_000);
  let cp: ControlPlane;
  let ns: string;
  let server: WebhookProcess;
  let configNames: string[] = [];

  const create = (obj: object, extra: string[] = []) =>
    cp.kubectl(["create", "-n", ns, ...extra, "-f", "-"], { input: stringify(obj) });
  const cluster = (name: string, spec: object) => ({
    apiVersion: "rqlite.io/v1alpha1",
    kind: "RqCluster",
    metadata: { name },
    spec,
  });

  before(async () => {
    cp = await sharedControlPlane();
    await installCRDs(cp, [join(root, "crds/rqlite.io_rqclusters.yaml")]);
    ns = await createTestNamespace(cp, "webhook");
    const certDir = await tempDir("webhook-apiserver");
    const { ca } = await mintCerts(certDir, ["127.0.0.1"]);
    server = await WebhookProcess.start(certDir);
    const configs = await loopbackConfigurations(server.port, ca, { prefix: "webhook-test-", namespace: ns });
    configNames = configs.map((c) => `${c.kind.toLowerCase()}/${c.metadata.name}`);
    await cp.kubectlOk(["apply", "--server-side", "--field-manager=webhook-test", "-f", "-"], {
      input: configs.map((c) => stringify(c)).join("---\n"),
    });
    // The apiserver picks new configurations up from a watch: wait until it calls the webhook.
    const deadline = Date.now() + 30_000;
    while (!server.logs.some((l) => l.webhook === "/mutate-rqlite-io-v1alpha1-rqcluster")) {
      if (Date.now() > deadline) throw new Error(`kube-apiserver never called the webhook:\n${server.output()}`);
      await create(cluster("probe", {}), ["--dry-run=server"]);
    }
  });

  after(async () => {
    if (configNames.length) await cp.kubectl(["delete", "--ignore-not-found", ...configNames]);
    if (server) assert.equal(await server.stop(), 0, server.output());
  });

  it("stores an RqCluster with every default filled in by the mutating webhook", async () => {
    await cp.kubectlOk(["create", "-n", ns, "-f", "-"], { input: stringify(cluster("defaults", { replicas: 1 })) });
    const stored = JSON.parse(await cp.kubectlOk(["get", "-n", ns, "rqcluster", "defaults", "-o", "json"])) as {
      spec: Record<string, unknown>;
    };
    const spec = stored.spec;
    assert.equal(spec.replicas, 1);
    // The newest version the end-to-end suite runs (shared/rqlite-versions.ts).
    assert.equal(spec.image, "rqlite/rqlite:8.43.4");
    assert.deepEqual(spec.storage, { size: "1Gi", reclaimPolicy: "Retain", scaleDownPolicy: "Delete" });
    assert.deepEqual(spec.resources, { requests: { cpu: "100m", memory: "128Mi" } });
    await server.waitForLog(
      (l) => l.webhook === "/mutate-rqlite-io-v1alpha1-rqcluster" && l.name === "defaults" && l.namespace === ns,
    );
  });

  // With the causes in the denial's status, kubectl renders it as it renders the apiserver's own
  // validation errors: one bullet per field.
  it("rejects a bad RqCluster with every field error in kubectl's message", async () => {
    const res = await create(
      cluster("bad", {
        extraArgs: ["-http-addr=0.0.0.0:4001"],
        storage: { size: "10Mi" },
        affinity: { topologyKey: "not a key!" },
        podTemplate: { spec: { hostname: "pinned" } },
      }),
    );
    assert.notEqual(res.code, 0);
    assert.match(res.stderr, /The RqCluster "bad" is invalid: \n/);
    for (const field of [
      "spec.extraArgs[0]",
      "spec.storage.size",
      "spec.affinity.topologyKey",
      "spec.podTemplate.spec.hostname",
    ]) {
      assert.ok(res.stderr.includes(`* ${field}: `), `kubectl shows ${field}: ${res.stderr}`);
    }
    const gone = await cp.kubectl(["get", "-n", ns, "rqcluster", "bad"]);
    assert.notEqual(gone.code, 0, "nothing was stored");
  });

  it("shows the webhook's warnings in kubectl", async () => {
    const res = await create(cluster("even", { replicas: 4, image: "rqlite/rqlite:latest" }), ["--dry-run=server"]);
    assert.equal(res.code, 0, res.stderr);
    assert.match(res.stderr, /Warning: spec\.replicas: 4 voters tolerate 1 failed node/);
    assert.match(res.stderr, /Warning: spec\.image: tag "latest"/);
  });

  it("rejects a downgrade rqlite does not support in place, and a scale-up the new version cannot join", async () => {
    const patch = (body: object, extra: string[] = []) =>
      cp.kubectl(["patch", "-n", ns, "rqcluster", "upgrade", "--type=merge", ...extra, "-p", JSON.stringify(body)]);
    const created = await cp.kubectl(["create", "-n", ns, "-f", "-"], {
      input: stringify(cluster("upgrade", { image: "rqlite/rqlite:10.2.0" })),
    });
    assert.equal(created.code, 0, created.stderr);
    assert.match(
      created.stderr,
      /Warning: spec\.image: rqlite 10\.2\.0 is not one of the versions this operator release was tested with/,
    );
    const down = await patch({ spec: { image: "rqlite/rqlite:9.4.1" } });
    assert.notEqual(down.code, 0);
    assert.match(
      down.stderr,
      /spec\.image: Invalid value: "rqlite\/rqlite:9\.4\.1": may not change rqlite from 10\.2\.0 to 9\.4\.1: .*rqlite does not support downgrading from major version 10 to 9 in place; back up the cluster/,
    );
    // The Pods still run 9.x (a roll to 10 under way as the controller last saw it): no new nodes.
    assert.equal((await patch({ status: { currentImage: "rqlite/rqlite:9.4.1" } }, ["--subresource=status"])).code, 0);
    // (`kubectl scale` goes through the scale subresource, which carries no image: there the
    // controller holds the new nodes back until the roll is done, see plan/scale.ts.)
    const scale = await patch({ spec: { replicas: 5 } });
    assert.notEqual(scale.code, 0);
    assert.match(
      scale.stderr,
      /spec\.replicas: Forbidden: may not add nodes until the upgrade to "rqlite\/rqlite:10\.2\.0" has finished/,
    );
    // Back to what the Pods run is a downgrade rqlite has no trouble with there.
    const back = await patch({ spec: { image: "rqlite/rqlite:9.4.1" } });
    assert.equal(back.code, 0, back.stderr);
  });

  it("checks extraArgs against the image's rqlite version", async () => {
    const res = await create(
      cluster("flags", { image: "rqlite/rqlite:10.2.0", extraArgs: ["-on-disk-path=/dev/shm/x", "-raft-timeout=2s"] }),
      ["--dry-run=server"],
    );
    assert.notEqual(res.code, 0);
    assert.match(
      res.stderr,
      /spec\.extraArgs\[0\]: Invalid value: "-on-disk-path=\/dev\/shm\/x": flag -on-disk-path was removed in rqlite 10\.0\.0/,
    );
    const renamed = await create(cluster("flags", { image: "rqlite/rqlite:10.2.0", extraArgs: ["-raft-timeout=2s"] }), [
      "--dry-run=server",
    ]);
    assert.equal(renamed.code, 0, renamed.stderr);
    assert.match(
      renamed.stderr,
      /Warning: spec\.extraArgs\[0\]: rqlite 10\.2\.0 calls -raft-timeout -raft-heartbeat-timeout/,
    );
  });

  // The webhook judges against status.currentImage, the image the controller saw every voter
  // run: a user goes back from a failed upgrade, but cannot dodge the rules with `latest`.
  it("allows rolling back a failed upgrade to what the Pods run, and refuses an unversioned image", async () => {
    const patch = (body: object, extra: string[] = []) =>
      cp.kubectl(["patch", "-n", ns, "rqcluster", "rollback", "--type=merge", ...extra, "-p", JSON.stringify(body)]);
    await cp.kubectlOk(["create", "-n", ns, "-f", "-"], {
      input: stringify(cluster("rollback", { image: "rqlite/rqlite:8.43.4" })),
    });
    const upgrade = await patch({ spec: { image: "rqlite/rqlite:9.4.1" } });
    assert.equal(upgrade.code, 0, upgrade.stderr);
    // The roll failed: every voter still runs 8.x, as the controller reports it.
    const status = await patch({ status: { currentImage: "rqlite/rqlite:8.43.4" } }, ["--subresource=status"]);
    assert.equal(status.code, 0, status.stderr);
    const back = await patch({ spec: { image: "rqlite/rqlite:8.43.4" } });
    assert.equal(back.code, 0, back.stderr);

    const latest = await patch({ spec: { image: "rqlite/rqlite:latest" } });
    assert.notEqual(latest.code, 0);
    assert.match(
      latest.stderr,
      /spec\.image: Invalid value: "rqlite\/rqlite:latest": must name an rqlite version: .*pin a version tag such as rqlite\/rqlite:8\.43\.4/,
    );
    const stored = await cp.kubectlOk(["get", "-n", ns, "rqcluster", "rollback", "-o", "jsonpath={.spec.image}"]);
    assert.equal(stored, "rqlite/rqlite:8.43.4");
  });

  it("refuses a cluster whose children would take another cluster's names", async () => {
    for (const [name, message] of [
      [
        "shop-ro",
        /may not end in "-ro": this cluster's voter Pods and PVCs \(shop-ro-0, shop-ro-1, \.\.\.\) .* RqCluster "shop"/,
      ],
      [
        "shop-internal",
        /may not end in "-internal": this cluster's client Service \(shop-internal\) .* RqCluster "shop"/,
      ],
    ] as const) {
      const res = await create(cluster(name, {}));
      assert.notEqual(res.code, 0, `${name} was stored`);
      assert.match(
        res.stderr,
        new RegExp(`The RqCluster "${name}" is invalid: metadata\\.name: Invalid value: "${name}": `),
      );
      assert.match(res.stderr, message);
    }
    const ok = await create(cluster("shop", {}), ["--dry-run=server"]);
    assert.equal(ok.code, 0, ok.stderr);
  });

  it("validates ConfigMaps labelled as pod templates and leaves others alone", async () => {
    const configMap = (name: string, labels: Record<string, string>, template: unknown) => ({
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: { name, labels },
      data: { "pod-template.json": JSON.stringify(template) },
    });
    const bad = await create(configMap("tpl-bad", { "rqlite.io/pod-template": "" }, { spec: { subdomain: "x" } }));
    assert.notEqual(bad.code, 0);
    assert.match(
      bad.stderr,
      /The ConfigMap "tpl-bad" is invalid: data\[pod-template\.json\]\.spec\.subdomain: Forbidden/,
    );
    const good = await create(
      configMap("tpl-good", { "rqlite.io/pod-template": "" }, { spec: { priorityClassName: "high" } }),
    );
    assert.equal(good.code, 0, good.stderr);
    const unlabelled = await create(configMap("not-a-template", {}, { spec: { subdomain: "x" } }));
    assert.equal(unlabelled.code, 0, unlabelled.stderr);
    // A tenant's way around the check: drop the label and change the template in one update.
    const slip = await cp.kubectl(["replace", "-n", ns, "-f", "-"], {
      input: stringify(configMap("tpl-good", {}, { spec: { hostNetwork: true } })),
    });
    assert.notEqual(slip.code, 0);
    assert.match(
      slip.stderr,
      /metadata\.labels\[rqlite\.io\/pod-template\]: Forbidden: may not be removed in the same update/,
    );
  });

  it("refuses a tenant's template that would run the Pods as another ServiceAccount, or on the host", async () => {
    const res = await create(
      cluster("deputy", {
        podTemplate: {
          spec: {
            serviceAccountName: "namespace-admin",
            hostPID: true,
            volumes: [{ name: "host", hostPath: { path: "/" } }],
          },
        },
      }),
    );
    assert.notEqual(res.code, 0);
    for (const field of ["serviceAccountName", "hostPID", "volumes[0].hostPath"])
      assert.match(
        res.stderr,
        new RegExp(`spec\\.podTemplate\\.spec\\.${field.replace(/[.[\]]/g, "\\$&")}: Forbidden`),
      );
  });

  it("admits an RqCluster while 600 half-open TLS handshakes are held, and closes them after 10 s", async () => {
    // From another address, as from a tenant's Pod: the API server dials from 127.0.0.1.
    const flood = await holdHalfOpenHandshakes(server.port, 600, "127.0.0.2");
    try {
      await eventually("the flood over the per-peer cap closed", () => flood.open() === 256, 5000);
      const res = await create(cluster("under-flood", { replicas: 1 }));
      assert.equal(res.code, 0, res.stderr);
      const held = flood.openNow();
      assert.equal(held.length, 256, "the admission went through while every held handshake still was");
      await eventually("the handshake timeout closed the rest", () => flood.open() === 0, 30_000);
      // Counted from the client's connect, which the server's accept may follow late on a busy machine.
      for (const t of flood.lifetimesMs(held)) assert.ok(t >= 9_500 && t < 25_000, `a handshake was held ${t} ms`);
    } finally {
      flood.destroy();
    }
  });
});
