// One way to reach a cluster (controller/access/cluster.ts) for both controllers: a tls.http
// Secret without ca.crt is reported with the Secret, the field that names it and what follows,
// and neither the RqCluster path (reachCluster + leaderOf, as observe uses) nor the RqBackup
// path (reachLeader) calls a node it cannot verify.
import { strict as assert } from "node:assert";
import type { V1Pod } from "@kubernetes/client-node";
import { leaderOf, reachCluster, reachLeader, readCas } from "../../../../controller/access/cluster.js";
import type { DataObject } from "../../../../controller/runtime/writer.js";
import { clusterView } from "../../../../controller/rqcluster/render/cluster.js";
import type { RqCluster } from "../../../../shared/index.js";
import { RQLITE_CONTAINER, HTTP_TLS_VOLUME } from "../../../../shared/names.js";
import { loopbackAddress } from "../../../../shared/loopback-address.js";

const addressing = { kind: "static" as const, addressOf: loopbackAddress };

const cluster = (secretName: string): RqCluster => ({
  apiVersion: "rqlite.io/v1alpha1",
  kind: "RqCluster",
  metadata: { name: "db", namespace: "ns", uid: "uid-1" },
  spec: { replicas: 1, image: "rqlite/rqlite:8.43.4", tls: { http: { secretName } } },
});

/** A running node serving HTTPS with the certificate of `secretName`. */
const httpsPod = (name: string, secretName: string): V1Pod => ({
  metadata: { name, namespace: "ns" },
  spec: {
    containers: [{ name: RQLITE_CONTAINER, args: ["-http-cert=/tls/tls.crt", "-http-key=/tls/tls.key"] }],
    volumes: [{ name: HTTP_TLS_VOLUME, secret: { secretName } }],
  },
  status: { podIP: "10.0.0.1", conditions: [{ type: "Ready", status: "True" }] },
});

/** Secrets by name; the ones read are recorded. */
function secrets(byName: Record<string, Record<string, string>>) {
  const read: string[] = [];
  return {
    read,
    writer: {
      readSecret: (_owner: unknown, name: string): Promise<DataObject | undefined> => {
        read.push(name);
        const data = byName[name];
        return Promise.resolve(data ? { data, labels: {}, owners: [] } : undefined);
      },
    },
  };
}

const NO_CA = "Secret ns/web-tls (spec.tls.http.secretName) has no key ca.crt";

describe("access/cluster: reaching a cluster whose tls.http Secret has no ca.crt", () => {
  it("reports the Secret, its field and the consequence (TLSCAUnavailable)", async () => {
    const { writer } = secrets({ "web-tls": { "tls.crt": "cert", "tls.key": "key" } });
    const c = clusterView(cluster("web-tls"));
    const { cas, problems } = await readCas(writer, c, [httpsPod("db-0", "web-tls")], undefined);
    assert.equal(cas.size, 0);
    assert.equal(problems.length, 1);
    assert.equal(problems[0]!.reason, "TLSCAUnavailable");
    assert.ok(problems[0]!.message.startsWith(`${NO_CA}; the operator cannot verify rqlite's HTTPS API`));
  });

  it("keeps verifying with the ca.crt read before, and says so", async () => {
    const { writer } = secrets({ "web-tls": { "tls.crt": "cert" } });
    const c = clusterView(cluster("web-tls"));
    const known = new Map([["ns/web-tls", "PEM"]]);
    const { cas, problems } = await readCas(writer, c, [httpsPod("db-0", "web-tls")], known);
    assert.equal(cas.get("web-tls"), "PEM");
    assert.match(problems[0]!.message, /has no key ca\.crt; the operator verifies rqlite's HTTPS API with the ca\.crt/);
  });

  it("names the Pod that mounts a Secret the spec no longer names (mid-rotation)", async () => {
    const { writer } = secrets({ "new-tls": { "ca.crt": "PEM" }, "old-tls": { "tls.crt": "cert" } });
    const c = clusterView(cluster("new-tls"));
    const { cas, problems } = await readCas(writer, c, [httpsPod("db-0", "old-tls")], undefined);
    assert.equal(cas.get("new-tls"), "PEM");
    assert.deepEqual(
      problems.map((p) => p.message.split(";")[0]),
      ["Secret ns/old-tls (mounted by Pod db-0 for rqlite's HTTPS"],
    );
  });

  it("gives both controllers the same answer, without calling the node", async () => {
    const pods = [httpsPod("db-0", "web-tls")];
    const { writer } = secrets({ "web-tls": { "tls.crt": "cert" } });
    const c = clusterView(cluster("web-tls"));
    // The RqCluster controller's path: any call to rqlite fails the test.
    const reach = await reachCluster({ writer, addressing }, c, pods, undefined);
    const dialed = () => assert.fail("a node that cannot be verified was called");
    const fromCluster = await leaderOf({ ...reach, rqlite: { ...reach.rqlite, leaderView: dialed } }, pods);
    assert.equal(fromCluster.view, undefined);
    assert.ok(fromCluster.problem?.startsWith(NO_CA), fromCluster.problem);
    // The RqBackup controller's path, through the same module: a call would time out or be
    // refused, and the problem would name that instead of the Secret.
    const fromBackup = await reachLeader({ writer, addressing, pods: () => Promise.resolve(pods) }, cluster("web-tls"));
    assert.deepEqual(fromBackup, { problem: `RqCluster ns/db has no rqlite leader: ${fromCluster.problem}` });
  });

  it("reads the operator's auth Secret only when a node runs with -auth", async () => {
    const { writer, read } = secrets({ "web-tls": { "tls.crt": "cert" } });
    await reachLeader(
      { writer, addressing, pods: () => Promise.resolve([httpsPod("db-0", "web-tls")]) },
      cluster("web-tls"),
    );
    assert.deepEqual(read, ["db-operator-ca", "web-tls"]);
  });
});
