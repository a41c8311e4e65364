// Decides whether a live child still matches what the operator renders, and builds the JSON
// merge patch that restores it. A steady cluster must cause zero writes, so the comparison
// ignores what the API server adds (defaults, status, extra labels of others) and looks only at
// the fields the operator sets.
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
 * The merge patch that makes `actual` match `desired`, or undefined when it already does.
 * Maps listed in `exact` (paths such as ["spec", "selector"]) must match key for key: keys the
 * live object has beyond the desired ones are removed with null, as RFC 7396 spells deletion.
 */
export function driftPatch(desired: Json, actual: Json, exact: string[][] = []): Json | undefined {
  const mapsMatch = exact.every((path) => {
    const want = at(desired, path);
    const have = at(actual, path);
    return !isObject(want) || (isObject(have) && Object.keys(have).length === Object.keys(want).length);
  });
  if (mapsMatch && isSubset(desired, actual)) return undefined;
  const patch = structuredClone(desired);
  for (const path of exact) {
    const want = at(patch, path);
    const have = at(actual, path);
    if (!isObject(want) || !isObject(have)) continue;
    for (const key of Object.keys(have)) if (!(key in want)) want[key] = null;
  }
  return patch;
}
