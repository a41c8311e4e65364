// The test process's way into a real cluster's Pods (realCluster.ts): the Pods' addresses exist
// only inside the nodes' network namespaces, so each Pod of a namespace gets a listener on the
// loopback address the local runtime would give it (shared/loopback-address.ts), which tunnels
// every connection through the hub's CONNECT proxy to the Pod's current IP. The tools written for
// the local runtime (the invariant monitor, the acknowledged-rows writer, NodeAccess) then reach
// real Pods unchanged, and a Pod that is recreated with a new IP is followed.
import { connect, createServer, type Server, type Socket } from "node:net";
import type { V1PodList } from "@kubernetes/client-node";
import type { KubeClient } from "../controller/runtime/kubeClient.js";
import { loopbackAddress } from "../shared/loopback-address.js";

export interface PodTunnels {
  /** The Pod's IP as last seen (undefined before it has one). */
  ipOf(pod: string): string | undefined;
  stop(): Promise<void>;
}

const REFRESH_MS = 500;

export async function startPodTunnels(opts: {
  client: KubeClient;
  namespace: string;
  /** The hub's CONNECT proxy (RealCluster.egressSocket). */
  egressSocket: string;
  ports: number[];
}): Promise<PodTunnels> {
  const ips = new Map<string, string>();
  const servers = new Map<string, Server>();
  const open = new Set<Socket>();
  let stopped = false;

  const tunnel = (pod: string, port: number) => (client: Socket) => {
    open.add(client);
    client.on("close", () => open.delete(client));
    client.on("error", () => client.destroy());
    const ip = ips.get(pod);
    if (!ip) return client.destroy();
    const upstream = connect(opts.egressSocket);
    open.add(upstream);
    upstream.on("close", () => {
      open.delete(upstream);
      client.destroy();
    });
    upstream.on("error", () => upstream.destroy());
    client.on("close", () => upstream.destroy());
    client.pause();
    upstream.write(`CONNECT ${ip}:${port} HTTP/1.1\r\nHost: ${ip}:${port}\r\n\r\n`);
    let head = Buffer.alloc(0);
    const onHead = (chunk: Buffer) => {
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf("\r\n\r\n");
      if (end < 0) return;
      upstream.off("data", onHead);
      if (!/^HTTP\/1\.[01] 200/.test(head.toString("latin1"))) return upstream.destroy();
      const rest = head.subarray(end + 4);
      if (rest.length) client.write(rest);
      upstream.pipe(client);
      client.pipe(upstream);
      client.resume();
    };
    upstream.on("data", onHead);
  };

  const listen = (pod: string, port: number) =>
    new Promise<void>((resolve, reject) => {
      const server = createServer(tunnel(pod, port));
      server.once("error", reject);
      server.listen(port, loopbackAddress(opts.namespace, pod), () => {
        servers.set(`${pod}:${port}`, server);
        resolve();
      });
    });

  const refresh = async () => {
    const list = await opts.client.request<V1PodList>({
      method: "GET",
      path: `/api/v1/namespaces/${opts.namespace}/pods`,
      timeoutMs: 2000,
    });
    for (const p of list.items) {
      const name = p.metadata!.name!;
      if (p.status?.podIP) ips.set(name, p.status.podIP);
      for (const port of opts.ports) if (!servers.has(`${name}:${port}`)) await listen(name, port);
    }
  };
  await refresh();
  const loop = (async () => {
    while (!stopped) {
      await new Promise((r) => setTimeout(r, REFRESH_MS));
      if (!stopped) await refresh().catch(() => {});
    }
  })();

  return {
    ipOf: (pod) => ips.get(pod),
    async stop() {
      stopped = true;
      await loop;
      for (const s of open) s.destroy();
      await Promise.all([...servers.values()].map((s) => new Promise((r) => s.close(r))));
    },
  };
}
