import { strict as assert } from "node:assert";
import { copyFile, mkdir, readdir, readFile, rename, rm, symlink, writeFile } from "node:fs/promises";
import { Agent } from "node:https";
import { connect } from "node:net";
import { connect as tlsConnect, type TLSSocket } from "node:tls";
import { eventually } from "../../testenv/eventually.js";
import { basename, join } from "node:path";
import {
  admissionReview,
  answerOf,
  holdHalfOpenHandshakes,
  httpsRequest,
  mintCerts,
  rqCluster,
  tempDir,
  WebhookProcess,
} from "../../testenv/webhookProcess.js";

const VALIDATE = "/validate-rqlite-io-v1alpha1-rqcluster";

/**
 * A folder laid out as kubelet lays out a Secret volume: the files are symlinks through `..data`
 * to a timestamped folder, and an update renames a new `..data` symlink over the old one.
 */
class SecretVolume {
  private generation = 0;

  constructor(readonly dir: string) {}

  async publish(files: Record<string, Buffer>): Promise<void> {
    const previous = (await readdir(this.dir)).filter((f) => f.startsWith("..gen-"));
    const target = join(this.dir, `..gen-${++this.generation}`);
    await mkdir(target);
    for (const [name, content] of Object.entries(files)) await writeFile(join(target, name), content);
    await symlink(basename(target), join(this.dir, "..data_tmp"));
    await rename(join(this.dir, "..data_tmp"), join(this.dir, "..data"));
    for (const name of Object.keys(files)) {
      await symlink(join("..data", name), join(this.dir, name)).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== "EEXIST") throw err;
      });
    }
    for (const old of previous) await rm(join(this.dir, old), { recursive: true });
  }
}

async function servingPair(dir: string): Promise<Record<string, Buffer>> {
  return { "tls.crt": await readFile(join(dir, "tls.crt")), "tls.key": await readFile(join(dir, "tls.key")) };
}

function connectionRefused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, "127.0.0.1");
    s.once("connect", () => {
      s.destroy();
      resolve(false);
    });
    s.once("error", (err: NodeJS.ErrnoException) => resolve(err.code === "ECONNREFUSED"));
  });
}

describe("webhook certificate reload", () => {
  let staging: string;
  let volume: SecretVolume;
  let ca: Buffer;
  let server: WebhookProcess;
  let agent: Agent;

  before(async () => {
    staging = await tempDir("webhook-staging");
    volume = new SecretVolume(await tempDir("webhook-volume"));
    ({ ca } = await mintCerts(staging));
    await volume.publish(await servingPair(staging));
    server = await WebhookProcess.start(volume.dir);
    agent = new Agent({ keepAlive: true, maxSockets: 1, ca });
  });

  after(async () => {
    agent.destroy();
    await server?.stop();
  });

  it("serves a rotated certificate to new connections while a keep-alive connection keeps working", async () => {
    const first = await httpsRequest(server.port, "/healthz", ca, { agent });
    const oldSerial = first.peerSerial;

    await mintCerts(staging);
    const mark = server.logs.length;
    await volume.publish(await servingPair(staging));
    const reloaded = await server.waitForLog((l) => l.msg === "serving certificate reloaded", 10_000, mark);
    const newSerial = String(reloaded.serialNumber).toUpperCase();
    assert.notEqual(newSerial, oldSerial);

    const fresh = await httpsRequest(server.port, "/healthz", ca);
    assert.equal(fresh.status, 200);
    assert.equal(fresh.peerSerial, newSerial);

    const again = await httpsRequest(server.port, VALIDATE, ca, {
      agent,
      body: JSON.stringify(admissionReview({ object: rqCluster("demo", {}) })),
    });
    assert.equal(again.reusedSocket, true, "the request went over the connection opened before the rotation");
    assert.equal(again.socket, first.socket);
    assert.equal(again.peerSerial, oldSerial, "an open connection keeps the certificate it negotiated");
    assert.equal(answerOf(again).uid.length > 0, true);
  });

  it("keeps the current certificate when the new pair does not match, and recovers on the next good one", async () => {
    const current = (await httpsRequest(server.port, "/healthz", ca)).peerSerial;
    const other = await tempDir("webhook-other");
    await copyFile(join(staging, "ca.crt"), join(other, "ca.crt"));
    await copyFile(join(staging, "ca.key"), join(other, "ca.key"));
    await mintCerts(other);
    await mintCerts(staging);
    let mark = server.logs.length;
    // A certificate with somebody else's key, as when a rotation is caught half-way.
    await volume.publish({
      "tls.crt": await readFile(join(staging, "tls.crt")),
      "tls.key": await readFile(join(other, "tls.key")),
    });
    const rejected = await server.waitForLog(
      (l) => String(l.msg).startsWith("new serving certificate rejected"),
      10_000,
      mark,
    );
    assert.equal(rejected.level, "error");
    assert.match(String(rejected.err), /private key does not belong/);
    assert.equal((await httpsRequest(server.port, "/healthz", ca)).peerSerial, current);

    mark = server.logs.length;
    await volume.publish({ "tls.crt": Buffer.from("not a certificate"), "tls.key": Buffer.from("") });
    await server.waitForLog((l) => String(l.msg).startsWith("new serving certificate rejected"), 10_000, mark);
    assert.equal((await httpsRequest(server.port, "/healthz", ca)).peerSerial, current);

    mark = server.logs.length;
    await volume.publish(await servingPair(staging));
    const reloaded = await server.waitForLog((l) => l.msg === "serving certificate reloaded", 10_000, mark);
    assert.equal(
      (await httpsRequest(server.port, "/healthz", ca)).peerSerial,
      String(reloaded.serialNumber).toUpperCase(),
    );
    assert.match(await server.metrics(), /certwatcher_read_certificate_errors_total 2/);
  });

  it("picks up files replaced in place in a plain folder", async () => {
    const dir = await tempDir("webhook-plain");
    const { ca: plainCa } = await mintCerts(dir);
    const plain = await WebhookProcess.start(dir);
    try {
      const before = (await httpsRequest(plain.port, "/healthz", plainCa)).peerSerial;
      const mark = plain.logs.length;
      await mintCerts(dir);
      await plain.waitForLog((l) => l.msg === "serving certificate reloaded", 10_000, mark);
      assert.notEqual((await httpsRequest(plain.port, "/healthz", plainCa)).peerSerial, before);
    } finally {
      await plain.stop();
    }
  });
});

describe("webhook shutdown", () => {
  let certDir: string;
  let ca: Buffer;

  before(async () => {
    certDir = await tempDir("webhook-drain");
    ({ ca } = await mintCerts(certDir));
  });

  it("on SIGTERM stops accepting, closes idle keep-alive connections, finishes the in-flight request and exits 0", async () => {
    const server = await WebhookProcess.start(certDir);
    const agent = new Agent({ keepAlive: true, maxSockets: 1, ca });
    try {
      const idle = await httpsRequest(server.port, "/healthz", ca, { agent });
      const idleClosed = new Promise((resolve) => idle.socket.once("close", resolve));
      const review = admissionReview({ object: rqCluster("in-flight", { replicas: 12 }) });
      const inFlight = await httpsRequest(server.port, VALIDATE, ca, {
        body: JSON.stringify(review),
        // Half the body is on the wire when the signal arrives.
        midBody: async () => {
          await server.waitInFlight(VALIDATE, 1);
          const mark = server.logs.length;
          server.child.kill("SIGTERM");
          await server.waitForLog((l) => String(l.msg).startsWith("draining"), 10_000, mark);
          assert.equal(await connectionRefused(server.port), true, "no new connections while draining");
          await idleClosed;
        },
      });
      assert.equal(inFlight.status, 200);
      assert.equal(inFlight.headers.connection, "close");
      const answer = answerOf(inFlight);
      assert.equal(answer.uid, review.request.uid);
      assert.equal(answer.allowed, false);
      assert.equal(await server.exited, 0);
      assert.ok(server.logs.some((l) => l.msg === "drained; exiting"));
    } finally {
      agent.destroy();
      await server.stop();
    }
  });

  it("cuts requests still open after the shutdown timeout and exits 0", async () => {
    const server = await WebhookProcess.start(certDir, ["--shutdown-timeout", "500ms"]);
    const started = Date.now();
    const stuck = httpsRequest(server.port, VALIDATE, ca, {
      body: JSON.stringify(admissionReview({ object: rqCluster("stuck", {}) })),
      midBody: async () => {
        await server.waitInFlight(VALIDATE, 1);
        server.child.kill("SIGTERM");
        await server.exited;
      },
    });
    await assert.rejects(stuck, /socket hang up|ECONNRESET|EPIPE/);
    assert.equal(await server.exited, 0);
    assert.ok(
      server.logs.some((l) => l.msg === "shutdown timeout reached; closing remaining connections"),
      server.output(),
    );
    assert.ok(Date.now() - started < 10_000);
  });
});

describe("webhook connection limit", () => {
  it("drops connections over --max-connections and keeps serving those it holds", async () => {
    const certDir = await tempDir("webhook-maxconn");
    const { ca } = await mintCerts(certDir);
    const server = await WebhookProcess.start(certDir, ["--max-connections", "2"]);
    const agent = new Agent({ keepAlive: true, maxSockets: 2, ca });
    try {
      // Two keep-alive connections, held open by the agent.
      const held = await Promise.all([1, 2].map(() => httpsRequest(server.port, "/healthz", ca, { agent })));
      assert.deepEqual(
        held.map((r) => r.status),
        [200, 200],
      );
      const third = await httpsRequest(server.port, "/healthz", ca).then(
        (r) => r.status,
        (err: NodeJS.ErrnoException) => err.code,
      );
      assert.ok(third === "ECONNRESET" || third === "EPIPE", `the third connection was served: ${String(third)}`);
      assert.equal((await httpsRequest(server.port, "/healthz", ca, { agent })).status, 200);
    } finally {
      agent.destroy();
      await server.stop();
    }
  });
});

describe("webhook handshakes and silent connections", () => {
  it("gives one client address at most --max-connections-per-peer, half-open handshakes included", async () => {
    const certDir = await tempDir("webhook-perpeer");
    const { ca } = await mintCerts(certDir);
    const server = await WebhookProcess.start(certDir, ["--max-connections-per-peer", "8"]);
    const flood = await holdHalfOpenHandshakes(server.port, 20, "127.0.0.2");
    try {
      await eventually("the connections over the cap closed", () => flood.open() === 8, 5000);
      assert.equal(flood.closedWithin(5000), 12, "closed at accept, not by the 10 s handshake timeout");
      // Another address (the API server's, in a cluster) is served meanwhile.
      assert.equal((await httpsRequest(server.port, "/healthz", ca)).status, 200);
      assert.match(
        await server.metrics(),
        /^rqlite_operator_webhook_connections_refused_total\{limit="max-connections-per-peer"\} 12$/m,
      );
    } finally {
      flood.destroy();
      await server.stop();
    }
  });

  it("closes a handshake that does not finish within --tls-handshake-timeout, and a connection that sends no request", async () => {
    const certDir = await tempDir("webhook-handshake");
    const { ca } = await mintCerts(certDir);
    const server = await WebhookProcess.start(certDir, ["--tls-handshake-timeout", "1s"]);
    const flood = await holdHalfOpenHandshakes(server.port, 10);
    const silent = await new Promise<TLSSocket>((resolve, reject) => {
      const s = tlsConnect({ host: "127.0.0.1", port: server.port, ca, servername: "localhost" }, () => resolve(s));
      s.once("error", reject);
    });
    const silentStarted = Date.now();
    const silentClosed = new Promise<number>((resolve) =>
      silent.once("close", () => resolve(Date.now() - silentStarted)),
    );
    try {
      await eventually("every half-open handshake closed", () => flood.open() === 0, 10_000);
      for (const t of flood.lifetimesMs()) assert.ok(t >= 900 && t < 5000, `a handshake was held ${t} ms`);
      // The header timeout (10 s), checked every second: not the 90 s keep-alive, not for ever.
      const silentFor = await silentClosed;
      assert.ok(silentFor >= 9_000 && silentFor < 15_000, `a silent connection was held ${silentFor} ms`);
    } finally {
      flood.destroy();
      silent.destroy();
      await server.stop();
    }
  });
});
