// Decides whether a live child still matches what the operator renders. A steady cluster must
// cause zero writes, so the comparison ignores what the API server adds (defaults, status, extra
// labels of others) and looks only at the fields the operator sets: an unchanged child is never
// applied again.
import type { Json } from "../runtime/writer.js";

function isObject(v: unknown): v is Json {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** True when every field set in `desired` has the same value in `actual`. */
export function isSubset(desired: unknown, actual: unknown): boolean {
  if (isObject(desired)) {
    return isObject(actual) && Object.entries(desired).every(([k, v]) => v === undefined || isSubset(v, actual[k]));
  }
  if (Array.isArray(desired)) {
    return Array.isArray(actual) && desired.length === actual.length && desired.every((v, i) => isSubset(v, actual[i]));
  }
  return desired === actual;
}

function at(obj: unknown, path: string[]): unknown {
  return path.reduce<unknown>((o, k) => (isObject(o) ? o[k] : undefined), obj);
}

/**
 * Keys of maps that must match key for key (paths such as ["spec", "selector"]) which the live
 * object has beyond the desired ones, as the merge patch that removes them (null, as RFC 7396
 * spells deletion), or undefined when there are none. Server-side apply cannot remove them: a
 * key someone else added is theirs, and apply leaves it.
 */
export function extraKeysPatch(desired: Json, actual: Json, exact: string[][]): Json | undefined {
  let patch: Json | undefined;
  for (const path of exact) {
    const want = at(desired, path);
    const have = at(actual, path);
    if (!isObject(want) || !isObject(have)) continue;
    const extra = Object.keys(have).filter((key) => !(key in want));
    if (extra.length === 0) continue;
    patch ??= {};
    let node = patch;
    for (const k of path) node = (node[k] ??= {}) as Json;
    for (const key of extra) node[key] = null;
  }
  return patch;
}
