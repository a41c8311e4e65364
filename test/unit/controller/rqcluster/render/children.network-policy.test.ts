// The per-cluster NetworkPolicy, checked by what it admits (support/networkPolicy.ts evaluates
// the API's rules): the attacks it exists for, and the traffic rqlite and the operator need.
import { strict as assert } from "node:assert";
import { clusterView } from "../../../../../controller/rqcluster/render/cluster.js";
import { renderNetworkPolicy } from "../../../../../controller/rqcluster/render/children.js";
import type { RqClusterSpec } from "../../../../../shared/index.js";
import { HTTP_PORT, nodeLabels, RAFT_PORT, selectorLabels } from "../../../../../shared/names.js";
import { admits, type Source } from "../../../support/networkPolicy.js";

const OPERATOR_NS = "rqlite-operator-system";
const policyOf = (spec: Partial<RqClusterSpec> = {}) =>
  renderNetworkPolicy(
    clusterView({
      apiVersion: "rqlite.io/v1alpha1",
      kind: "RqCluster",
      metadata: { name: "db", namespace: "tenant-a", uid: "u" },
      spec: { replicas: 3, ...spec },
    }),
    OPERATOR_NS,
  );
const ns = (name: string, labels: Record<string, string> = {}) => ({
  namespace: name,
  namespaceLabels: { "kubernetes.io/metadata.name": name, ...labels },
});
const peerNode: Source = { ...ns("tenant-a"), podLabels: nodeLabels("db", "voter") };
const appInNamespace: Source = { ...ns("tenant-a"), podLabels: { app: "web" } };
const otherTenant: Source = { ...ns("tenant-b"), podLabels: { app: "web" } };
const otherCluster: Source = { ...ns("tenant-a"), podLabels: nodeLabels("db2", "voter") };
const operator: Source = { ...ns(OPERATOR_NS), podLabels: { "app.kubernetes.io/name": "rqlite-operator" } };

describe("the cluster's NetworkPolicy", () => {
  it("admits Raft only from the cluster's own Pods", () => {
    const p = policyOf()!;
    assert.equal(admits(p, peerNode, RAFT_PORT), true);
    for (const from of [appInNamespace, otherTenant, otherCluster, operator])
      assert.equal(admits(p, from, RAFT_PORT), false, JSON.stringify(from));
  });

  it("admits the HTTP API from the cluster, the operator and, by default, the cluster's namespace only", () => {
    const p = policyOf()!;
    for (const from of [peerNode, operator, appInNamespace, otherCluster])
      assert.equal(admits(p, from, HTTP_PORT), true);
    assert.equal(admits(p, otherTenant, HTTP_PORT), false, "a Pod in another namespace");
    assert.equal(admits(p, peerNode, 22), false, "no other port");
    assert.deepEqual(p.spec!.podSelector, { matchLabels: selectorLabels("db") });
    assert.deepEqual(p.spec!.policyTypes, ["Ingress"], "egress stays open: joins, DNS, backups");
  });

  it("admits the HTTP API from the clients spec.network.clientSelector names instead", () => {
    const frontends = {
      namespaceSelector: { matchLabels: { team: "frontend" } },
      podSelector: { matchLabels: { app: "web" } },
    };
    const p = policyOf({ network: { clientSelector: frontends } })!;
    assert.equal(admits(p, { ...ns("web", { team: "frontend" }), podLabels: { app: "web" } }, HTTP_PORT), true);
    assert.equal(admits(p, { ...ns("web", { team: "frontend" }), podLabels: { app: "batch" } }, HTTP_PORT), false);
    assert.equal(admits(p, appInNamespace, HTTP_PORT), false, "the default gives way to the selector");
    assert.equal(admits(p, operator, HTTP_PORT), true, "the operator always");
    const backupJob = { ...ns("tenant-a"), podLabels: { "rqlite.io/backup-of": "db" } };
    assert.equal(admits(p, backupJob, HTTP_PORT), true, "a backup Job of this cluster");
    assert.equal(admits(p, backupJob, RAFT_PORT), false, "a backup Job never speaks Raft");
    const elsewhere = { ...ns("tenant-b"), podLabels: { "rqlite.io/backup-of": "db" } };
    assert.equal(admits(p, elsewhere, HTTP_PORT), false, "a backup Job's label counts in the cluster's namespace only");
    const sameNs = policyOf({ network: { clientSelector: { podSelector: { matchLabels: { app: "web" } } } } })!;
    assert.equal(admits(sameNs, appInNamespace, HTTP_PORT), true);
    assert.equal(admits(sameNs, otherTenant, HTTP_PORT), false, "a pod selector alone stays in the namespace");
  });

  it("is not rendered when network.policy is false", () => {
    assert.equal(policyOf({ network: { policy: false } }), undefined);
  });
});
