// Bind addresses as controller-runtime spells them (--metrics-bind-address and friends), shared
// by the controller's and the webhook's flags so both read them alike.

/** `host:port`, `:port` or `[::1]:port`; an empty host means all interfaces. Throws on anything else. */
export function parseBindAddress(address: string, what: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(address);
  const port = Number(m?.[3]);
  if (!m || !Number.isInteger(port) || port > 65535) {
    throw new Error(`${what}: ${JSON.stringify(address)} is not host:port, :port or "0"`);
  }
  return { host: m[1] ?? m[2] ?? "", port };
}
