// Defaulting, driven by the `default` keywords of the schema so it matches the API server's
// structural defaulting of the CRD, plus the one rule a schema default cannot express.
import type { JsonSchema } from "./json-schema.js";
import { cloneJson, getOwn, isPlainObject, objectAt, setOwn, type JsonObject } from "./json-value.js";
import { compareQuantities, parseQuantity } from "./quantity.js";
import { DEFAULT_REQUESTS, specSchema } from "./schema.js";
import type { DefaultedRqCluster, RqCluster } from "./types.generated.js";

/**
 * Fills schema defaults the way Kubernetes does: a missing (or null, non-nullable) field takes
 * its default, and defaults of nested fields apply inside objects that exist or were just
 * defaulted. Values of the wrong type are left for validation to report.
 */
function fillDefaults(schema: JsonSchema, value: unknown): unknown {
  if ((value === undefined || (value === null && !schema.nullable)) && schema.default !== undefined) {
    value = cloneJson(schema.default);
  }
  if (isPlainObject(value)) {
    const properties = schema.properties ?? {};
    for (const name of Object.keys(properties)) {
      const current = getOwn(value, name);
      const filled = fillDefaults(properties[name]!, current);
      if (filled !== current) setOwn(value, name, filled);
    }
  } else if (Array.isArray(value) && schema.items) {
    const items = schema.items;
    value.forEach((item, i) => ((value as unknown[])[i] = fillDefaults(items, item)));
  }
  return value;
}

/**
 * A request the user left out defaults to DEFAULT_REQUESTS, capped at the limit they set, so
 * defaulting never turns a valid spec (say a 64Mi memory limit) into requests above limits.
 * The schema's default for `resources` covers only a wholly absent block.
 */
function defaultRequests(spec: JsonObject): void {
  const resources = objectAt(spec, "resources");
  if (!resources) return;
  const requests = getOwn(resources, "requests") ?? {};
  if (!isPlainObject(requests)) return;
  const limits = objectAt(resources, "limits") ?? {};
  for (const [name, fallback] of Object.entries(DEFAULT_REQUESTS)) {
    if (getOwn(requests, name) !== undefined) continue;
    const limit = getOwn(limits, name);
    const parsedLimit = parseQuantity(limit);
    const capped = parsedLimit !== undefined && compareQuantities(parsedLimit, parseQuantity(fallback)!) < 0;
    setOwn(requests, name, capped ? limit : fallback);
  }
  setOwn(resources, "requests", requests);
}

/**
 * Returns a defaulted copy of an RqCluster; never mutates its input and never throws.
 * Defaulting a defaulted object changes nothing.
 */
export function applyDefaults(obj: RqCluster): DefaultedRqCluster;
export function applyDefaults<T>(obj: T): T;
export function applyDefaults(obj: unknown): unknown {
  if (!isPlainObject(obj)) return cloneJson(obj);
  const out = cloneJson(obj);
  const spec = fillDefaults(specSchema, getOwn(out, "spec"));
  setOwn(out, "spec", spec);
  if (isPlainObject(spec)) defaultRequests(spec);
  return out;
}
