// A hostile stand-in for rqlited, run by the local runtime for a tenant's image
// (LocalRuntimeOptions.standIns): `node --import tsx testenv/hostileRqlite.ts <mode> <rqlited args>`.
// It listens where the Pod's -http-addr says, as rqlited would, and answers:
// - huge:    every request with 1 GiB of JSON (Content-Length announced, streamed as read);
// - trickle: as a one-node cluster's leader (/nodes, /status, /readyz, /leader), and GET
//            /db/backup with one byte a second, for ever.
import type { ServerResponse } from "node:http";
import { serveHostile, streamHugeJson, trickle } from "./hostileServers.js";

const [mode, ...args] = process.argv.slice(2);
const flag = (name: string) => args.find((a) => a.startsWith(`-${name}=`))?.slice(name.length + 2);
const httpAddr = flag("http-addr");
const id = flag("node-id") ?? "node";
const raftAddr = flag("raft-adv-addr") ?? "127.0.0.1:4002";
const apiAddr = `http://${flag("http-adv-addr") ?? httpAddr}`;
if (!httpAddr || (mode !== "huge" && mode !== "trickle")) {
  console.error("usage: hostileRqlite.ts huge|trickle -http-addr=HOST:PORT [rqlited flags]");
  process.exit(2);
}
const [host, port] = [
  httpAddr.slice(0, httpAddr.lastIndexOf(":")),
  Number(httpAddr.slice(httpAddr.lastIndexOf(":") + 1)),
];

const GIB = 1 << 30;
const self = { id, addr: raftAddr, api_addr: apiAddr, voter: true, reachable: true, leader: true, version: "v8.43.4" };
const status = {
  store: {
    open: true,
    ready: true,
    node_id: id,
    addr: raftAddr,
    leader: { node_id: id, addr: raftAddr },
    db_applied_index: 2,
    nodes: [{ id, addr: raftAddr, suffrage: "Voter" }],
    raft: { state: "Leader", voter: true, term: 1, applied_index: 2, commit_index: 2, last_log_index: 2 },
  },
  build: { version: "v8.43.4" },
};

const json = (res: ServerResponse, body: unknown) =>
  res.writeHead(200, { "Content-Type": "application/json" }).end(JSON.stringify(body));

let served = 0;
const server = await serveHostile(
  (req, res, count) => {
    const path = new URL(req.url ?? "/", "http://x").pathname;
    if (mode === "huge") return streamHugeJson(res, GIB, count);
    if (path === "/db/backup") return trickle(res, "application/octet-stream", count);
    if (path === "/nodes") return json(res, { nodes: [self] });
    if (path === "/status") return json(res, status);
    if (path === "/leader") return json(res, self);
    if (path === "/readyz") return res.writeHead(200).end("[+]node ok\n[+]leader ok\n[+]store ok\n");
    if (path === "/debug/vars") return json(res, {});
    res.writeHead(404).end("not here\n");
  },
  host,
  port,
);
// What it managed to send, for the test's figures, in its log.
setInterval(() => {
  if (server.bytesSent !== served)
    console.log(`${new Date().toISOString()} requests=${server.requests} bytesSent=${(served = server.bytesSent)}`);
}, 5000).unref();
for (const sig of ["SIGTERM", "SIGINT"] as const)
  process.once(sig, () => void server.close().then(() => process.exit(0)));
console.log(`hostile rqlite (${mode}) for ${id} on ${httpAddr}`);
