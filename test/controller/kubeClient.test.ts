import { strict as assert } from "node:assert";
import { mkdtemp } from "node:fs/promises";
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import { request as httpsRequest, type RequestOptions } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CoreV1Api, type V1ConfigMap } from "@kubernetes/client-node";
import { Registry } from "prom-client";
import { KubeApiError, KubeClient, loadKubeConfig } from "../../controller/runtime/kubeClient.js";
import { makeWriter } from "../../controller/runtime/writer.js";
import type { ControlPlane } from "../../testenv/controlplane.js";
import { freePort } from "../../testenv/ports.js";
import { createTestNamespace, sharedControlPlane } from "../../testenv/shared.js";
import { TcpProxy } from "./support/tcpProxy.js";

/** Runs `fn` with some environment variables replaced (undefined removes one), then restores them. */
async function withEnv<T>(vars: Record<string, string | undefined>, fn: () => T | Promise<T>): Promise<T> {
  const saved = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
  const apply = (v: Record<string, string | undefined>) => {
    for (const [k, value] of Object.entries(v)) {
      if (value === undefined) delete process.env[k];
      else process.env[k] = value;
    }
  };
  apply(vars);
  try {
    return await fn();
  } finally {
    apply(saved);
  }
}

/**
 * A plain-HTTP proxy in front of the API server that garbles every 2xx body it relays with
 * `garble`, as a broken proxy or a connection cut short would. The answers come from the real
 * API server; only the bytes on the way back are damaged. `relayed` keeps the last garbled body.
 */
async function garblingProxy(
  upstream: string,
  kubeconfigPath: string,
  garble: (body: string) => string,
): Promise<{ server: Server; url: string; relayed: string[] }> {
  const kc = loadKubeConfig(kubeconfigPath);
  const relayed: string[] = [];
  const server = createServer((req, res) => {
    const opts: RequestOptions = { method: req.method, headers: { accept: req.headers.accept ?? "*/*" } };
    void kc.applyToHTTPSOptions(opts).then(() => {
      const up = httpsRequest(new URL(req.url!, upstream), opts, (answer) => {
        const chunks: Buffer[] = [];
        answer.on("data", (c: Buffer) => chunks.push(c));
        answer.on("end", () => {
          let body = Buffer.concat(chunks).toString("utf8");
          if (answer.statusCode! < 300) relayed.push((body = garble(body)));
          const headers: IncomingHttpHeaders = { "content-type": answer.headers["content-type"] };
          res.writeHead(answer.statusCode!, { ...headers, "content-length": Buffer.byteLength(body) }).end(body);
        });
      });
      up.on("error", (err) => res.writeHead(502).end(err.message));
      req.pipe(up);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const addr = server.address();
  return { server, url: `http://127.0.0.1:${typeof addr === "object" && addr ? addr.port : 0}`, relayed };
}

describe("KubeClient", function () {
  this.timeout(30_000);
  let cp: ControlPlane;
  let ns: string;

  before(async () => {
    cp = await sharedControlPlane();
    ns = await createTestNamespace(cp, "kubeclient");
  });

  it("counts every typed-client request by method and code, and times it", async () => {
    const registry = new Registry();
    const client = KubeClient.load(registry, cp.kubeconfigPath);
    const core = client.api(CoreV1Api);
    await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: "counted" }, data: { a: "1" } } });
    await core.patchNamespacedConfigMap({
      namespace: ns,
      name: "counted",
      body: [{ op: "replace", path: "/data/a", value: "2" }],
    });
    await core.listNamespacedConfigMap({ namespace: ns });
    await assert.rejects(core.readNamespacedConfigMap({ namespace: ns, name: "missing" }), { code: 404 });
    await core.deleteNamespacedConfigMap({ namespace: ns, name: "counted" });

    assert.equal(await client.requestCount(), 5);
    assert.equal(await client.requestCount({ method: "POST", code: "201" }), 1);
    assert.equal(await client.requestCount({ method: ["POST", "PUT", "PATCH", "DELETE"] }), 3, "writes");
    assert.equal(await client.requestCount({ method: "GET" }), 2);
    assert.equal(await client.requestCount({ code: "404" }), 1);
    const host = new URL(cp.url).host;
    const exposition = await registry.metrics();
    assert.ok(exposition.includes(`rest_client_requests_total{code="201",method="POST",host="${host}"} 1`), exposition);
    assert.ok(
      exposition.includes(`rest_client_request_duration_seconds_count{verb="GET",host="${host}"} 2`),
      exposition,
    );
  });

  it("two clients on one registry share the metrics", async () => {
    const registry = new Registry();
    const a = KubeClient.load(registry, cp.kubeconfigPath);
    const b = KubeClient.load(registry, cp.kubeconfigPath);
    await a.api(CoreV1Api).listNamespacedConfigMap({ namespace: ns });
    await b.api(CoreV1Api).listNamespacedConfigMap({ namespace: ns });
    assert.equal(await a.requestCount(), 2);
  });

  it("raw requests return JSON and fail with the Status reason, method and path", async () => {
    const client = KubeClient.load(new Registry(), cp.kubeconfigPath);
    const path = `/api/v1/namespaces/${ns}/configmaps`;
    const created = await client.request<V1ConfigMap>({
      method: "POST",
      path,
      body: { metadata: { name: "raw" }, data: { x: "1" } },
    });
    assert.equal(created.metadata?.name, "raw");
    const patched = await client.request<V1ConfigMap>({
      method: "PATCH",
      path: `${path}/raw`,
      body: { data: { x: "2" } },
      contentType: "application/merge-patch+json",
    });
    assert.equal(patched.data?.x, "2");
    const err = await client.request({ method: "GET", path: `${path}/nope` }).catch((e: unknown) => e);
    assert.ok(err instanceof KubeApiError);
    assert.equal(err.status, 404);
    assert.equal(err.reason, "NotFound");
    assert.equal(err.message, `GET ${path}/nope: HTTP 404 NotFound: configmaps "nope" not found`);
    assert.equal(await client.requestCount({ code: "404" }), 1);
  });

  it("streams a watch, counts it, and closes it when aborted", async () => {
    const client = KubeClient.load(new Registry(), cp.kubeconfigPath);
    const core = client.api(CoreV1Api);
    await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: "watched" } } });
    const abort = new AbortController();
    const events = await client.watch<V1ConfigMap>(
      `/api/v1/namespaces/${ns}/configmaps`,
      { fieldSelector: "metadata.name=watched" },
      abort.signal,
    );
    const seen: string[] = [];
    for await (const e of events) {
      seen.push(`${e.type} ${e.object.metadata?.name}`);
      abort.abort(); // ends the loop quietly
    }
    assert.deepEqual(seen, ["ADDED watched"]);
    assert.equal(await client.requestCount({ method: "GET", code: "200" }), 1);
  });

  it("keeps connections alive across requests; a list asked to, and a watch, get their own", async () => {
    const proxy = await TcpProxy.start(cp.url);
    try {
      const client = KubeClient.load(new Registry(), await proxy.kubeconfig(cp.kubeconfigPath));
      const path = `/api/v1/namespaces/${ns}/configmaps`;
      for (let i = 0; i < 10; i++) await client.request({ method: "GET", path });
      assert.equal(proxy.accepted, 1, "ten requests in a row share one connection");
      await client.request({ method: "GET", path, freshConnection: true });
      assert.equal(proxy.accepted, 2);
      await client.request({ method: "GET", path });
      assert.equal(proxy.accepted, 2, "the pooled connection is still there");
      const abort = new AbortController();
      await client.watch(path, {}, abort.signal);
      assert.equal(proxy.accepted, 3, "a watch opens its own");
      abort.abort();
    } finally {
      await proxy.close();
    }
  });

  it("after a pooled request fails, later requests get new connections instead of the pool's other ones", async () => {
    const proxy = await TcpProxy.start(cp.url);
    try {
      const client = KubeClient.load(new Registry(), await proxy.kubeconfig(cp.kubeconfigPath));
      const path = `/api/v1/namespaces/${ns}/configmaps`;
      await Promise.all([client.request({ method: "GET", path }), client.request({ method: "GET", path })]);
      assert.equal(proxy.accepted, 2, "two pooled connections");
      proxy.freeze(); // both idle connections now swallow whatever is sent on them
      await assert.rejects(
        client.request({ method: "GET", path, timeoutMs: 300 }),
        new RegExp(`GET ${path}: timed out after 300 ms`),
      );
      await client.request({ method: "GET", path, timeoutMs: 5000 });
      assert.equal(proxy.accepted, 3, "the request after the failure opened a new connection");
    } finally {
      await proxy.close();
    }
  });

  it("a Secret's response body garbled on the way fails without quoting any of it", async () => {
    const password = "correct-horse-battery-staple";
    const b64 = Buffer.from(password).toString("base64");
    await cp.kubectlOk(["create", "secret", "generic", "garbled", "-n", ns, `--from-literal=password=${password}`]);
    // One byte flipped on the way: the opening quote of the password's value. JSON.parse's own
    // message then quotes the text around it.
    const proxy = await garblingProxy(cp.url, cp.kubeconfigPath, (body) => {
      const at = body.indexOf(b64);
      return at < 1 ? body : `${body.slice(0, at - 1)}#${body.slice(at)}`;
    });
    try {
      const kc = loadKubeConfig(cp.kubeconfigPath);
      // The client refuses http:// unless TLS verification is off, which plain HTTP has none of anyway.
      kc.clusters = kc.clusters.map((c) => ({ ...c, server: proxy.url, skipTLSVerify: true }));
      const client = new KubeClient(kc, new Registry());
      const path = `/api/v1/namespaces/${ns}/secrets/garbled`;
      const err = await client.request({ method: "GET", path }).then(
        () => assert.fail("a garbled body must not parse"),
        (e: unknown) => e as Error,
      );
      assert.equal(proxy.relayed.length, 1, err.message);
      const body = proxy.relayed[0]!;
      assert.ok(body.includes(b64), "the damaged body still holds the Secret's data");
      const flipped = body.indexOf(b64) - 1;
      const native = (() => {
        try {
          JSON.parse(body);
        } catch (e) {
          return (e as Error).message;
        }
      })();
      assert.ok(native?.includes(b64.slice(0, 8)), `Node's own message quotes the data: ${native}`);

      assert.match(
        err.message,
        new RegExp(
          `^GET ${path}: HTTP 200: the response body \\(${body.length} characters\\) is not valid JSON at line 1, column ${flipped + 1} \\(position ${flipped}\\): expected a value$`,
        ),
      );
      const read = await makeWriter(client, "test")
        .readSecret({ metadata: { namespace: ns } }, "garbled")
        .then(
          () => assert.fail("readSecret must fail"),
          (e: unknown) => e as Error,
        );
      assert.match(read.message, new RegExp(`^read Secret ${ns}/garbled: GET ${path}: HTTP 200: the response body`));
      for (const e of [err, read]) {
        for (const secret of [password, b64, b64.slice(0, 8), b64.slice(-8)]) {
          assert.ok(!e.message.includes(secret), `the error quotes the Secret: ${e.message}`);
          assert.ok(!JSON.stringify(e).includes(secret), "nor does any property of the error");
        }
        assert.ok(!(e.cause instanceof SyntaxError), "JSON.parse's error, which quotes the body, is not the cause");
      }
    } finally {
      await new Promise((r) => proxy.server.close(r));
    }
  });

  it("counts a request that got no answer as code <error>, with the path in the error", async () => {
    const port = await freePort(); // nothing listens here
    const kc = loadKubeConfig(cp.kubeconfigPath);
    kc.clusters = kc.clusters.map((c) => ({ ...c, server: `https://127.0.0.1:${port}` }));
    const client = new KubeClient(kc, new Registry());
    await assert.rejects(
      client.request({ method: "GET", path: "/api/v1/namespaces" }),
      /GET \/api\/v1\/namespaces: .*ECONNREFUSED/,
    );
    await assert.rejects(
      client.watch("/api/v1/namespaces", {}, new AbortController().signal),
      /watch \/api\/v1\/namespaces: .*ECONNREFUSED/,
    );
    assert.equal(await client.requestCount({ code: "<error>" }), 2);
  });

  it("loads a kubeconfig file, the in-cluster ServiceAccount, or fails clearly", async () => {
    assert.equal(loadKubeConfig(cp.kubeconfigPath).getCurrentCluster()?.server, cp.url);
    await withEnv({ KUBECONFIG: cp.kubeconfigPath }, () =>
      assert.equal(loadKubeConfig().getCurrentCluster()?.server, cp.url),
    );
    await withEnv(
      { KUBECONFIG: undefined, KUBERNETES_SERVICE_HOST: "127.0.0.1", KUBERNETES_SERVICE_PORT: "6443" },
      () => {
        const kc = loadKubeConfig();
        assert.equal(kc.getCurrentCluster()?.server, "https://127.0.0.1:6443");
        assert.equal(kc.getCurrentCluster()?.caFile, "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt");
      },
    );
    const emptyHome = await mkdtemp(join(tmpdir(), "rqo-nohome-"));
    await withEnv({ KUBECONFIG: undefined, KUBERNETES_SERVICE_HOST: undefined, HOME: emptyHome }, () => {
      assert.throws(
        () => loadKubeConfig(),
        /no Kubernetes cluster configured: pass a kubeconfig, set KUBECONFIG, or run in a Pod/,
      );
    });
  });
});
