// The test control plane's pod network (testenv/podNetwork.ts), which lets kube-apiserver proxy
// to Pods the local runtime runs on loopback: 10.x.y.z maps to 127.x.y.z, and nothing else
// than loopback is ever dialled.
import { strict as assert } from "node:assert";
import { mkdtemp } from "node:fs/promises";
import { createServer, connect, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loopbackTarget, podNetworkIP, startPodNetwork, type PodNetwork } from "../../testenv/podNetwork.js";

describe("test pod network", () => {
  let net: PodNetwork;
  let socket: string;
  let echo: Server;
  let port: number;

  before(async () => {
    const dir = await mkdtemp(join(tmpdir(), "rqo-podnet-"));
    net = await startPodNetwork(dir);
    socket = join(dir, "egress.sock");
    echo = createServer((c) => c.pipe(c));
    await new Promise<void>((r) => echo.listen(0, "127.45.67.89", r));
    port = (echo.address() as { port: number }).port;
  });

  after(async () => {
    await net.stop();
    await new Promise((r) => echo.close(r));
  });

  /** Sends a CONNECT and then `payload`; resolves with everything the proxy answered. */
  const tunnel = (authority: string, payload: string) =>
    new Promise<string>((resolve, reject) => {
      const c = connect(socket, () => c.write(`CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n\r\n${payload}`));
      let got = "";
      c.on("data", (d) => {
        got += String(d);
        if (got.includes(payload) || got.startsWith("HTTP/1.1 403")) c.end();
      });
      c.on("close", () => resolve(got));
      c.on("error", reject);
    });

  it("gives each loopback address a pod IP and maps it back", () => {
    assert.equal(podNetworkIP("127.139.175.45"), "10.139.175.45");
    assert.equal(loopbackTarget("10.139.175.45"), "127.139.175.45");
    assert.equal(loopbackTarget("127.0.0.1"), "127.0.0.1");
    assert.throws(() => podNetworkIP("10.0.0.1"), /not a 127\.0\.0\.0\/8 address/);
    for (const outside of ["8.8.8.8", "192.168.1.1", "example.com", "11.1.2.3"])
      assert.equal(loopbackTarget(outside), undefined, outside);
  });

  it("tunnels a CONNECT to a pod IP to its loopback address, and refuses any other destination", async () => {
    const answer = await tunnel(`10.45.67.89:${port}`, "ping");
    assert.match(answer, /^HTTP\/1\.1 200 Connection established\r\n\r\nping$/);
    assert.match(await tunnel("8.8.8.8:443", "ping"), /^HTTP\/1\.1 403 Forbidden/);
  });
});
