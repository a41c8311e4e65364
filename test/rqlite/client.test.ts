import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { createServer as createHttpServer } from "node:http";
import { createServer, type Server, type Socket } from "node:net";
import { connect as tlsConnect } from "node:tls";
import { RqliteClient, RqliteError, type RqliteErrorKind } from "../../controller/rqlite/client.js";
import { eventually } from "../../testenv/eventually.js";
import { freePort } from "../../testenv/ports.js";
import { startRqliteCluster, type RqliteNodeProcess, type RqliteTestCluster } from "../../testenv/rqlited.js";

/** Awaits a rejection and checks it is an RqliteError of the given kind whose message names the node and call. */
async function rejectsWith(
  p: Promise<unknown>,
  kind: RqliteErrorKind,
  node: string,
  call: string,
): Promise<RqliteError> {
  const err = await p.then(
    () => assert.fail(`expected ${call} on ${node} to fail with ${kind}`),
    (e: unknown) => e,
  );
  assert.ok(err instanceof RqliteError, `expected an RqliteError, got ${String(err)}`);
  assert.equal(err.kind, kind, err.message);
  assert.equal(err.call, call);
  assert.ok(err.message.includes(node), `message names the node: ${err.message}`);
  assert.ok(err.message.includes(call), `message names the call: ${err.message}`);
  return err;
}

describe("rqlite client against a real 3-node rqlited cluster", function () {
  this.timeout(60_000);
  let rq: RqliteTestCluster;

  before(async () => {
    rq = await startRqliteCluster({ size: 3 });
  });
  after(async () => {
    await rq?.stop();
  });

  it("status() reports identity, Raft state, leader, indexes, members and version", async () => {
    const leader = await rq.leader();
    for (const n of rq.nodes) {
      const s = await rq.client(n.id).status();
      assert.equal(s.nodeId, n.id);
      assert.equal(s.addr, n.raftAddr);
      assert.equal(s.raftState, n.id === leader.id ? "Leader" : "Follower");
      assert.deepEqual(s.leader, { id: leader.id, addr: leader.raftAddr });
      assert.equal(s.voter, true);
      assert.equal(s.ready, true);
      assert.ok(
        s.term >= 1 && s.commitIndex >= 1 && s.lastLogIndex >= s.commitIndex && s.appliedIndex <= s.commitIndex,
        JSON.stringify(s),
      );
      assert.deepEqual(s.members.map((m) => m.id).sort(), ["node-0", "node-1", "node-2"]);
      assert.ok(s.members.every((m) => m.voter));
      assert.equal(s.version, "v8.43.4");
    }
  });

  it("nodes() lists every member with its API address, reachability and the leader", async () => {
    const leader = await rq.leader();
    const nodes = await rq.client("node-1").nodes();
    assert.deepEqual(
      nodes.map((n) => n.id),
      ["node-0", "node-1", "node-2"],
    );
    for (const n of nodes) {
      const p = rq.node(n.id);
      assert.deepEqual(n, {
        id: p.id,
        addr: p.raftAddr,
        apiAddr: p.url,
        voter: true,
        reachable: true,
        leader: p.id === leader.id,
        version: "v8.43.4",
      });
    }
  });

  it("readyz() is ready, also with noleader and with sync", async () => {
    const c = rq.client("node-2");
    assert.deepEqual(await c.readyz(), { ready: true, body: "[+]node ok\n[+]leader ok\n[+]store ok" });
    assert.deepEqual(await c.readyz({ noleader: true }), { ready: true, body: "[+]node ok" });
    const synced = await c.readyz({ sync: true, timeoutMs: 3000 });
    assert.equal(synced.ready, true, synced.body);
    assert.match(synced.body, /\[\+\]sync ok$/);
  });

  it("execute() and query() write through a follower and read back at every level", async () => {
    const follower = (await rq.leader()).id === "node-0" ? "node-1" : "node-0";
    const c = rq.client(follower);
    const res = await c.execute([
      "CREATE TABLE kv (k TEXT PRIMARY KEY, v INTEGER)",
      ["INSERT INTO kv VALUES(?, ?)", "a", 1],
      ["INSERT INTO kv VALUES(?, ?)", "b", 2],
    ]);
    assert.deepEqual(res, [
      { rowsAffected: 0 },
      { rowsAffected: 1, lastInsertId: 1 },
      { rowsAffected: 1, lastInsertId: 2 },
    ]);
    assert.deepEqual(await c.query("SELECT k, v FROM kv ORDER BY k", { level: "strong" }), [
      { k: "a", v: 1 },
      { k: "b", v: 2 },
    ]);
    assert.deepEqual(await c.query(["SELECT v FROM kv WHERE k = ?", "b"], { level: "linearizable" }), [{ v: 2 }]);
    assert.deepEqual(await c.query("SELECT * FROM kv WHERE k = 'zzz'", { level: "strong" }), []);
    const err = await rejectsWith(
      c.execute(["INSERT INTO kv VALUES('c', 3)", "INSERT INTO nope VALUES(1)"]),
      "sql",
      follower,
      "POST /db/execute",
    );
    assert.match(err.message, /statement 2 \(INSERT INTO nope VALUES\(1\)\) failed: no such table: nope/);
  });

  it("backup() returns the database as an SQLite file", async () => {
    const file = await rq.client("node-2").backup();
    assert.equal(file.subarray(0, 15).toString("latin1"), "SQLite format 3");
    assert.ok(file.length >= 4096, `${file.length} bytes`);
  });

  it("transferLeadership() moves leadership to the requested node, and is a no-op when it already leads", async () => {
    const before = await rq.leader();
    const [target, bystander] = rq.nodes.filter((n) => n.id !== before.id) as [RqliteNodeProcess, RqliteNodeProcess];
    // Sent to a follower on purpose: rqlite forwards it to the leader.
    assert.equal(await rq.client(bystander.id).transferLeadership(target.id), "transferred");
    assert.equal((await rq.leader()).id, target.id);
    assert.equal((await rq.client(before.id).leader())?.id, target.id);
    assert.equal(await rq.client(before.id).transferLeadership(target.id), "already-leader");
    await rejectsWith(rq.client(bystander.id).transferLeadership("no-such-node"), "http", bystander.id, "POST /leader");

    // With no target, the leader hands over to any other voter.
    assert.equal(await rq.client(target.id).transferLeadership(), "transferred");
    assert.notEqual((await rq.leader()).id, target.id);
  });

  it("transferLeadership() sent to its own target (a follower) says to send it elsewhere", async () => {
    const leader = await rq.leader();
    const follower = rq.nodes.find((n) => n.id !== leader.id)!;
    const err = await rejectsWith(
      rq.client(follower.id).transferLeadership(follower.id),
      "http",
      follower.id,
      "POST /leader",
    );
    assert.match(err.message, /send it to the leader or another member/);
  });

  it("a SIGKILLed node's client fails cleanly while the others keep answering, and it rejoins after a restart", async () => {
    const leader = await rq.leader();
    const victim = rq.nodes.find((n) => n.id !== leader.id)!;
    await rq.kill(victim.id);
    const started = Date.now();
    const err = await rejectsWith(rq.client(victim.id).status(), "connection-refused", victim.id, "GET /status");
    assert.ok(err.message.includes(victim.url), err.message);
    assert.ok(Date.now() - started < 1000);
    assert.equal((await rq.client(leader.id).readyz()).ready, true);
    const seen = await rq.client(leader.id).nodes();
    const dead = seen.find((n) => n.id === victim.id)!;
    assert.equal(dead.reachable, false);
    assert.ok(dead.error, "nodes() says why the member is unreachable");
    assert.equal(seen.filter((n) => n.reachable).length, 2);
    await rq.client(leader.id).execute([["INSERT INTO kv VALUES(?, ?)", "while-down", 9]]);

    await rq.restart(victim.id);
    const rows = await eventually("the restarted node catching up", async () => {
      const r = await rq.client(victim.id).query("SELECT v FROM kv WHERE k = 'while-down'", { level: "none" });
      return r.length ? r : undefined;
    });
    assert.deepEqual(rows, [{ v: 9 }]);
  });

  it("removeNode() of a follower shrinks nodes(), and an unknown or already removed id is reported as not-member", async () => {
    const leader = await rq.leader();
    const victim = rq.nodes.find((n) => n.id !== leader.id)!;
    const c = rq.client(leader.id);
    assert.equal(await c.removeNode("no-such-node"), "not-member");
    assert.equal(await c.removeNode(victim.id), "removed");
    const ids = (await c.nodes()).map((n) => n.id);
    assert.deepEqual(
      ids,
      rq.nodes.map((n) => n.id).filter((id) => id !== victim.id),
    );
    assert.equal((await c.status()).members.length, 2);
    assert.equal(await c.removeNode(victim.id), "not-member");
  });

  it("without quorum: readyz() is not ready, leader() is undefined, status() has no leader, removeNode() and execute() fail with no-leader", async () => {
    // Two voters are left after the removal above; killing one leaves the other without quorum.
    const leader = await rq.leader();
    const members = (await rq.client(leader.id).status()).members.map((m) => m.id);
    const survivor = members.find((id) => id !== leader.id)!;
    await rq.kill(leader.id);
    const c = rq.client(survivor);
    const readiness = await eventually("the survivor noticing it has no leader", async () => {
      const r = await c.readyz();
      return r.ready ? undefined : r;
    });
    assert.match(readiness.body, /leader does not exist|leader not contactable/);
    await eventually("leader() and status() reporting no leader", async () =>
      (await c.leader()) === undefined && (await c.status()).leader === undefined ? true : undefined,
    );
    assert.equal((await c.readyz({ noleader: true })).ready, true);
    const err = await rejectsWith(c.removeNode(leader.id), "no-leader", survivor, "DELETE /remove");
    assert.match(err.message, /HTTP 50\d: .*leader not found/);
    await rejectsWith(c.execute(["CREATE TABLE x (id INTEGER)"]), "no-leader", survivor, "POST /db/execute");
  });
});

describe("rqlite client with -auth", function () {
  this.timeout(30_000);
  const operator = { username: "rqlite-operator", password: "s3cret:with-colon" };
  let rq: RqliteTestCluster;

  before(async () => {
    rq = await startRqliteCluster({
      size: 1,
      auth: {
        users: [
          { ...operator, perms: ["all"] },
          { username: "reader", password: "r", perms: ["query"] },
        ],
        as: operator,
      },
    });
  });
  after(async () => {
    await rq?.stop();
  });

  it("rejects a call without credentials with a clear 401", async () => {
    const url = rq.node("node-0").url;
    const anonymous = new RqliteClient(url);
    const err = await rejectsWith(anonymous.status(), "unauthorized", url, "GET /status");
    assert.equal(err.status, 401);
    assert.match(
      err.message,
      /HTTP 401 unauthorized: rqlite refused no credentials; the call needs the "status" permission/,
    );
    await rejectsWith(anonymous.readyz(), "unauthorized", url, "GET /readyz");
  });

  it("names the user and the missing permission for a user without it", async () => {
    const reader = new RqliteClient(rq.node("node-0").url, {
      nodeId: "node-0",
      auth: { username: "reader", password: "r" },
    });
    const err = await rejectsWith(reader.backup(), "unauthorized", "node-0", "GET /db/backup");
    assert.match(err.message, /user "reader".*"backup" permission/);
  });

  it("works with the operator's credentials", async () => {
    const c = rq.client("node-0");
    assert.equal((await c.status()).raftState, "Leader");
    assert.equal((await c.readyz({ sync: true })).ready, true);
    const file = await c.backup();
    assert.equal(file.subarray(0, 15).toString("latin1"), "SQLite format 3");
  });
});

describe("rqlite client over HTTPS", function () {
  this.timeout(30_000);
  let rq: RqliteTestCluster;

  before(async () => {
    rq = await startRqliteCluster({ size: 1, tls: true });
  });
  after(async () => {
    await rq?.stop();
  });

  it("verifies the node's certificate against the given CA", async () => {
    const n = rq.node("node-0");
    assert.match(n.url, /^https:/);
    assert.equal((await rq.client("node-0").status()).nodeId, "node-0");
    // Dialling by IP while checking a name on the certificate, as for a pod behind its DNS name.
    const byName = new RqliteClient(n.url, { tls: { ca: rq.caPem!, serverName: "rqlite.test" } });
    assert.equal((await byName.readyz()).ready, true);
  });

  it("fails with kind tls for an untrusted certificate or a name it does not carry", async () => {
    const n = rq.node("node-0");
    const untrusted = await rejectsWith(
      new RqliteClient(n.url, { nodeId: "node-0" }).status(),
      "tls",
      "node-0",
      "GET /status",
    );
    assert.match(untrusted.message, /TLS failed: .*certificate/);
    const wrongName = new RqliteClient(n.url, { nodeId: "node-0", tls: { ca: rq.caPem!, serverName: "other.test" } });
    await rejectsWith(wrongName.status(), "tls", "node-0", "GET /status");
  });
});

describe("rqlited with Raft over mutual TLS, as spec.tls.node renders it", function () {
  this.timeout(60_000);
  let rq: RqliteTestCluster;

  before(async () => {
    rq = await startRqliteCluster({ size: 3, nodeTls: true });
  });
  after(async () => {
    await rq?.stop();
  });

  /** How a TLS connection to a node's Raft port ends: open after a probe byte, or refused. */
  const raftHandshake = (host: string, cert?: { cert: Buffer; key: Buffer }) =>
    new Promise<"open" | "refused">((resolve) => {
      const s = tlsConnect({ host, port: 4002, ca: readFileSync(rq.nodePki!.ca), servername: host, ...cert });
      const settle = (how: "open" | "refused") => {
        clearTimeout(timer);
        s.destroy();
        resolve(how);
      };
      // TLS 1.3 finishes the client's side before the server checks the client's certificate:
      // a refusal arrives as an alert on the first exchange.
      s.once("secureConnect", () => s.write(Buffer.from([1])));
      s.once("error", () => settle("refused"));
      s.once("close", () => settle("refused"));
      const timer = setTimeout(() => settle("open"), 1500);
    });

  it("forms a cluster, and refuses a Raft connection without a certificate from the cluster's CA", async () => {
    const leader = await rq.leader();
    assert.equal((await rq.client(leader.id).nodes()).length, 3);
    const host = rq.node("node-1").host;
    assert.equal(await raftHandshake(host), "refused");
    const own = { cert: readFileSync(rq.nodePki!.cert), key: readFileSync(rq.nodePki!.key) };
    assert.equal(await raftHandshake(host, own), "open", "a node's own certificate is accepted");
  });
});

describe("rqlite client transport failures", function () {
  this.timeout(10_000);
  let silent: Server;
  let silentPort: number;
  const sockets: Socket[] = [];

  before(async () => {
    // Accepts connections and never answers: the shape of a hung or partitioned node.
    silent = createServer((s) => sockets.push(s));
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    silentPort = (silent.address() as { port: number }).port;
  });
  after(async () => {
    sockets.forEach((s) => s.destroy());
    await new Promise((resolve) => silent.close(resolve));
  });

  it("times out within the call's limit against a server that never answers", async () => {
    const url = `http://127.0.0.1:${silentPort}`;
    const c = new RqliteClient(url, { nodeId: "node-7", timeoutMs: 300 });
    const started = Date.now();
    const err = await rejectsWith(c.status(), "timeout", "node-7", "GET /status");
    const took = Date.now() - started;
    assert.ok(took >= 290 && took < 1000, `took ${took} ms`);
    assert.match(
      err.message,
      /^rqlite node node-7 at http:\/\/127\.0\.0\.1:\d+: GET \/status: timed out after 300 ms$/,
    );
    // A per-call limit overrides the client's.
    await rejectsWith(c.readyz({ sync: true, timeoutMs: 150 }), "timeout", url, "GET /readyz");
    await rejectsWith(c.removeNode("node-1", { timeoutMs: 150 }), "timeout", url, "GET /status");
  });

  it("reports connection refused on a closed loopback port", async () => {
    const url = `http://127.0.0.1:${await freePort()}`;
    const err = await rejectsWith(new RqliteClient(url).nodes(), "connection-refused", url, "GET /nodes");
    assert.match(err.message, /connection refused/);
  });

  it("rejects answers that are not rqlite's JSON, naming what was wrong", async () => {
    const fake = createServer((s) => {
      s.once("data", (req) => {
        const body = req.toString().startsWith("GET /status")
          ? `{"store":{"node_id":"x"}}`
          : "<html>proxy error</html>";
        s.end(
          `HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`,
        );
      });
    });
    await new Promise<void>((resolve) => fake.listen(0, "127.0.0.1", resolve));
    const url = `http://127.0.0.1:${(fake.address() as { port: number }).port}`;
    try {
      const c = new RqliteClient(url);
      const shape = await rejectsWith(c.status(), "bad-response", url, "GET /status");
      assert.match(shape.message, /unexpected JSON: store\.raft\.state is missing/);
      const notJson = await rejectsWith(c.nodes(), "bad-response", url, "GET /nodes");
      assert.match(notJson.message, /not JSON: "<html>proxy error<\/html>"/);
      await rejectsWith(c.backup(), "bad-response", url, "GET /db/backup");
    } finally {
      await new Promise((resolve) => fake.close(resolve));
    }
  });

  it("cuts off an answer past its size cap, naming the node and the cap, and reads no further", async () => {
    // A hostile "rqlited": chunked JSON that never ends, or a Content-Length of 1 GiB; it counts
    // what it managed to send before the client hung up.
    let sent = 0;
    const hostile = createHttpServer((req, res) => {
      if (req.url?.startsWith("/nodes")) {
        res.writeHead(200, { "Content-Type": "application/json", "Content-Length": String(1 << 30) });
        res.write("{");
        return;
      }
      res.writeHead(req.url?.startsWith("/db/backup") ? 500 : 200, { "Content-Type": "application/json" });
      const chunk = Buffer.alloc(64 << 10, "[");
      const more = () => {
        while (!res.destroyed && res.write(chunk)) sent += chunk.length;
        if (!res.destroyed) res.once("drain", more);
      };
      more();
    });
    await new Promise<void>((resolve) => hostile.listen(0, "127.0.0.1", resolve));
    const url = `http://127.0.0.1:${(hostile.address() as { port: number }).port}`;
    try {
      const c = new RqliteClient(url, { nodeId: "node-9", maxAnswerBytes: 1 << 20, timeoutMs: 10_000 });
      const endless = await rejectsWith(c.status(), "bad-response", "node-9", "GET /status");
      assert.match(endless.message, /exceeds the 1 MiB the operator reads from an rqlite node/);
      assert.ok(sent < 16 << 20, `the server sent ${sent} bytes before the client hung up`);
      const announced = await rejectsWith(c.nodes(), "bad-response", "node-9", "GET /nodes");
      assert.match(announced.message, /announces 1073741824 bytes, more than the 1 MiB/);
      // A backup's error answer is read whole to quote it: capped too.
      await rejectsWith(c.backupStream(), "bad-response", "node-9", "GET /db/backup");
      // The default cap is 4 MiB.
      sent = 0;
      const byDefault = await rejectsWith(new RqliteClient(url).readyz(), "bad-response", url, "GET /readyz");
      assert.match(byDefault.message, /exceeds the 4 MiB/);
      assert.throws(() => new RqliteClient(url, { maxAnswerBytes: 0 }), /maxAnswerBytes must be positive/);
    } finally {
      hostile.closeAllConnections();
      await new Promise((resolve) => hostile.close(resolve));
    }
  });

  it("refuses unusable arguments with an RqliteError before sending anything", () => {
    for (const bad of ["127.0.0.1:4001", "ftp://127.0.0.1", "http://127.0.0.1:4001/db", "http://u:p@127.0.0.1:4001"]) {
      assert.throws(
        () => new RqliteClient(bad),
        (e: unknown) => e instanceof RqliteError && e.kind === "invalid-argument",
        bad,
      );
    }
    assert.throws(() => new RqliteClient("http://127.0.0.1:4001", { tls: { ca: "x" } }), RqliteError);
  });
});
