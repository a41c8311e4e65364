// A Pod anyone with Pod rights can make: the labels of RqCluster demo, Running and Ready, but not
// made by the operator (no owner reference). The plugin must send it nothing: not a /status, not
// a query. A listener at the decoy's address counts what arrives. (stepdown and exec pick their
// Pods the same way, through clusterPods; they are left out so as not to disturb the shared demo.)
import { strict as assert } from "node:assert";
import { createServer, type Server } from "node:http";
import { once } from "node:events";
import { loopbackAddress } from "../../shared/loopback-address.js";
import { HTTP_PORT, LABEL_CLUSTER, LABEL_NAME } from "../../shared/names.js";
import { podNetworkIP } from "../../testenv/podNetwork.js";
import { expectExit, kubectlRqlite } from "./support/plugin.js";
import { cliStack, DEMO, IMAGE, type CliStack } from "./support/stack.js";

const DECOY = "demo-decoy";

describe("kubectl rqlite and a decoy Pod with the cluster's labels", function () {
  this.timeout(300_000);
  let s: CliStack;
  let listener: Server;
  const arrived: string[] = [];
  const run = (...args: string[]) => kubectlRqlite(s, args);

  before(async () => {
    s = await cliStack();
    const address = loopbackAddress(s.namespace, DECOY);
    listener = createServer((req, res) => {
      arrived.push(`${req.method} ${req.url}`);
      res.writeHead(200, { "Content-Type": "application/json" }).end("{}");
    });
    listener.listen(HTTP_PORT, address);
    await once(listener, "listening");
    const kubectl = (args: string[], input?: string) =>
      s.stack.cp.kubectlOk(["-n", s.namespace, ...args], input === undefined ? {} : { input });
    await kubectl(
      ["apply", "-f", "-"],
      JSON.stringify({
        apiVersion: "v1",
        kind: "Pod",
        metadata: { name: DECOY, labels: { [LABEL_CLUSTER]: DEMO, [LABEL_NAME]: "rqlite" } },
        spec: { containers: [{ name: "rqlite", image: IMAGE }] },
      }),
    );
    // What a kubelet would report: no kubelet runs it here (the local runtime runs only the
    // operator's Pods), so the test sets the status the decoy's owner could make a kubelet report.
    await kubectl([
      "patch",
      "pod",
      DECOY,
      "--subresource=status",
      "--type=merge",
      "-p",
      JSON.stringify({
        status: {
          phase: "Running",
          podIP: podNetworkIP(address),
          podIPs: [{ ip: podNetworkIP(address) }],
          conditions: [{ type: "Ready", status: "True" }],
        },
      }),
    ]);
  });

  after(async () => {
    await s?.stack.cp.kubectl(["delete", "pod", DECOY, "-n", s.namespace, "--ignore-not-found", "--wait=false"]);
    listener?.close();
  });

  it("is reachable through the pod proxy, so that silence below means the plugin chose not to call it", async () => {
    await s.stack.cp.kubectlOk([
      "get",
      "--raw",
      `/api/v1/namespaces/${s.namespace}/pods/${DECOY}:${HTTP_PORT}/proxy/status`,
    ]);
    assert.deepEqual(arrived.splice(0), ["GET /status"]);
  });

  it("receives nothing from status, version, query or report", async () => {
    const status = expectExit(await run("status", DEMO, "-o", "json"), 0);
    const members = (JSON.parse(status.stdout) as { members: { name: string }[] }).members.map((m) => m.name);
    assert.ok(!members.includes(DECOY), `status lists the decoy: ${members.join(", ")}`);
    const version = expectExit(await run("version", DEMO, "-o", "json"), 0);
    assert.doesNotMatch(version.stdout, new RegExp(DECOY));
    expectExit(await run("query", DEMO, "SELECT 1", "--level", "none"), 0);
    expectExit(await run("report", DEMO, "-f", "/dev/null"), 0);
    assert.deepEqual(arrived, [], "requests reached the decoy");
  });
});
