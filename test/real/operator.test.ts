// End to end on a real cluster (testenv/realCluster.ts): real kubelets run the operator from its
// own image, installed with its Helm chart (webhook TLS from the chart's cert-manager Issuer, two
// controller replicas and a Lease), and the rqlite Pods it makes, which find each other through
// the headless Service's DNS names (--addressing=dns, the production default). Run with
// `npm run test:real` (root, the Debian packages in README's "Real cluster"); `npm test` does not.
import { strict as assert } from "node:assert";
import { Registry } from "prom-client";
import { RqliteClient } from "../../controller/rqlite/client.js";
import { KubeClient, loadKubeConfig } from "../../controller/runtime/kubeClient.js";
import { loopbackAddress } from "../../shared/loopback-address.js";
import { LABEL_CLUSTER } from "../../shared/names.js";
import { eventually } from "../../testenv/eventually.js";
import { startPodTunnels, type PodTunnels } from "../../testenv/podTunnels.js";
import { ProcessGroup } from "../../testenv/processes.js";
import { BUSYBOX_IMAGE, HUB_CIDR, startRealCluster, type RealCluster } from "../../testenv/realCluster.js";
import { waitConverged } from "../e2e/clusterStatus.js";
import { monitoredChange } from "../e2e/monitoredChange.js";
import { createRowsTable, type AckedRow } from "../e2e/rows.js";
import { startCertManager } from "../install/support/certManager.js";
import { CHART, helmOk } from "../install/support/helm.js";
import { installDependencyCRDs } from "../install/support/installCrds.js";
import { buildTools } from "../install/support/tools.js";

const OPERATOR_NS = "rqlite-operator-system";
const NS = "real-e2e";
const OTHER_NS = "real-outsider";

describe("real cluster: the operator from its image, installed with Helm", function () {
  this.timeout(900_000);
  let rc: RealCluster;
  let addons: ProcessGroup;
  let client: KubeClient;
  let tunnels: PodTunnels;
  const acked: AckedRow[] = [];
  const figures: Record<string, string> = {};
  const kubectl = (args: string[], timeoutMs?: number) => rc.cp.kubectlOk(args, { timeoutMs });
  const pods = async (ns: string, selector: string) =>
    JSON.parse(await kubectl(["get", "pods", "-n", ns, "-l", selector, "-o", "json"])) as {
      items: Array<{ metadata: { name: string }; spec: { nodeName?: string }; status: { podIP?: string } }>;
    };

  before(async () => {
    rc = await startRealCluster();
    figures["cluster Ready"] = `${(rc.readyMs / 1000).toFixed(1)} s`;
    await installDependencyCRDs(rc.cp, { rqlite: false });
    addons = new ProcessGroup();
    startCertManager(addons, rc.cp, await buildTools(["cert-manager", "helm"]), rc.dir);
    const installing = Date.now();
    await helmOk(
      ["install", "rqlite-operator", CHART, "--kubeconfig", rc.cp.kubeconfigPath, "--namespace", OPERATOR_NS].concat([
        "--create-namespace",
        "--wait",
        "--timeout=5m",
      ]),
      330_000,
    );
    figures["helm install --wait"] = `${((Date.now() - installing) / 1000).toFixed(1)} s`;
    client = new KubeClient(loadKubeConfig(rc.cp.kubeconfigPath), new Registry());
    await kubectl(["create", "namespace", NS]);
    await kubectl(["create", "namespace", OTHER_NS]);
    // The test reaches the nodes from the hub, outside every Pod, which the cluster's own policy
    // refuses; policies add up, so this one admits the harness and changes nothing else.
    await rc.cp.kubectlOk(["apply", "-n", NS, "-f", "-"], {
      input: JSON.stringify({
        apiVersion: "networking.k8s.io/v1",
        kind: "NetworkPolicy",
        metadata: { name: "test-harness" },
        spec: {
          podSelector: {},
          policyTypes: ["Ingress"],
          ingress: [{ from: [{ ipBlock: { cidr: HUB_CIDR } }], ports: [{ port: 4001, protocol: "TCP" }] }],
        },
      }),
    });
    tunnels = await startPodTunnels({ client, namespace: NS, egressSocket: rc.egressSocket, ports: [4001] });
  });

  after(async () => {
    console.log(
      `      figures:\n${Object.entries(figures)
        .map(([k, v]) => `        ${k}: ${v}`)
        .join("\n")}`,
    );
    await tunnels?.stop();
    await addons?.stopAll();
    await rc?.stop();
  });

  it("runs two controller replicas on two nodes from the image, one of them holding the Lease", async () => {
    const controllers = await pods(OPERATOR_NS, "app.kubernetes.io/component=controller");
    const nodes = new Set(controllers.items.map((p) => p.spec.nodeName));
    assert.equal(controllers.items.length, 2);
    assert.equal(nodes.size, 2, `controllers on ${[...nodes].join(", ")}`);
    const holder = await eventually(
      "a controller holding the Lease",
      async () =>
        (await kubectl(["get", "lease", "-n", OPERATOR_NS, "-o", "jsonpath={.items[0].spec.holderIdentity}"])).trim(),
      60_000,
    );
    assert.ok(
      controllers.items.some((p) => holder.startsWith(p.metadata.name)),
      holder,
    );
  });

  it("creates a 3-node RqCluster whose nodes know each other by their DNS names", async () => {
    const applied = Date.now();
    await rc.cp.kubectlOk(["apply", "-n", NS, "-f", "-"], {
      input: JSON.stringify({
        apiVersion: "rqlite.io/v1alpha1",
        kind: "RqCluster",
        metadata: { name: "demo" },
        spec: { replicas: 3 },
      }),
    });
    await waitConverged(rc.cp, NS, "demo", 3);
    figures["3 nodes converged after apply"] = `${((Date.now() - applied) / 1000).toFixed(1)} s`;
    const answer = await new RqliteClient(`http://${loopbackAddress(NS, "demo-0")}:4001`, { nodeId: "demo-0" }).nodes();
    console.log(`      /nodes: ${answer.map((n) => `${n.id} ${n.addr} ${n.apiAddr ?? "-"}`).join("; ")}`);
    for (const i of [0, 1, 2]) {
      const node = answer.find((n) => n.id === `demo-${i}`);
      assert.equal(node?.addr, `demo-${i}.demo-internal.${NS}.svc.cluster.local:4002`, JSON.stringify(answer));
      assert.equal(node?.reachable, true);
    }
    await createRowsTable(NS, "demo-0");
  });

  it("scales 3 → 5 → 3 under the invariant monitor, every acknowledged row on every node", async () => {
    const change = (name: string, replicas: number) =>
      monitoredChange(
        {
          name,
          client,
          namespace: NS,
          cluster: "demo",
          acked,
          podsAfter: () => Array.from({ length: replicas }, (_, i) => `demo-${i}`),
          figures,
        },
        async () => {
          await kubectl([
            "patch",
            "rqc",
            "demo",
            "-n",
            NS,
            "--type=merge",
            "-p",
            JSON.stringify({ spec: { replicas } }),
          ]);
          await waitConverged(rc.cp, NS, "demo", replicas);
        },
      );
    await change("scale 3 to 5", 5);
    await change("scale 5 to 3", 3);
  });

  it("enforces the cluster's NetworkPolicy: 4001 and 4002 refused from another namespace, 4001 allowed in its own", async () => {
    const target = (await pods(NS, `${LABEL_CLUSTER}=demo`)).items.find((p) => p.metadata.name === "demo-0");
    const ip = target?.status.podIP;
    assert.ok(ip, "demo-0 has an IP");
    const probe = async (ns: string, port: number) => {
      const name = `probe-${port}-${Date.now()}`;
      // busybox nc exits 0 once connected; a dropped SYN runs into -w.
      const out = await kubectl(
        [
          "run",
          name,
          "-n",
          ns,
          `--image=${BUSYBOX_IMAGE}`,
          "--image-pull-policy=Never",
          "--restart=Never",
          "--rm",
          "-i",
          "--quiet",
        ].concat(["--", "sh", "-c", `nc -w 3 ${ip} ${port} </dev/null && echo open || echo refused`]),
        60_000,
      );
      const result = out.trim().split("\n").pop();
      figures[`${ns} -> demo-0:${port}`] = result ?? "";
      return result;
    };
    assert.equal(await probe(OTHER_NS, 4001), "refused");
    assert.equal(await probe(OTHER_NS, 4002), "refused");
    assert.equal(await probe(NS, 4002), "refused");
    assert.equal(await probe(NS, 4001), "open");
  });
});
