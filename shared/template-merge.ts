// The pod template is an RFC 7396 merge patch, except that lists whose items all carry a `name`
// (containers, volumes, env, volumeMounts, ...) merge item by item on that name, as the API
// documents: plain RFC 7396 would replace such a list whole and silently drop the generated
// rqlite container the moment a user adds a sidecar.
import { cloneJson, isPlainObject, setOwn, type JsonObject } from "./json-value.js";

function isNamedList(v: unknown): v is JsonObject[] {
  return Array.isArray(v) && v.length > 0 && v.every((item) => isPlainObject(item) && typeof item.name === "string");
}

function mergeNamedList(base: JsonObject[], patch: JsonObject[]): JsonObject[] {
  const out = base.map(cloneJson);
  for (const item of patch) {
    const at = out.findIndex((b) => b.name === item.name);
    if (at >= 0) out[at] = mergeTemplate(out[at], item) as JsonObject;
    else out.push(cloneJson(item));
  }
  return out;
}

export function mergeTemplate(base: unknown, patch: unknown): unknown {
  if (!isPlainObject(patch)) return cloneJson(patch);
  const out: JsonObject = isPlainObject(base) ? cloneJson(base) : {};
  for (const [key, value] of Object.entries(patch)) {
    const current = out[key];
    if (value === null) delete out[key];
    else if (isNamedList(value) && isNamedList(current)) setOwn(out, key, mergeNamedList(current, value));
    else setOwn(out, key, mergeTemplate(current, value));
  }
  return out;
}
