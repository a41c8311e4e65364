// The support bundle carries no secret: Secrets keep their keys but lose their values, fields
// named like credentials are blanked, and every value read from a Secret is scrubbed from every
// file (plain and base64), wherever else it was copied (an annotation, an env var, a log line).
import type { V1Secret } from "@kubernetes/client-node";

export const REDACTED = "REDACTED";
/**
 * Last words of a name (a field, an env variable, a Secret key) that say its value is a
 * credential: AWS_SECRET_ACCESS_KEY, AWS_ACCESS_KEY_ID, MINIO_SECRET_KEY, DB_PASSWORD,
 * sessionToken, tls.private_key. A name that only names one (accessKeyIdKey, secretName) is not.
 */
const CREDENTIAL_ENDINGS = new Set([
  "password",
  "passwd",
  "pass",
  "token",
  "secret",
  "credential",
  "credentials",
  "privatekey",
  "apikey",
  "secretkey",
  "accesskey",
  "accesskeyid",
  "secretaccesskey",
]);

/** The words of `name`, lower-cased: split at `-`, `_`, `.` and camelCase humps. */
function wordsOf(name: string): string[] {
  return name
    .replace(/([a-z0-9])([A-Z])/g, "$1 $2")
    .split(/[-_.\s]+/)
    .filter(Boolean)
    .map((w) => w.toLowerCase());
}

/** Whether a value under this name is a credential, by convention or because a ref names it so. */
export function isCredentialName(name: string, named: ReadonlySet<string> = new Set()): boolean {
  if (named.has(name)) return true;
  const words = wordsOf(name);
  for (let n = 1; n <= 3 && n <= words.length; n++) if (CREDENTIAL_ENDINGS.has(words.slice(-n).join(""))) return true;
  return false;
}
/** Short values (a "1", "true") would scrub half the bundle and protect nothing. */
const MIN_SCRUBBED_LENGTH = 4;

/** A Secret with every value replaced and kubectl's last-applied copy (which holds them) dropped. */
export function redactSecret(s: V1Secret): V1Secret {
  const blank = (data?: Record<string, string>) =>
    data && Object.fromEntries(Object.keys(data).map((k) => [k, REDACTED]));
  const annotations = { ...s.metadata?.annotations };
  delete annotations["kubectl.kubernetes.io/last-applied-configuration"];
  return {
    ...s,
    metadata: { ...s.metadata, annotations },
    ...(s.data ? { data: blank(s.data) } : {}),
    ...(s.stringData ? { stringData: blank(s.stringData) } : {}),
  };
}

/** Every value a Secret holds, decoded, and each line of it (a PEM, a users.json). */
export function secretValues(secrets: V1Secret[]): string[] {
  const values = new Set<string>();
  for (const s of secrets) {
    const decoded = [
      ...Object.values(s.data ?? {}).map((v) => Buffer.from(v, "base64").toString("utf8")),
      ...Object.values(s.stringData ?? {}),
    ];
    for (const v of decoded) {
      values.add(v);
      for (const line of v.split("\n")) values.add(line.trim());
      // Passwords inside a users.json: scrub them one by one too.
      for (const m of v.matchAll(/"password"\s*:\s*"([^"]*)"/g)) values.add(m[1]!);
    }
  }
  return [...values].filter((v) => v.length >= MIN_SCRUBBED_LENGTH).sort((a, b) => b.length - a.length);
}

/** `text` with each value, and its base64 form, replaced; longest first so parts do not leak. */
export function scrub(text: string, values: string[]): string {
  let out = text;
  for (const v of values) {
    for (const form of [v, Buffer.from(v).toString("base64"), JSON.stringify(v).slice(1, -1)]) {
      if (form.length >= MIN_SCRUBBED_LENGTH) out = out.split(form).join(REDACTED);
    }
  }
  return out;
}

/** kubectl apply's copy of the object as applied: it holds the same values, as a JSON string. */
const LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration";

/**
 * A JSON value with every field named like a credential blanked, the literal value of every env
 * entry ({name, value}) whose name says it holds one, and the same inside kubectl's last-applied
 * copy. `named` adds names that hold credentials because a credentialsSecret ref says so
 * (its accessKeyIdKey and secretAccessKeyKey).
 */
export function redactFields(value: unknown, named: ReadonlySet<string> = new Set()): unknown {
  if (Array.isArray(value)) return value.map((v) => redactFields(v, named));
  if (!value || typeof value !== "object") return value;
  const o = value as Record<string, unknown>;
  const envSecret = typeof o.name === "string" && typeof o.value === "string" && isCredentialName(o.name, named);
  return Object.fromEntries(
    Object.entries(o).map(([k, v]) => {
      if (typeof v !== "string") return [k, redactFields(v, named)];
      if (isCredentialName(k, named) || (envSecret && k === "value")) return [k, REDACTED];
      return [k, k === LAST_APPLIED ? redactJsonText(v, named) : v];
    }),
  );
}

function redactJsonText(text: string, named: ReadonlySet<string>): string {
  try {
    return JSON.stringify(redactFields(JSON.parse(text), named));
  } catch {
    return REDACTED;
  }
}
