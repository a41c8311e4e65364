// End to end on a real cluster (testenv/realCluster.ts): real kubelets run the operator from its
// own image, installed with its Helm chart (webhook TLS from the chart's cert-manager Issuer, two
// controller replicas and a Lease), and the rqlite Pods it makes, which find each other through
// the headless Service's DNS names (--addressing=dns, the production default). Run with
// `npm run test:real` (root, the Debian packages in README's "Real cluster"); `npm test` does not.
import { strict as assert } from "node:assert";
import { RqliteClient } from "../../controller/rqlite/client.js";
import { loopbackAddress } from "../../shared/loopback-address.js";
import { LABEL_CLUSTER } from "../../shared/names.js";
import { eventually } from "../../testenv/eventually.js";
import type { PodTunnels } from "../../testenv/podTunnels.js";
import { waitConverged } from "../e2e/clusterStatus.js";
import { monitoredChange } from "../e2e/monitoredChange.js";
import { createRowsTable, type AckedRow } from "../e2e/rows.js";
import {
  harnessNamespace,
  OPERATOR_NS,
  probeConnection,
  runNamespace,
  startOperatorCluster,
  type OperatorCluster,
  printFigures,
} from "./support.js";

const NS = runNamespace("real-e2e");
const OTHER_NS = runNamespace("real-outsider");

describe("real cluster: the operator from its image, installed with Helm", function () {
  this.timeout(900_000);
  let oc: OperatorCluster;
  let tunnels: PodTunnels;
  const acked: AckedRow[] = [];
  const figures: Record<string, string> = {};
  const kubectl = (args: string[], timeoutMs?: number) => oc.kubectl(args, timeoutMs);

  before(async () => {
    oc = await startOperatorCluster(figures);
    tunnels = await harnessNamespace(oc, NS);
    await kubectl(["create", "namespace", OTHER_NS]);
  });

  after(async () => {
    printFigures(figures);
    await tunnels?.stop();
    await oc?.stop();
  });

  it("runs 3 Ready nodes, one per zone, each with a container runtime and a node address of its own", async () => {
    const wide = await kubectl(["get", "nodes", "-o", "wide", "-L", "topology.kubernetes.io/zone"]);
    console.log(`      kubectl get nodes -o wide -L topology.kubernetes.io/zone:\n${wide.replace(/^/gm, "        ")}`);
    const rows = wide
      .trim()
      .split("\n")
      .slice(1)
      .map((l) => l.split(/\s+/));
    assert.equal(rows.length, 3, wide);
    // OS-IMAGE has spaces: the runtime and the zone are read from the end.
    assert.ok(
      rows.every((r) => r[1] === "Ready" && r[r.length - 2]!.startsWith("containerd://")),
      wide,
    );
    assert.deepEqual(rows.map((r) => r[r.length - 1]).sort(), ["zone-a", "zone-b", "zone-c"], wide);
    assert.equal(new Set(rows.map((r) => r[5])).size, 3, `three INTERNAL-IPs: ${wide}`);
  });

  it("runs two controller replicas on two nodes from the image, one of them holding the Lease", async () => {
    const controllers = await oc.pods(OPERATOR_NS, "app.kubernetes.io/component=controller");
    const nodes = new Set(controllers.map((p) => p.spec?.nodeName));
    assert.equal(controllers.length, 2);
    assert.equal(nodes.size, 2, `controllers on ${[...nodes].join(", ")}`);
    const holder = await eventually(
      "a controller holding the Lease",
      async () =>
        (await kubectl(["get", "lease", "-n", OPERATOR_NS, "-o", "jsonpath={.items[0].spec.holderIdentity}"])).trim(),
      60_000,
    );
    assert.ok(
      controllers.some((p) => holder.startsWith(p.metadata!.name!)),
      holder,
    );
  });

  it("creates a 3-node RqCluster whose nodes know each other by their DNS names", async () => {
    const applied = Date.now();
    await oc.rc.cp.kubectlOk(["apply", "-n", NS, "-f", "-"], {
      input: JSON.stringify({
        apiVersion: "rqlite.io/v1alpha1",
        kind: "RqCluster",
        metadata: { name: "demo" },
        spec: { replicas: 3 },
      }),
    });
    await waitConverged(oc.rc.cp, NS, "demo", 3);
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
          client: oc.client,
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
          await waitConverged(oc.rc.cp, NS, "demo", replicas);
        },
      );
    await change("scale 3 to 5", 5);
    await change("scale 5 to 3", 3);
  });

  it("enforces the cluster's NetworkPolicy: 4001 and 4002 refused from another namespace, 4001 allowed in its own", async () => {
    const target = (await oc.pods(NS, `${LABEL_CLUSTER}=demo`)).find((p) => p.metadata?.name === "demo-0");
    const ip = target?.status?.podIP;
    assert.ok(ip, "demo-0 has an IP");
    const probe = async (ns: string, port: number, expect: "open" | "refused") => {
      const result = await probeConnection(oc, ns, { ip, port }, expect);
      figures[`${ns} -> demo-0:${port}`] = result;
      return result;
    };
    assert.equal(await probe(OTHER_NS, 4001, "refused"), "refused");
    assert.equal(await probe(OTHER_NS, 4002, "refused"), "refused");
    assert.equal(await probe(NS, 4002, "refused"), "refused");
    assert.equal(await probe(NS, 4001, "open"), "open");
  });
});
