// Kubernetes resource quantities (k8s.io/apimachinery/pkg/api/resource), compared exactly as
// fractions of bigints so `1Gi` vs `1073741824` or `0.5` vs `500m` never suffer float rounding.

/** The serialization Kubernetes accepts: a signed decimal, then one binary, decimal or exponent suffix. */
export const QUANTITY_PATTERN = "^[+-]?([0-9]+(\\.[0-9]*)?|\\.[0-9]+)(([KMGTPE]i)|[numkMGTPE]|([eE][+-]?[0-9]+))?$";

const QUANTITY_RE = new RegExp(QUANTITY_PATTERN);

/** value = num / den, den > 0. Read-only: parsed values are shared through the cache below. */
export interface Quantity {
  readonly num: bigint;
  readonly den: bigint;
}

const BINARY_EXP: Record<string, number> = { Ki: 10, Mi: 20, Gi: 30, Ti: 40, Pi: 50, Ei: 60 };
const DECIMAL_EXP: Record<string, number> = { n: -9, u: -6, m: -3, "": 0, k: 3, M: 6, G: 9, T: 12, P: 15, E: 18 };

/** Exponents this large cannot come from a sane manifest; refusing them keeps bigint math bounded. */
const MAX_EXPONENT = 1000;

/**
 * Parses are cached by text: the bigint arithmetic dominated validation's CPU, and one request
 * parses the same few quantities many times (each resource list, then each request against its
 * limit). Bounded in entries and in key length, so hostile input cannot make it grow.
 */
const CACHE_ENTRIES = 512;
const CACHE_MAX_TEXT_LENGTH = 40;
const cache = new Map<string, Quantity | undefined>();

/** Parses a quantity given as a string or a JSON number; undefined when it is not one. */
export function parseQuantity(input: unknown): Quantity | undefined {
  let text: string;
  if (typeof input === "number") {
    if (!Number.isFinite(input)) return undefined;
    text = String(input);
  } else if (typeof input === "string") {
    text = input;
  } else {
    return undefined;
  }
  if (text.length > CACHE_MAX_TEXT_LENGTH) return parseText(text);
  const hit = cache.get(text);
  if (hit !== undefined || cache.has(text)) return hit;
  const parsed = parseText(text);
  // Oldest first out: a Map iterates in insertion order.
  if (cache.size >= CACHE_ENTRIES) cache.delete(cache.keys().next().value!);
  cache.set(text, parsed);
  return parsed;
}

function parseText(text: string): Quantity | undefined {
  const m = QUANTITY_RE.exec(text);
  if (!m) return undefined;
  const sign = text.startsWith("-") ? -1n : 1n;
  const [intPart, fracPart = ""] = m[1]!.split(".");
  let num = BigInt((intPart || "0") + fracPart) * sign;
  let den = 10n ** BigInt(fracPart.length);
  const suffix = m[3] ?? "";
  let exp10 = 0;
  if (suffix in BINARY_EXP) {
    num *= 2n ** BigInt(BINARY_EXP[suffix]!);
  } else if (suffix in DECIMAL_EXP) {
    exp10 = DECIMAL_EXP[suffix]!;
  } else {
    exp10 = Number(suffix.slice(1));
    if (Math.abs(exp10) > MAX_EXPONENT) return undefined;
  }
  if (exp10 >= 0) num *= 10n ** BigInt(exp10);
  else den *= 10n ** BigInt(-exp10);
  return Object.freeze({ num, den });
}

export function compareQuantities(a: Quantity, b: Quantity): -1 | 0 | 1 {
  const l = a.num * b.den;
  const r = b.num * a.den;
  return l < r ? -1 : l > r ? 1 : 0;
}

export function isNegative(q: Quantity): boolean {
  return q.num < 0n;
}
