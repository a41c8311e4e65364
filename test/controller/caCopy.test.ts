// The TLS CA the operator verifies rqlite with outlives the operator: with the tls.http Secret
// deleted mid-life, a controller that restarted (or took the Lease over) still has the ca.crt it
// read before, from its own copy in `<cluster>-operator-ca`, so Raft state stays readable and
// lost nodes are still replaced. On the real control plane, with the controller's RBAC.
import { strict as assert } from "node:assert";
import type { V1Secret } from "@kubernetes/client-node";
import type { RqCluster } from "../../shared/index.js";
import type { ControlPlane } from "../../testenv/controlplane.js";
import { operatorKubeconfig, startController, type ControllerProcess } from "../../testenv/controller.js";
import { eventually } from "../../testenv/eventually.js";
import { createTestNamespace, sharedControlPlane } from "../../testenv/shared.js";

const CA =
  "-----BEGIN CERTIFICATE-----\nMIIBkTCB+wIJAKHBfpegPjMCMA0GCSqGSIb3DQEBCwUAMBExDzANBgNVBAMMBnRl\n-----END CERTIFICATE-----\n";

describe("controller: the remembered TLS CA survives a restart", function () {
  this.timeout(180_000);
  let cp: ControlPlane;
  let ns: string;
  let kubeconfig: string;
  let controller: ControllerProcess | undefined;

  const kubectl = (args: string[], input?: object) =>
    cp.kubectlOk(["-n", ns, ...args], input ? { input: JSON.stringify(input) } : {});
  const start = (name: string) => startController({ kubeconfig, logDir: cp.dir, name, env: { WATCH_NAMESPACES: ns } });
  const secretsReady = async () => {
    const c = JSON.parse(await kubectl(["get", "rqc", "db", "-o", "json"])) as RqCluster;
    return c.status?.conditions?.find((x) => x.type === "SecretsReady");
  };

  before(async () => {
    cp = await sharedControlPlane();
    kubeconfig = await operatorKubeconfig(cp);
    ns = await createTestNamespace(cp, "cacopy");
    controller = await start("controller-cacopy-1");
  });

  after(async () => {
    await controller?.stop();
  });

  it("keeps its copy in a Secret it owns, and verifies with it after a restart with the CA Secret gone", async () => {
    await kubectl(["apply", "-f", "-"], {
      apiVersion: "v1",
      kind: "Secret",
      metadata: { name: "web-tls" },
      stringData: { "tls.crt": "crt", "tls.key": "key", "ca.crt": CA },
    });
    await kubectl(["apply", "-f", "-"], {
      apiVersion: "rqlite.io/v1alpha1",
      kind: "RqCluster",
      metadata: { name: "db" },
      spec: { replicas: 1, tls: { http: { secretName: "web-tls" } } },
    });
    const copy = await eventually("the operator's copy db-operator-ca", async () => {
      const r = await cp.kubectl(["-n", ns, "get", "secret", "db-operator-ca", "-o", "json"]);
      return r.code === 0 && (JSON.parse(r.stdout) as V1Secret);
    });
    const uid = (JSON.parse(await kubectl(["get", "rqc", "db", "-o", "json"])) as RqCluster).metadata!.uid;
    assert.deepEqual(
      copy.metadata!.ownerReferences!.map((r) => [r.kind, r.uid, r.controller]),
      [["RqCluster", uid, true]],
    );
    assert.equal(Buffer.from(copy.data!["web-tls"]!, "base64").toString(), CA);
    assert.equal((await secretsReady())?.status, "True");

    // The operator goes; meanwhile the CA Secret is deleted; a new operator process comes.
    await controller!.stop();
    controller = undefined;
    await kubectl(["delete", "secret", "web-tls"]);
    controller = await start("controller-cacopy-2");
    const message = await eventually(
      "SecretsReady False naming the Secret, verified with the CA read before",
      async () => {
        const c = await secretsReady();
        return c?.status === "False" && c.message.includes(`Secret ${ns}/web-tls`) && c.message;
      },
      60_000,
    );
    assert.match(message, /verifies rqlite's HTTPS API with the ca\.crt it read from it before/);
    assert.doesNotMatch(message, /cannot verify/);
    // The copy keeps the CA while Pods still mount that Secret.
    const kept = JSON.parse(await kubectl(["get", "secret", "db-operator-ca", "-o", "json"])) as V1Secret;
    assert.equal(Buffer.from(kept.data!["web-tls"]!, "base64").toString(), CA);
  });
});
