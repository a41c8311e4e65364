// Runs inside the real cluster's hub network namespace (testenv/realCluster.ts), the only process
// there besides its holder, and joins that namespace to the host's loopback through Unix sockets,
// which belong to the file system and not to a network namespace:
//   --forward IP:PORT=SOCKET   accepts TCP on IP:PORT in the hub (where nodes and Pods dial the
//                              API server or the S3 server) and carries each connection to SOCKET,
//                              where the test process connects it to 127.0.0.1:PORT on the host;
//   --connect SOCKET           an HTTP CONNECT proxy on SOCKET for kube-apiserver's egress selector,
//                              which dials from the hub into the nodes and Pods (pod proxy,
//                              webhooks, logs and exec) and nowhere else: the hub has no uplink.
import { connect, createServer, isIPv4 } from "node:net";
import { parseArgs } from "node:util";
import { serveConnect } from "./podNetwork.js";

const { values } = parseArgs({
  options: {
    forward: { type: "string", multiple: true, default: [] },
    connect: { type: "string" },
    allow: { type: "string", multiple: true, default: [] },
  },
});

/** Targets inside the cluster's own ranges (`--allow 10.244.`), given as address prefixes. */
const inCluster = (host: string) => (isIPv4(host) && values.allow.some((p) => host.startsWith(p)) ? host : undefined);

for (const spec of values.forward) {
  const m = /^([\d.]+):(\d+)=(.+)$/.exec(spec);
  if (!m) throw new Error(`--forward ${spec}: expected IP:PORT=SOCKET`);
  const [, ip, port, socket] = m as unknown as [string, string, string, string];
  createServer((client) => {
    const upstream = connect(socket);
    client.pipe(upstream).pipe(client);
    client.on("error", () => upstream.destroy());
    upstream.on("error", () => client.destroy());
  }).listen(Number(port), ip);
}
if (values.connect) createServer((client) => serveConnect(client, inCluster)).listen(values.connect);
console.log("relay: listening");
