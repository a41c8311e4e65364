import { strict as assert } from "node:assert";
import { dns1035Label } from "../../../shared/k8s-names.js";
import {
  childNames,
  clientServiceName,
  clusterLabels,
  selectorLabels,
  DNS_LABEL_MAX_LENGTH,
  FINALIZER,
  GROUP,
  headlessServiceName,
  isOperatorOwnedAnnotation,
  isOperatorOwnedLabel,
  KIND,
  MAX_CLUSTER_NAME_LENGTH,
  MAX_READ_REPLICAS,
  MAX_REPLICAS,
  nameClash,
  nodeLabels,
  nodeName,
  PLURAL,
  podDisruptionBudgetName,
  POD_TEMPLATE_LABEL,
  readReplicaName,
  scaleSelector,
  VERSION,
  voterName,
} from "../../../shared/names.js";

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

  it("has the API constants of docs/api.md", () => {
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
    assert.deepEqual(selectorLabels("demo"), {
      "app.kubernetes.io/name": "rqlite",
      "app.kubernetes.io/instance": "demo",
      "app.kubernetes.io/managed-by": "rqlite-operator",
      "rqlite.io/cluster": "demo",
    });
    assert.deepEqual(clusterLabels("demo", "rqlite/rqlite:8.43.4", "shop"), {
      ...selectorLabels("demo"),
      "app.kubernetes.io/component": "database",
      "app.kubernetes.io/part-of": "shop",
      "app.kubernetes.io/version": "8.43.4",
    });
    assert.equal(clusterLabels("demo", "rqlite/rqlite:8.43.4")["app.kubernetes.io/part-of"], "rqlite");
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

  it("knows which annotations a template may not set", () => {
    for (const k of ["rqlite.io/bootstrap-expect", "rqlite.io/spec-hash", "rqlite.io/anything"])
      assert.ok(isOperatorOwnedAnnotation(k), k);
    for (const k of ["prometheus.io/scrape", "app.kubernetes.io/name", "backup.rqlite.io/x", "rqlite.io"])
      assert.ok(!isOperatorOwnedAnnotation(k), k);
  });

  // The webhook refuses the names nameClash reports, without looking at other clusters. That is
  // only sound if every other pair of names derives disjoint children: check it over every name
  // built from the pieces derived names are made of, so a new child name cannot slip past.
  it("reports every pair of cluster names whose children clash, and only those", () => {
    const pieces = ["a", "b", "ro", "internal", "operator", "auth", "ca", "0", "1", "31"];
    let names = pieces.filter((p) => dns1035Label(p).length === 0);
    for (let depth = 1; depth < 3; depth++) names = [...names, ...names.flatMap((n) => pieces.map((p) => `${n}-${p}`))];
    names = [...new Set(names)].filter((n) => dns1035Label(n).length === 0);
    const owner = new Map<string, string>();
    let allowed = 0;
    for (const name of names) {
      const clash = nameClash(name);
      if (clash) {
        // Each refused name really clashes with the cluster the message names.
        const ours = childNames(name);
        const theirs = childNames(clash.other);
        const shared = Object.entries(ours).flatMap(([kind, list]) =>
          list.filter((n) => theirs[kind as keyof typeof theirs].includes(n)),
        );
        assert.ok(shared.length > 0, `${name} is refused but shares no child with ${clash.other}`);
        continue;
      }
      allowed++;
      for (const [kind, list] of Object.entries(childNames(name))) {
        for (const child of list) {
          const key = `${kind}/${child}`;
          const first = owner.get(key);
          assert.ok(first === undefined || first === name, `clusters ${first} and ${name} both own ${key}`);
          owner.set(key, name);
        }
      }
    }
    assert.ok(allowed > 300, `${allowed} names checked`);
    assert.deepEqual(nameClash("x-ro"), {
      suffix: "-ro",
      other: "x",
      ours: "voter Pods and PVCs (x-ro-0, x-ro-1, ...) and client Service (x-ro)",
      theirs: "read replicas' Pods and PVCs and read Service",
    });
    assert.equal(nameClash("x-internal")?.other, "x");
    for (const name of ["x", "ro", "internal", "x-ro-0", "x-robot", "x-internal-0"])
      assert.equal(nameClash(name), undefined, name);
  });
});
