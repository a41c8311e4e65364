import { createHash } from "node:crypto";

/**
 * The local runtime's stand-in for cluster DNS and pod IPs: every Pod gets a stable address in
 * 127.0.0.0/8 derived from its namespace and name, so the controller (with
 * `--addressing=loopback`) can name a peer before its Pod exists and the runner binds that
 * Pod's rqlited to the same address. 127.0.0.x is left alone for the API server and tools.
 */
export function loopbackAddress(namespace: string, pod: string): string {
  const [a, b, c] = createHash("sha256").update(`${namespace}/${pod}`).digest();
  return `127.${1 + (a! % 254)}.${b!}.${1 + (c! % 254)}`;
}
