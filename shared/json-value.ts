// Helpers for values decoded from JSON that nothing has vouched for yet.

export type JsonObject = Record<string, unknown>;

export function isPlainObject(v: unknown): v is JsonObject {
  if (typeof v !== "object" || v === null || Array.isArray(v)) return false;
  const proto: unknown = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

/**
 * Sets an own property even for the key `__proto__`, which JSON.parse can produce and which
 * plain assignment would turn into a prototype change. Every other key is assigned plainly:
 * defineProperty on each key turns objects into slow dictionaries, which cost defaulting most
 * of its CPU, and no other key reaches a setter on Object.prototype.
 */
export function setOwn(target: JsonObject, key: string, value: unknown): void {
  if (key === "__proto__")
    Object.defineProperty(target, key, { value, writable: true, enumerable: true, configurable: true });
  else target[key] = value;
}

/** Own property lookup that never reaches Object.prototype (`constructor`, `toString`, ...). */
export function getOwn(source: JsonObject, key: string): unknown {
  return Object.hasOwn(source, key) ? source[key] : undefined;
}

/** Deep copy of plain objects and arrays; anything else is shared, as JSON has no other mutable values. */
export function cloneJson<T>(value: T): T {
  if (Array.isArray(value)) return value.map(cloneJson) as T;
  if (!isPlainObject(value)) return value;
  const out: JsonObject = {};
  // Keys and a lookup rather than Object.entries: no [key, value] array per field on every admission.
  for (const k of Object.keys(value)) setOwn(out, k, cloneJson(value[k]));
  return out as T;
}

/** The object at `path` below `root`, or undefined when any step is missing or not an object. */
export function objectAt(root: unknown, ...path: string[]): JsonObject | undefined {
  let cur: unknown = root;
  for (const k of path) {
    if (!isPlainObject(cur)) return undefined;
    cur = getOwn(cur, k);
  }
  return isPlainObject(cur) ? cur : undefined;
}
