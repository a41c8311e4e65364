import { strict as assert } from "node:assert";
import {
  clientServiceName,
  clusterLabels,
  DNS_LABEL_MAX_LENGTH,
  FINALIZER,
  GROUP,
  headlessServiceName,
  isOperatorOwnedLabel,
  KIND,
  MAX_CLUSTER_NAME_LENGTH,
  MAX_READ_REPLICAS,
  MAX_REPLICAS,
  nodeLabels,
  nodeName,
  PLURAL,
  podDisruptionBudgetName,
  POD_TEMPLATE_LABEL,
  readReplicaName,
  scaleSelector,
  VERSION,
  voterName,
} from "../../shared/names.js";

describe("names and labels", () => {
  it("derives child names from the cluster name", () => {
    assert.equal(voterName("demo", 0), "demo-0");
    assert.equal(readReplicaName("demo", 3), "demo-ro-3");
    assert.equal(nodeName("demo", "voter", 2), "demo-2");
    assert.equal(nodeName("demo", "read-only", 2), "demo-ro-2");
    assert.equal(headlessServiceName("demo"), "demo-internal");
    assert.equal(clientServiceName("demo"), "demo");
    assert.equal(podDisruptionBudgetName("demo"), "demo");
  });

  it("has the API constants of API.md", () => {
    assert.deepEqual([GROUP, VERSION, KIND, PLURAL], ["rqlite.io", "v1alpha1", "RqCluster", "rqclusters"]);
    assert.equal(POD_TEMPLATE_LABEL, "rqlite.io/pod-template");
    assert.equal(FINALIZER, "rqlite.io/finalizer");
  });

  it("caps cluster names so the longest derived name is a DNS label", () => {
    assert.equal(MAX_CLUSTER_NAME_LENGTH, 54);
    const longest = "a".repeat(MAX_CLUSTER_NAME_LENGTH);
    for (const n of [
      voterName(longest, MAX_REPLICAS - 1),
      readReplicaName(longest, MAX_READ_REPLICAS - 1),
      headlessServiceName(longest),
    ]) {
      assert.ok(n.length <= DNS_LABEL_MAX_LENGTH, n);
    }
    assert.equal(headlessServiceName(longest).length, DNS_LABEL_MAX_LENGTH);
  });

  it("labels children with the recommended and the operator's own labels", () => {
    assert.deepEqual(clusterLabels("demo"), {
      "app.kubernetes.io/name": "rqlite",
      "app.kubernetes.io/instance": "demo",
      "app.kubernetes.io/managed-by": "rqlite-operator",
      "rqlite.io/cluster": "demo",
    });
    assert.equal(nodeLabels("demo", "read-only")["rqlite.io/role"], "read-only");
    assert.equal(
      scaleSelector("demo"),
      "app.kubernetes.io/name=rqlite,app.kubernetes.io/instance=demo,app.kubernetes.io/managed-by=rqlite-operator,rqlite.io/cluster=demo,rqlite.io/role=voter",
    );
  });

  it("knows which labels a template may not set", () => {
    for (const k of [
      "rqlite.io/role",
      "rqlite.io/anything",
      "app.kubernetes.io/instance",
      "app.kubernetes.io/name",
      "app.kubernetes.io/managed-by",
    ]) {
      assert.ok(isOperatorOwnedLabel(k), k);
    }
    for (const k of ["app.kubernetes.io/version", "team", "example.com/rqlite.io"])
      assert.ok(!isOperatorOwnedLabel(k), k);
  });
});
