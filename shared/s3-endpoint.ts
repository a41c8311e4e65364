// Where the operator may send S3 requests on a tenant's behalf, and whose AWS identity it may
// lend. A tenant names the endpoint, so without these rules it is a server-side request forgery:
// the cloud's metadata service (169.254.169.254), the API server, loopback listeners beside the
// operator. The same rules run at admission (on the URL as written) and in the controller (again
// on the URL, then on every address its name resolves to, just before connecting).
import { isIP } from "node:net";
import type { FieldError } from "./field-errors.js";
import { getOwn, objectAt, type JsonObject } from "./json-value.js";

/** What an administrator allows beyond the defaults: `--s3-endpoint-allow`. */
export interface EndpointAllowList {
  /** Address ranges, e.g. 10.20.0.0/16 or 127.0.0.1/32. */
  cidrs: Cidr[];
  /** Host names: `minio.storage.svc` exactly, or `*.s3.internal` for any name below it. */
  hosts: string[];
}

interface Cidr {
  bytes: number[];
  bits: number;
  text: string;
}

export interface S3Policy {
  allow: EndpointAllowList;
  /**
   * The API server as the operator sees it (the `kubernetes` Service's address, the
   * kubeconfig's server): refused as endpoints even inside an allowed range, unless allowed by
   * exactly that address or name.
   */
  apiServer: { addresses: string[]; hosts: string[] };
  /** Namespaces whose objects may omit credentialsSecret and use the operator's own AWS identity; "*": all. */
  ambientCredentialsNamespaces: readonly string[];
}

/** Nothing allowed beyond public endpoints, no ambient credentials: the default. */
export const STRICT_S3_POLICY: S3Policy = {
  allow: { cidrs: [], hosts: [] },
  apiServer: { addresses: [], hosts: [] },
  ambientCredentialsNamespaces: [],
};

export const S3_ENDPOINT_ALLOW_FLAG = "--s3-endpoint-allow";
export const AMBIENT_CREDENTIALS_FLAG = "--ambient-credentials-namespaces";

/** 4 or 16 bytes; an IPv4-mapped IPv6 address (::ffff:a.b.c.d) becomes the IPv4 address it is. */
export function ipBytes(text: string): number[] | undefined {
  const version = isIP(text);
  if (version === 4) return text.split(".").map(Number);
  if (version !== 6) return undefined;
  let t = text;
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(t);
  const tail: number[] = [];
  if (dotted) {
    tail.push(...dotted[1]!.split(".").map(Number));
    t = t.slice(0, -dotted[1]!.length) + "0:0";
  }
  const [head, rest] = t.split("::") as [string, string | undefined];
  const groups = (s: string) => (s === "" ? [] : s.split(":").map((g) => parseInt(g, 16)));
  const left = groups(head);
  const right = rest === undefined ? [] : groups(rest);
  const all = [...left, ...Array<number>(8 - left.length - right.length).fill(0), ...right];
  const bytes = all.flatMap((g) => [g >> 8, g & 0xff]);
  if (tail.length) bytes.splice(12, 4, ...tail);
  const mapped = bytes.slice(0, 10).every((b) => b === 0) && bytes[10] === 0xff && bytes[11] === 0xff;
  return mapped ? bytes.slice(12) : bytes;
}

function inCidr(bytes: number[], cidr: Cidr): boolean {
  if (bytes.length !== cidr.bytes.length) return false;
  for (let bit = 0; bit < cidr.bits; bit++) {
    const mask = 0x80 >> (bit % 8);
    if ((bytes[bit >> 3]! & mask) !== (cidr.bytes[bit >> 3]! & mask)) return false;
  }
  return true;
}

function cidr(text: string): Cidr | undefined {
  const [addr = "", bitsText, extra] = text.split("/");
  const bytes = ipBytes(addr);
  if (!bytes || extra !== undefined || (bitsText !== undefined && !/^\d+$/.test(bitsText))) return undefined;
  // An IPv4-mapped range, e.g. ::ffff:10.0.0.0/104, is the IPv4 range it maps.
  const mappedBits = isIP(addr) === 6 && bytes.length === 4 ? 96 : 0;
  const bits = bitsText === undefined ? bytes.length * 8 : Number(bitsText) - mappedBits;
  return bits >= 0 && bits <= bytes.length * 8 ? { bytes, bits, text } : undefined;
}

const HOST_PATTERN = /^(\*\.)?([a-z0-9]([-a-z0-9]*[a-z0-9])?)(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** Parses `--s3-endpoint-allow`: comma-separated CIDRs and host names (`*.` for any name below). */
export function parseEndpointAllow(text: string): EndpointAllowList {
  const list: EndpointAllowList = { cidrs: [], hosts: [] };
  for (const raw of text.split(",")) {
    const entry = raw.trim().toLowerCase();
    if (entry === "") continue;
    const host = entry.replace(/\.$/, "");
    const looksNumeric = entry.includes("/") || entry.includes(":") || /^[\d.]+$/.test(entry);
    const range = looksNumeric ? cidr(entry) : undefined;
    if (range) list.cidrs.push(range);
    else if (looksNumeric || !HOST_PATTERN.test(host))
      throw new Error(
        `${S3_ENDPOINT_ALLOW_FLAG}: ${JSON.stringify(raw.trim())} is neither a CIDR (10.0.0.0/8, 127.0.0.1/32, fd00::/8) nor a host name (minio.storage.svc, *.s3.internal)`,
      );
    else list.hosts.push(host);
  }
  return list;
}

/** Parses `--ambient-credentials-namespaces`: comma-separated namespaces, or `*` for all. */
export function parseNamespaceList(text: string): string[] {
  const names = text
    .split(",")
    .map((n) => n.trim())
    .filter((n) => n !== "");
  for (const n of names)
    if (n !== "*" && !/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(n))
      throw new Error(`${AMBIENT_CREDENTIALS_FLAG}: ${JSON.stringify(n)} is not a namespace name (or * for all)`);
  return names;
}

/** The API server's own addresses and names as the process sees them (from its environment, its kubeconfig). */
export function apiServerOf(hosts: (string | undefined)[]): S3Policy["apiServer"] {
  const out: S3Policy["apiServer"] = { addresses: [], hosts: [] };
  for (const h of hosts) {
    if (!h) continue;
    const bare = h.replace(/^\[|\]$/g, "").toLowerCase();
    if (isIP(bare)) out.addresses.push(bare);
    else out.hosts.push(bare.replace(/\.$/, ""));
  }
  return out;
}

const hostMatches = (host: string, pattern: string) =>
  pattern.startsWith("*.") ? host.endsWith(pattern.slice(1)) : host === pattern;

/** Address ranges no tenant's endpoint may reach unless allowed, with what they are. */
const REFUSED_RANGES: { range: Cidr; what: string }[] = [
  ["0.0.0.0/8", "an unspecified"],
  ["127.0.0.0/8", "a loopback"],
  ["169.254.169.254/32", "the cloud metadata service's"],
  ["169.254.0.0/16", "a link-local"],
  ["100.100.100.200/32", "the cloud metadata service's"],
  ["168.63.129.16/32", "the cloud metadata service's"],
  ["::/128", "an unspecified"],
  ["::1/128", "a loopback"],
  ["fd00:ec2::254/128", "the cloud metadata service's"],
  ["fe80::/10", "a link-local"],
  // IPv4-compatible IPv6 (deprecated), which some stacks still route as the IPv4 address.
  ["::/96", "an IPv4-compatible IPv6"],
].map(([text, what]) => ({ range: cidr(text!)!, what: what! }));

/** Names that mean loopback or a metadata service without asking DNS. */
const REFUSED_NAMES: { pattern: string; what: string }[] = [
  { pattern: "localhost", what: "a loopback" },
  { pattern: "*.localhost", what: "a loopback" },
  { pattern: "metadata", what: "the cloud metadata service's" },
  { pattern: "metadata.google.internal", what: "the cloud metadata service's" },
  { pattern: "instance-data", what: "the cloud metadata service's" },
  { pattern: "instance-data.ec2.internal", what: "the cloud metadata service's" },
];

/** The `kubernetes` Service in every cluster, also as kubernetes.default.svc.<cluster domain>. */
const API_SERVER_NAMES = ["kubernetes", "kubernetes.default", "kubernetes.default.svc"];

const REMEDY = `; an administrator may allow a private S3 with the operator's ${S3_ENDPOINT_ALLOW_FLAG} setting`;

/**
 * Why the operator may not connect to this resolved address, or undefined. `address` is what
 * DNS answered (or the URL's literal address).
 */
export function addressRefusal(address: string, policy: S3Policy): string | undefined {
  const bytes = ipBytes(address.replace(/^\[|\]$/g, ""));
  if (!bytes) return `${address} is not an IP address`;
  const exactly = (c: Cidr) => c.bits === c.bytes.length * 8;
  const isApiServer = policy.apiServer.addresses.some((a) => String(ipBytes(a)) === String(bytes));
  if (isApiServer)
    return policy.allow.cidrs.some((c) => exactly(c) && inCidr(bytes, c))
      ? undefined
      : `points at ${address}, the API server${REMEDY} (by exactly that address)`;
  if (policy.allow.cidrs.some((c) => inCidr(bytes, c))) return undefined;
  const refused = REFUSED_RANGES.find((r) => inCidr(bytes, r.range));
  return refused ? `points at ${address}, ${refused.what} address${REMEDY}` : undefined;
}

/** Why the operator may not use a host name at all (before DNS), or undefined. */
function hostRefusal(host: string, policy: S3Policy): string | undefined {
  const name = host.toLowerCase().replace(/\.$/, "");
  const apiServer =
    API_SERVER_NAMES.includes(name) ||
    name.startsWith("kubernetes.default.svc.") ||
    policy.apiServer.hosts.includes(name);
  if (apiServer)
    return policy.allow.hosts.includes(name)
      ? undefined
      : `points at ${host}, the API server${REMEDY} (by exactly that name)`;
  if (policy.allow.hosts.some((p) => hostMatches(name, p))) return undefined;
  const refused = REFUSED_NAMES.find((r) => hostMatches(name, r.pattern));
  return refused ? `points at ${host}, ${refused.what} address${REMEDY}` : undefined;
}

/** The endpoint as it may be shown in status, events and logs: without user name or password. */
export function displayEndpoint(endpoint: string): string {
  try {
    const url = new URL(endpoint);
    url.username = "";
    url.password = "";
    return url.href.replace(/\/$/, "");
  } catch {
    // Not a URL: drop everything up to an @ anyway, in case it held credentials.
    return endpoint.replace(/^[^@]*@/, "");
  }
}

/**
 * Why an endpoint may not be used as written, or undefined. A name that passes may still
 * resolve to a refused address: the controller checks again when it connects.
 */
export function endpointRefusal(endpoint: string, policy: S3Policy): string | undefined {
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    return "must be an absolute URL such as https://s3.example.com";
  }
  if (url.protocol !== "http:" && url.protocol !== "https:")
    return `must use http or https, not ${url.protocol.slice(0, -1)}`;
  if (url.username || url.password)
    return "may not contain a user name or password (they would show in status, events and logs); put the keys in credentialsSecret";
  // WHATWG URLs already turn 2130706433, 0x7f.1 and 0177.0.0.1 into 127.0.0.1, as the
  // resolvers that accept them would.
  const host = url.hostname;
  const literal = host.replace(/^\[|\]$/g, "");
  return isIP(literal) ? addressRefusal(literal, policy) : hostRefusal(host, policy);
}

/** Why an object in `namespace` without credentialsSecret may not use the operator's own AWS identity. */
export function ambientCredentialsRefusal(namespace: string | undefined, policy: S3Policy): string | undefined {
  const allowed = policy.ambientCredentialsNamespaces;
  if (allowed.includes("*") || (namespace !== undefined && allowed.includes(namespace))) return undefined;
  return `is required: without it the operator would sign with its own AWS identity, which namespace ${JSON.stringify(namespace ?? "")} may not use; create a Secret with the keys and name it here, or ask an administrator to allow the namespace with ${AMBIENT_CREDENTIALS_FLAG}`;
}

/**
 * The endpoint and credentials rules for one S3 connection in a spec (RqCluster spec.backup.s3,
 * spec.restore.s3, RqBackup spec.destination.s3), as field errors at `base`.
 */
export function s3ConnectionErrors(
  s3: JsonObject | undefined,
  base: string,
  namespace: string | undefined,
  policy: S3Policy,
): FieldError[] {
  if (!s3) return [];
  const errors: FieldError[] = [];
  const endpoint = getOwn(s3, "endpoint");
  if (typeof endpoint === "string") {
    const refusal = endpointRefusal(endpoint, policy);
    if (refusal)
      errors.push({ field: `${base}.endpoint`, type: "Invalid", value: displayEndpoint(endpoint), message: refusal });
  }
  if (objectAt(s3, "credentialsSecret") === undefined) {
    const refusal = ambientCredentialsRefusal(namespace, policy);
    if (refusal) errors.push({ field: `${base}.credentialsSecret`, type: "Required", message: refusal });
  }
  return errors;
}
