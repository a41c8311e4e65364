// `tsx hack/refresh-pod-schema.ts`: captures the Kubernetes Pod schema that pod templates are
// checked against from the test kube-apiserver's /openapi/v3, keeping only what PodSpec and
// ObjectMeta reach, without descriptions (validation never reads them and they are 90% of it).
import { writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { startControlPlane } from "../testenv/controlplane.js";
import { POD_OPENAPI_ROOTS, REF_PREFIX, type PodOpenApi } from "../shared/pod-openapi.js";

const OUT = fileURLToPath(new URL("../shared/data/pod-openapi.json", import.meta.url));

type Schemas = Record<string, unknown>;

function refsIn(schema: unknown): string[] {
  const refs: string[] = [];
  JSON.stringify(schema, (k, v: unknown) => {
    if (k === "$ref" && typeof v === "string") refs.push(v.slice(REF_PREFIX.length));
    return v;
  });
  return refs;
}

/** Drops the `description` keyword, but not a property that happens to be named description. */
function withoutDescriptions(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(withoutDescriptions);
  if (typeof schema !== "object" || schema === null) return schema;
  return Object.fromEntries(
    Object.entries(schema)
      .filter(([k]) => k !== "description")
      .map(([k, v]) => [k, k === "properties" ? mapValues(v as Schemas, withoutDescriptions) : withoutDescriptions(v)]),
  );
}

function mapValues(obj: Schemas, fn: (v: unknown) => unknown): Schemas {
  return Object.fromEntries(Object.entries(obj).map(([k, v]) => [k, fn(v)]));
}

function closure(all: Schemas, roots: readonly string[]): Schemas {
  const out: Schemas = {};
  const queue = [...roots];
  for (let name = queue.pop(); name !== undefined; name = queue.pop()) {
    if (name in out) continue;
    const schema = all[name];
    if (schema === undefined)
      throw new Error(`the apiserver's /openapi/v3/api/v1 has no schema ${name}, which another schema refers to`);
    out[name] = withoutDescriptions(schema);
    queue.push(...refsIn(schema));
  }
  return Object.fromEntries(Object.entries(out).sort(([a], [b]) => a.localeCompare(b)));
}

const cp = await startControlPlane();
try {
  const version = JSON.parse(await cp.kubectlOk(["get", "--raw", "/version"])) as { gitVersion: string };
  const doc = JSON.parse(await cp.kubectlOk(["get", "--raw", "/openapi/v3/api/v1"])) as {
    components: { schemas: Schemas };
  };
  const data: PodOpenApi = {
    source: `kube-apiserver ${version.gitVersion} /openapi/v3/api/v1, descriptions removed; regenerate with tsx hack/refresh-pod-schema.ts`,
    schemas: closure(doc.components.schemas, POD_OPENAPI_ROOTS) as PodOpenApi["schemas"],
  };
  writeFileSync(OUT, `${JSON.stringify(data, null, 1)}\n`);
  console.log(
    `refresh-pod-schema: wrote ${Object.keys(data.schemas).length} schemas from ${version.gitVersion} to ${OUT}`,
  );
} finally {
  await cp.stop();
}
