import { strict as assert } from "node:assert";
import { buildCrd } from "../../../shared/crd.js";
import type { JsonSchema } from "../../../shared/json-schema.js";
import { specSchema } from "../../../shared/schema.js";

type Node = JsonSchema & Record<string, unknown>;

/** Every schema node with its path, walking the keywords a structural schema nests through. */
function nodes(schema: Node, path = ""): [string, Node][] {
  const out: [string, Node][] = [[path || "<root>", schema]];
  for (const [k, v] of Object.entries(schema.properties ?? {})) out.push(...nodes(v as Node, `${path}.${k}`));
  if (schema.items) out.push(...nodes(schema.items as Node, `${path}[]`));
  if (schema.additionalProperties) out.push(...nodes(schema.additionalProperties as Node, `${path}{}`));
  return out;
}

interface CrdVersion {
  name: string;
  subresources: unknown;
  additionalPrinterColumns: { name: string }[];
  schema: { openAPIV3Schema: Node };
}
const crd = buildCrd() as {
  metadata: { name: string };
  spec: { names: unknown; scope: string; versions: CrdVersion[] };
};
const version = crd.spec.versions[0]!;
const root = version.schema.openAPIV3Schema;

describe("CRD", () => {
  it("names the resource as docs/api.md does", () => {
    assert.equal(crd.metadata.name, "rqclusters.rqlite.io");
    assert.deepEqual(crd.spec.names, {
      kind: "RqCluster",
      listKind: "RqClusterList",
      plural: "rqclusters",
      singular: "rqcluster",
      shortNames: ["rqc"],
      categories: ["rqlite"],
    });
    assert.equal(crd.spec.scope, "Namespaced");
    assert.equal(version.name, "v1alpha1");
  });

  it("has the status and scale subresources and the printer columns", () => {
    assert.deepEqual(version.subresources, {
      status: {},
      scale: {
        specReplicasPath: ".spec.replicas",
        statusReplicasPath: ".status.replicas",
        labelSelectorPath: ".status.selector",
      },
    });
    assert.deepEqual(
      version.additionalPrinterColumns.map((c) => c.name),
      ["Replicas", "Ready", "Leader", "Version", "Phase", "Age"],
    );
  });

  it("is structural: every node typed or int-or-string or preserving, no $ref, no title", () => {
    for (const [path, node] of nodes(root)) {
      assert.ok(node.type || node["x-kubernetes-int-or-string"], `${path} has no type`);
      const text = JSON.stringify(node);
      assert.ok(!text.includes('"$ref"') && !text.includes('"title"'), `${path} carries $ref or title`);
      if (node.type === "object" && !node.properties && !node.additionalProperties && path !== ".metadata") {
        assert.ok(
          node["x-kubernetes-preserve-unknown-fields"],
          `${path} is a free-form object without x-kubernetes-preserve-unknown-fields`,
        );
      }
      if (node.properties && node.additionalProperties)
        assert.fail(`${path} has both properties and additionalProperties`);
    }
  });

  it("spells quantities as int-or-string and keeps free-form parts open", () => {
    const at = (p: string) => nodes(root).find(([path]) => path === p)?.[1];
    assert.equal(at(".spec.storage.size")?.["x-kubernetes-int-or-string"], true);
    assert.equal(at(".spec.resources.limits{}")?.["x-kubernetes-int-or-string"], true);
    assert.equal(at(".spec.podTemplate")?.["x-kubernetes-preserve-unknown-fields"], true);
    assert.equal(at(".spec.env[].valueFrom")?.["x-kubernetes-preserve-unknown-fields"], true);
    assert.deepEqual(at(".status.conditions[]")?.required, [
      "type",
      "status",
      "lastTransitionTime",
      "reason",
      "message",
    ]);
  });

  it("carries the same defaults as applyDefaults, from the one schema", () => {
    assert.deepEqual(
      root.properties!.spec,
      JSON.parse(JSON.stringify(specSchema, (k, v: unknown) => (k === "title" ? undefined : v))),
    );
  });
});
