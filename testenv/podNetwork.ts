// The test control plane's pod network. kube-apiserver refuses to proxy to a Pod whose IP is not
// global unicast (pods/proxy answers 400 "address not allowed" for loopback), so Pods that the
// local runtime runs on 127.x.y.z cannot be reached through `.../pods/P:4001/proxy/` as they are
// in a cluster. With the pod network on, each Pod reports the IP 10.x.y.z of its loopback address
// 127.x.y.z, and kube-apiserver's egress selector sends its "cluster" traffic (pod proxy,
// webhooks) through an HTTP CONNECT proxy on a Unix socket, which maps 10.x.y.z back to
// 127.x.y.z: the way konnectivity carries an API server's traffic into a cluster. Nothing dials
// a non-loopback address: the proxy refuses every destination it cannot map to loopback.
import { writeFile } from "node:fs/promises";
import { connect, createServer, isIPv4, type Server, type Socket } from "node:net";
import { join } from "node:path";

const POD_NET_FIRST_OCTET = "10";

/** The Pod IP the runtime reports for a Pod bound to `loopback` (127.x.y.z -> 10.x.y.z). */
export function podNetworkIP(loopback: string): string {
  const [first, ...rest] = loopback.split(".");
  if (first !== "127" || !isIPv4(loopback)) throw new Error(`${loopback} is not a 127.0.0.0/8 address`);
  return [POD_NET_FIRST_OCTET, ...rest].join(".");
}

/** Where a CONNECT to `host` goes: its loopback address, or undefined when it is not allowed. */
export function loopbackTarget(host: string): string | undefined {
  if (host === "localhost" || host === "::1" || host === "[::1]") return host.replace(/^\[|\]$/g, "");
  if (!isIPv4(host)) return undefined;
  const [first, ...rest] = host.split(".");
  if (first === "127") return host;
  if (first === POD_NET_FIRST_OCTET) return ["127", ...rest].join(".");
  return undefined;
}

export interface PodNetwork {
  /** kube-apiserver flag that routes its cluster traffic through the proxy. */
  apiServerArg: string;
  stop(): Promise<void>;
}

/** Starts the CONNECT proxy on `dir`/egress.sock and writes the egress selector configuration. */
export async function startPodNetwork(dir: string): Promise<PodNetwork> {
  const socketPath = join(dir, "egress.sock");
  const configPath = join(dir, "egress-selector.yaml");
  const open = new Set<Socket>();
  const server = createServer((client) => {
    open.add(client);
    client.on("close", () => open.delete(client));
    serveConnect(client, loopbackTarget);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(socketPath, () => resolve());
  });
  await writeFile(
    configPath,
    [
      "apiVersion: apiserver.k8s.io/v1beta1",
      "kind: EgressSelectorConfiguration",
      "egressSelections:",
      "  - name: cluster",
      "    connection:",
      "      proxyProtocol: HTTPConnect",
      "      transport:",
      "        uds:",
      `          udsName: ${socketPath}`,
      "",
    ].join("\n"),
  );
  return {
    apiServerArg: `--egress-selector-config-file=${configPath}`,
    // Tunnels live as long as kube-apiserver keeps them: end them, or close() would wait for them.
    stop: () => {
      const closed = close(server);
      for (const s of open) s.destroy();
      return closed;
    },
  };
}

/**
 * Reads one `CONNECT host:port HTTP/1.1` request, then joins the client to `target(host)`, or
 * refuses it when that is undefined.
 */
export function serveConnect(client: Socket, target: (host: string) => string | undefined): void {
  let head = Buffer.alloc(0);
  client.on("error", () => client.destroy());
  const onData = (chunk: Buffer) => {
    head = Buffer.concat([head, chunk]);
    const end = head.indexOf("\r\n\r\n");
    if (end < 0) {
      if (head.length > 16_384) client.destroy();
      return;
    }
    client.off("data", onData);
    const [method, authority] = head.subarray(0, end).toString("latin1").split("\r\n")[0]!.split(" ");
    const rest = head.subarray(end + 4);
    const colon = authority?.lastIndexOf(":") ?? -1;
    const host = authority?.slice(0, colon) ?? "";
    const port = Number(authority?.slice(colon + 1));
    const to = target(host);
    if (method !== "CONNECT" || !to || !(port > 0 && port < 65536)) {
      client.end(`HTTP/1.1 403 Forbidden\r\n\r\n${host} is outside the test's network\r\n`);
      return;
    }
    let connected = false;
    const upstream = connect(port, to, () => {
      connected = true;
      client.write("HTTP/1.1 200 Connection established\r\n\r\n");
      if (rest.length) upstream.write(rest);
      upstream.pipe(client);
      client.pipe(upstream);
    });
    upstream.on("error", (err) => {
      if (!connected) client.end(`HTTP/1.1 502 Bad Gateway\r\n\r\n${err.message}\r\n`);
      else client.destroy();
    });
    client.on("close", () => upstream.destroy());
    upstream.on("close", () => client.destroy());
  };
  client.on("data", onData);
}

function close(server: Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}
