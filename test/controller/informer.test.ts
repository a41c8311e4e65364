import { strict as assert } from "node:assert";
import { performance } from "node:perf_hooks";
import { CoreV1Api, type V1ConfigMap } from "@kubernetes/client-node";
import { Registry } from "prom-client";
import {
  LAST_APPLIED_ANNOTATION,
  Informer,
  objectKey,
  watchNamespacesFromEnv,
  type InformerOptions,
  type RelistReason,
} from "../../controller/runtime/informer.js";
import { KubeClient } from "../../controller/runtime/kubeClient.js";
import { logger } from "../../controller/runtime/log.js";
import type { ControlPlane } from "../../testenv/controlplane.js";
import { createTestNamespace, sharedControlPlane } from "../../testenv/shared.js";
import { eventually } from "../../testenv/eventually.js";
import { grantRole, revokeRole } from "./support/rbac.js";
import { TcpProxy } from "./support/tcpProxy.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

type Recorded = { type: "add" | "update" | "delete"; key: string; value?: string; old?: string };

/** Everything an informer emits, in order. */
function record(inf: Informer<V1ConfigMap>) {
  const events: Recorded[] = [];
  const lists: RelistReason[] = [];
  inf.on("add", (o) => events.push({ type: "add", key: objectKey(o), value: o.data?.v }));
  inf.on("update", (o, old) => events.push({ type: "update", key: objectKey(o), value: o.data?.v, old: old.data?.v }));
  inf.on("delete", (o) => events.push({ type: "delete", key: objectKey(o) }));
  inf.on("listed", (i) => lists.push(i.reason));
  const has = (type: Recorded["type"], key: string, value?: string) =>
    events.some((e) => e.type === type && e.key === key && (value === undefined || e.value === value));
  return { events, lists, has };
}

describe("Informer", function () {
  this.timeout(90_000);
  let cp: ControlPlane;
  let admin: KubeClient;
  let core: CoreV1Api;
  let nsA: string;
  let nsB: string;
  let nsC: string;
  /** A ServiceAccount that may get/list/watch ConfigMaps in nsA and nsB only. */
  let saKubeconfig: string;
  let informers: Informer<V1ConfigMap>[] = [];
  let proxies: TcpProxy[] = [];

  const cm = (namespace: string, name: string, v: string, labels: Record<string, string> = {}) =>
    core.createNamespacedConfigMap({ namespace, body: { metadata: { name, labels }, data: { v } } });
  const setValue = (namespace: string, name: string, v: string) =>
    core.patchNamespacedConfigMap({ namespace, name, body: [{ op: "replace", path: "/data/v", value: v }] });
  const remove = (namespace: string, name: string) => core.deleteNamespacedConfigMap({ namespace, name });

  function informer(kubeconfig: string, opts: Partial<InformerOptions>): Informer<V1ConfigMap> {
    const inf = new Informer<V1ConfigMap>({
      client: KubeClient.load(new Registry(), kubeconfig),
      apiVersion: "v1",
      resource: "configmaps",
      backoff: { initialMs: 100, maxMs: 1000 },
      ...opts,
    });
    informers.push(inf);
    return inf;
  }

  /** Resolves once the informers' watches deliver: a synced informer may not be watching yet. */
  let markers = 0;
  async function watching(namespace: string, ...recs: Array<ReturnType<typeof record>>): Promise<void> {
    const name = `marker-${++markers}`;
    await cm(namespace, name, "1");
    await eventually(`${name} to arrive through the watch`, () =>
      recs.every((r) => r.has("add", `${namespace}/${name}`)),
    );
  }

  async function viaProxy(kubeconfig: string): Promise<{ proxy: TcpProxy; kubeconfig: string }> {
    const proxy = await TcpProxy.start(cp.url);
    proxies.push(proxy);
    return { proxy, kubeconfig: await proxy.kubeconfig(kubeconfig) };
  }

  before(async () => {
    logger.level = process.env.LOG_LEVEL ?? "silent";
    cp = await sharedControlPlane();
    admin = KubeClient.load(new Registry(), cp.kubeconfigPath);
    core = admin.api(CoreV1Api);
    [nsA, nsB, nsC] = [
      await createTestNamespace(cp, "inf-a"),
      await createTestNamespace(cp, "inf-b"),
      await createTestNamespace(cp, "inf-c"),
    ];
    await cp.kubectlOk(["create", "serviceaccount", "informer", "-n", nsA]);
    for (const namespace of [nsA, nsB]) {
      await grantRole(cp, {
        namespace,
        role: "cm-reader",
        serviceAccount: { namespace: nsA, name: "informer" },
        verbs: ["get", "list", "watch"],
        resources: ["configmaps"],
      });
    }
    saKubeconfig = await cp.serviceAccountKubeconfig(nsA, "informer");
  });

  afterEach(async () => {
    await Promise.all(informers.map((i) => i.stop()));
    await Promise.all(proxies.map((p) => p.close()));
    informers = [];
    proxies = [];
  });

  after(() => {
    logger.level = process.env.LOG_LEVEL ?? "info";
  });

  it("lists, then delivers add, update and delete, and keeps the cache, as a namespaced ServiceAccount", async () => {
    await cm(nsA, "before", "1");
    const inf = informer(saKubeconfig, { namespaces: [nsA] });
    const rec = record(inf);
    assert.equal(inf.hasSynced(), false);
    inf.start();
    await inf.waitForSync(10_000);
    assert.ok(inf.hasSynced());
    assert.deepEqual(rec.lists, ["initial"]);
    assert.ok(rec.has("add", `${nsA}/before`, "1"), "the listed object arrives as an add");
    assert.equal(inf.get(nsA, "before")?.kind, "ConfigMap", "listed objects carry their kind like watched ones");

    await cm(nsA, "new", "1");
    await eventually("add of new", () => rec.has("add", `${nsA}/new`, "1"));
    await setValue(nsA, "new", "2");
    await eventually("update of new", () =>
      rec.events.some((e) => e.type === "update" && e.key === `${nsA}/new` && e.value === "2" && e.old === "1"),
    );
    await remove(nsA, "before");
    await eventually("delete of before", () => rec.has("delete", `${nsA}/before`));

    assert.equal(inf.get(nsA, "before"), undefined);
    assert.equal(inf.getByKey(`${nsA}/new`)?.data?.v, "2");
    assert.deepEqual(
      inf.list(nsA).map((o) => o.metadata?.name),
      ["new"],
    );
    assert.deepEqual(rec.lists, ["initial"], "no re-list was needed");
  });

  it("in namespace-limited mode lists and watches only its namespaces (a Role in each is enough)", async () => {
    const inf = informer(saKubeconfig, { namespaces: [nsA, nsB] });
    const rec = record(inf);
    inf.start();
    await inf.waitForSync(10_000);
    await cm(nsC, "elsewhere", "1");
    await cm(nsB, "in-b", "1");
    await cm(nsA, "in-a", "1");
    await eventually("both namespaces' adds", () => rec.has("add", `${nsA}/in-a`) && rec.has("add", `${nsB}/in-b`));
    await new Promise((r) => setTimeout(r, 300));
    assert.ok(!rec.events.some((e) => e.key.startsWith(`${nsC}/`)), "nothing from the unwatched namespace");
    assert.deepEqual(new Set(inf.list().map((o) => o.metadata?.namespace)), new Set([nsA, nsB]));
    assert.equal(inf.list(nsB).length, 1);
  });

  it("parses WATCH_NAMESPACES: a comma-separated list, blank meaning all namespaces", () => {
    assert.deepEqual(watchNamespacesFromEnv({ WATCH_NAMESPACES: " a, b,,a ,c" }), ["a", "b", "c"]);
    assert.equal(watchNamespacesFromEnv({ WATCH_NAMESPACES: " , " }), undefined);
    assert.equal(watchNamespacesFromEnv({}), undefined);
  });

  it("watches all namespaces with a label selector", async () => {
    const label = `sel-${process.pid}`;
    const inf = informer(cp.kubeconfigPath, { labelSelector: `test=${label}` });
    const rec = record(inf);
    inf.start();
    await inf.waitForSync(10_000);
    await cm(nsC, "unlabelled", "1");
    await cm(nsC, "labelled", "1", { test: label });
    await cm(nsA, "labelled", "1", { test: label });
    await eventually(
      "labelled adds in two namespaces",
      () => rec.has("add", `${nsC}/labelled`) && rec.has("add", `${nsA}/labelled`),
    );
    assert.ok(!rec.has("add", `${nsC}/unlabelled`));
    assert.equal(inf.list().length, 2);
  });

  it("indexes objects by a key as they come, change and go, and caches them without managedFields or kubectl's last-applied copy", async () => {
    const inf = informer(cp.kubeconfigPath, {
      namespaces: [nsC],
      indexers: { group: (o) => o.metadata?.labels?.group },
    });
    inf.start();
    await inf.waitForSync(10_000);
    await cm(nsC, "ix-1", "1", { group: "g1" });
    await cm(nsC, "ix-2", "1", { group: "g1" });
    await core.createNamespacedConfigMap({
      namespace: nsC,
      body: {
        metadata: {
          name: "ix-3",
          labels: { group: "g2" },
          annotations: { [LAST_APPLIED_ANNOTATION]: '{"kind":"ConfigMap"}', kept: "yes" },
        },
        data: { v: "1" },
      },
    });
    const names = (group: string) =>
      inf
        .byIndex("group", group)
        .map((o) => o.metadata!.name)
        .sort()
        .join();
    await eventually("all three indexed", () => names("g1") === "ix-1,ix-2" && names("g2") === "ix-3");
    await core.patchNamespacedConfigMap({
      namespace: nsC,
      name: "ix-2",
      body: [{ op: "replace", path: "/metadata/labels/group", value: "g2" }],
    });
    await eventually("ix-2 moved to g2", () => names("g2") === "ix-2,ix-3");
    assert.equal(names("g1"), "ix-1");
    await remove(nsC, "ix-1");
    await eventually("ix-1 gone from g1", () => names("g1") === "");
    assert.ok(
      inf.list().length >= 2 && inf.list().every((o) => o.metadata?.managedFields === undefined),
      "no cached object keeps managedFields",
    );
    const ix3 = inf.get(nsC, "ix-3")!;
    assert.deepEqual(
      ix3.metadata?.annotations,
      { kept: "yes" },
      "the last-applied copy is dropped, other annotations kept",
    );
  });

  it("retries a failing list with backoff instead of stopping, and syncs once access is granted", async () => {
    const ns = await createTestNamespace(cp, "inf-late");
    const inf = informer(saKubeconfig, { namespaces: [ns] });
    inf.start();
    await assert.rejects(
      inf.waitForSync(800),
      /has not synced within 800 ms: inf-late-\S+ \(last error: GET .* HTTP 403 Forbidden/,
    );
    await grantRole(cp, {
      namespace: ns,
      role: "cm-reader",
      serviceAccount: { namespace: nsA, name: "informer" },
      verbs: ["get", "list", "watch"],
      resources: ["configmaps"],
    });
    await inf.waitForSync(10_000);
  });

  it("stops waiting for a sync when the caller cancels, saying so", async () => {
    const ns = await createTestNamespace(cp, "inf-never");
    const inf = informer(saKubeconfig, { namespaces: [ns] }); // no Role there: every list is 403
    inf.start();
    const cancel = new AbortController();
    setTimeout(() => cancel.abort(), 300);
    const started = Date.now();
    await assert.rejects(
      inf.waitForSync(60_000, cancel.signal),
      /has not synced before the wait was cancelled: inf-never-\S+ \(last error: GET .* HTTP 403 Forbidden/,
    );
    assert.ok(Date.now() - started < 2000, "the wait ends with the cancel, not the timeout");
  });

  it("reports a synced scope that can no longer watch as failing since its first failure, until it recovers", async () => {
    const ns = await createTestNamespace(cp, "inf-lose");
    await grantRole(cp, {
      namespace: ns,
      role: "cm-reader",
      serviceAccount: { namespace: nsA, name: "informer" },
      verbs: ["get", "list", "watch"],
      resources: ["configmaps"],
    });
    const { proxy, kubeconfig } = await viaProxy(saKubeconfig);
    const inf = informer(kubeconfig, { namespaces: [nsA, ns] });
    const rec = record(inf);
    inf.start();
    await inf.waitForSync(10_000);
    await watching(ns, rec);
    assert.equal(inf.failing(), undefined);

    // An open watch outlives its RBAC; resetting the connections makes the informer ask again.
    await revokeRole(cp, ns, "cm-reader");
    const cutAt = performance.now();
    proxy.cut();
    // Both watches break; the one in the namespace still allowed resumes, the other is refused.
    const refused = await eventually("the watch to be refused", () => {
      const f = inf.failing();
      return f?.namespace === ns && /HTTP 403 Forbidden/.test(f.error) && f;
    });
    assert.equal(refused.resource, "configmaps");
    assert.ok(refused.since >= cutAt && refused.since - cutAt < 1000, "failing since the reset, not the refusal");
    await sleep(2500); // several retries at this test's 100 ms to 1 s backoff
    const later = inf.failing();
    assert.ok(later, "still failing");
    assert.equal(later.namespace, ns, "the namespace still allowed works again");
    assert.match(later.error, /HTTP 403 Forbidden/);
    assert.equal(later.since, refused.since, "retries that fail again do not restart the clock");
    assert.equal(inf.hasSynced(), true, "the cache stays synced: it is stale, which only failing() tells");

    // revokeRole deleted only the binding.
    await cp.kubectlOk([
      "create",
      "rolebinding",
      "cm-reader",
      "-n",
      ns,
      "--role=cm-reader",
      `--serviceaccount=${nsA}:informer`,
    ]);
    await eventually("the scope to recover", () => inf.failing() === undefined, 10_000);
    await cm(ns, "after-regrant", "1");
    await eventually("events again", () => rec.has("add", `${ns}/after-regrant`));
  });

  it("resumes a broken watch from its last resourceVersion, without re-listing", async () => {
    const { proxy, kubeconfig } = await viaProxy(saKubeconfig);
    const inf = informer(kubeconfig, { namespaces: [nsB] });
    const rec = record(inf);
    inf.start();
    await inf.waitForSync(10_000);
    await watching(nsB, rec);
    proxy.cut();
    await cm(nsB, "after-cut", "1");
    await eventually("add after the connection was reset", () => rec.has("add", `${nsB}/after-cut`));
    assert.deepEqual(rec.lists, ["initial"]);
  });

  it("re-lists when the watchdog finds a watch silent, and synthesizes deletes for what vanished", async () => {
    await cm(nsB, "doomed", "1");
    const { proxy, kubeconfig } = await viaProxy(saKubeconfig);
    const inf = informer(kubeconfig, { namespaces: [nsB], watchdogMs: 1500 });
    const rec = record(inf);
    inf.start();
    await inf.waitForSync(10_000);
    assert.ok(inf.get(nsB, "doomed"));
    await watching(nsB, rec);
    proxy.freeze(); // the watch connection stays open but nothing arrives any more
    const frozenAt = Date.now();
    await remove(nsB, "doomed");
    await cm(nsB, "while-frozen", "1");
    await eventually(
      "the re-list to find the changes",
      () => rec.has("delete", `${nsB}/doomed`) && rec.has("add", `${nsB}/while-frozen`),
      10_000,
    );
    const tookMs = Date.now() - frozenAt;
    console.log(`      watchdog (1.5 s) re-listed a silent watch ${(tookMs / 1000).toFixed(1)} s after it froze`);
    assert.deepEqual(rec.lists, ["initial", "watchdog"]);
    assert.ok(tookMs >= 1400, `not before the watchdog period (${tookMs} ms)`);
    assert.equal(inf.get(nsB, "doomed"), undefined);
  });

  it("after an apiserver restart resumes watching, and re-lists when its resourceVersion is gone (410)", async () => {
    // `direct` resumes from its resourceVersion. `stale` sits behind a frozen connection, so it
    // misses a later change and every bookmark: its resourceVersion is older than the restarted
    // apiserver's watch cache and resuming gets 410 Gone.
    const direct = informer(saKubeconfig, { namespaces: [nsA] });
    const { proxy, kubeconfig } = await viaProxy(saKubeconfig);
    const stale = informer(kubeconfig, { namespaces: [nsA] });
    const recDirect = record(direct);
    const recStale = record(stale);
    direct.start();
    stale.start();
    await Promise.all([direct.waitForSync(10_000), stale.waitForSync(10_000)]);
    await watching(nsA, recDirect, recStale);
    proxy.freeze();
    await cm(nsC, `bump-${Date.now()}`, "1"); // moves the global resourceVersion past `stale`'s
    const restart = Date.now();
    await cp.restartApiServer();
    console.log(`      kube-apiserver restarted in ${((Date.now() - restart) / 1000).toFixed(1)} s`);
    await cm(nsA, "after-restart", "1");
    await eventually(
      "both informers to see the object created after the restart",
      () => recDirect.has("add", `${nsA}/after-restart`) && recStale.has("add", `${nsA}/after-restart`),
      20_000,
      { state: () => ({ direct: recDirect.lists, stale: recStale.lists }) },
    );
    assert.deepEqual(recStale.lists, ["initial", "gone"], "the stale informer re-listed after 410 Gone");
    assert.ok(recDirect.lists.length <= 2, `direct informer lists: ${recDirect.lists.join(",")}`);
    await setValue(nsA, "after-restart", "2");
    await eventually(
      "updates keep flowing",
      () => recDirect.has("update", `${nsA}/after-restart`, "2") && recStale.has("update", `${nsA}/after-restart`, "2"),
    );
  });
});
