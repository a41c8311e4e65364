// Scale test of the controller: N RqClusters (3 voters each) created at once on a fresh test
// control plane per size, with the real controller process (one replica, leader election on,
// as its ServiceAccount with the RBAC from deploy/). The bench plays kubelet, marking every new
// Pod Ready, and measures time to convergence, the controller's API requests while creating and
// during an idle minute after, and its peak RSS. Then, with the controller stopped, it writes the
// same objects with a plain client (controller-floor.ts) and prints convergence as a multiple of
// that floor. Last, the cost of the rqlite_node_* metrics' scrape at --scrape-clusters clusters
// on real rqlited nodes (controller-scrape.ts; 0 skips it).
//
//   npm run bench:controller -- [--sizes 1,100,1000] [--json FILE] [--workers N] [--idle SECONDS]
//                                [--timeout SECONDS] [--parallelism N] [--tsx] [--cpu-prof] [--heap-prof]
//                                [--scrape-clusters 100] [--scrape-seconds 60]
//
// --cpu-prof and --heap-prof write the controller's V8 profiles per size into the log folder:
// a CPU profile of its whole life, and heap snapshots at convergence and after the idle minute
// plus a sampling heap profile of what is live at exit. Summarise them with hack/profile-top.ts.
// Profiling slows the controller and a snapshot inflates its RSS: measure without them.
//
// A fresh control plane per size, not a namespace per size on one: the controller watches every
// namespace, so the clusters of an earlier size would sit in its caches (inflating RSS and every
// list) and in etcd and the apiserver's watch cache (slowing every write); each size would
// measure its predecessors too.
import { copyFile, mkdir, readFile, writeFile } from "node:fs/promises";
import { availableParallelism, loadavg } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { performance } from "node:perf_hooks";
import { parseArgs } from "node:util";
import { startControlPlane, type ControlPlane } from "../testenv/controlplane.js";
import { operatorKubeconfig, startController, type ControllerProcess, type Sample } from "../testenv/controller.js";
import { compile } from "./compile.js";
import { BenchApi, Limiter } from "./controller-api.js";
import { measureFloor, type FloorResult } from "./controller-floor.js";
import { measureScrapeCost, type ScrapeCost } from "./controller-scrape.js";
import { Observer } from "./controller-observer.js";
import { cpuSecondsOf, machineBusySeconds, memoryOf, pidNamed } from "./procstats.js";

const root = fileURLToPath(new URL("..", import.meta.url));

const TARGETS = {
  /** Convergence of the largest size (1000 clusters: 3000 Pods and PVCs, 2000 Services). */
  convergeSeconds: 60,
  peakRssMB: 250,
  /** POST, PATCH and DELETE while idle; Lease renewals are PUTs and reads are GETs. */
  idleWrites: 0,
};
const TARGET_SIZE = 1000;
const OPERATOR_NS = "rqlite-operator-system";
const BENCH_NS = "bench";
const WARMUP_NS = "bench-warmup";
const FLOOR_NS = "bench-floor";
const WRITES = ["POST", "PATCH", "DELETE"];
const MB = 1024 * 1024;

type ByMethod = Record<string, number>;

interface Requests {
  total: number;
  byMethod: ByMethod;
  /** By HTTP status code ("<error>": no answer); 429 means the server's APF throttled us. */
  byCode: Record<string, number>;
  perCluster: ByMethod;
}

interface SizeResult {
  clusters: number;
  converged: boolean;
  error?: string;
  /** Client side: the last create answered. */
  createdMs: number;
  childrenMs?: number;
  runningMs?: number;
  convergedMs?: number;
  create: Requests;
  idle?: Requests & { seconds: number; settleMs: number; reconciles: number };
  events: number;
  controller: {
    peakRssMB: number;
    rssAfterIdleMB?: number;
    cpuSecondsCreate: number;
    cpuSecondsIdle?: number;
    reconciles: number;
    reconcileErrors: number;
    meanReconcileMs: number;
    meanQueueWaitMs: number;
    meanRequestMsByVerb: ByMethod;
    stillLeader: boolean;
  };
  /** CPU seconds while creating; `others`: every other process on the machine. */
  cpuSecondsCreate: { apiserver: number; etcd: number; bench: number; others: number };
  kubeletErrors: string[];
  /**
   * The same objects written by a plain client with the same parallelism on the same API server,
   * after the controller stopped (controller-floor.ts), and convergence as a multiple of it.
   */
  floor?: FloorResult & { convergedRatio?: number };
  /** The most frequent reconcile errors the controller logged, with "rq-N" for cluster names. */
  reconcileErrors: Array<{ count: number; err: string }>;
}

const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
const round = (x: number, digits = 1) => Math.round(x * 10 ** digits) / 10 ** digits;

/** rest_client_requests_total keyed "METHOD CODE". */
async function requestCounts(c: ControllerProcess): Promise<Map<string, number>> {
  return new Map(
    (await c.samples("rest_client_requests_total")).map((s) => [`${s.labels.method} ${s.labels.code}`, s.value]),
  );
}

function requestDelta(before: Map<string, number>, after: Map<string, number>, clusters: number): Requests {
  const byMethod: ByMethod = {};
  const byCode: Record<string, number> = {};
  for (const [key, value] of after) {
    const d = value - (before.get(key) ?? 0);
    if (d === 0) continue;
    const [method, code] = key.split(" ") as [string, string];
    byMethod[method] = (byMethod[method] ?? 0) + d;
    byCode[code] = (byCode[code] ?? 0) + d;
  }
  const perCluster = Object.fromEntries(Object.entries(byMethod).map(([m, n]) => [m, round(n / clusters, 2)]));
  return { total: sum(Object.values(byMethod)), byMethod, byCode, perCluster };
}

/** Mean of a histogram or summary in ms, from its _sum and _count samples (label-filtered). */
function meanMs(samples: Sample[], name: string, match: (s: Sample) => boolean = () => true): number {
  const total = sum(samples.filter((s) => s.labels.__name === `${name}_sum` && match(s)).map((s) => s.value));
  const count = sum(samples.filter((s) => s.labels.__name === `${name}_count` && match(s)).map((s) => s.value));
  return count ? round((total / count) * 1000, 2) : 0;
}

const STATS = [
  "controller_runtime_reconcile_total",
  "controller_runtime_reconcile_errors_total",
  "controller_runtime_reconcile_time_seconds_sum",
  "controller_runtime_reconcile_time_seconds_count",
  "workqueue_queue_duration_seconds_sum",
  "workqueue_queue_duration_seconds_count",
  "rest_client_request_duration_seconds_sum",
  "rest_client_request_duration_seconds_count",
];

/** The samples of the STATS metrics, each tagged with its metric name as `__name`. */
async function scrapeStats(c: ControllerProcess): Promise<Sample[]> {
  const all = await Promise.all(
    STATS.map(async (n) => (await c.samples(n)).map((s) => ({ ...s, labels: { ...s.labels, __name: n } }))),
  );
  return all.flat();
}

/** What the counters in `after` gained since `before`: the warm-up's share taken out. */
function sinceBefore(before: Sample[], after: Sample[]): Sample[] {
  const key = (s: Sample) => JSON.stringify(Object.entries(s.labels).sort());
  const was = new Map(before.map((s) => [key(s), s.value]));
  return after.map((s) => ({ ...s, value: s.value - (was.get(key(s)) ?? 0) }));
}

/** Waits until the work queue is empty and nothing is being processed, then 1 s more. */
async function settle(c: ControllerProcess, timeoutMs = 30_000): Promise<number> {
  const started = performance.now();
  let quietSince: number | undefined;
  while (performance.now() - started < timeoutMs) {
    const busy = (await c.counter("workqueue_depth")) + (await c.counter("workqueue_unfinished_work_seconds"));
    const now = performance.now();
    quietSince = busy === 0 ? (quietSince ?? now) : undefined;
    if (quietSince !== undefined && now - quietSince >= 1000) break;
    await new Promise((r) => setTimeout(r, 250));
  }
  return Math.round(performance.now() - started);
}

interface Setup {
  /** Node's arguments that run the controller: the compiled main.js, or the source through tsx. */
  entry: string[];
  /** Where the controller's log of each size is kept. */
  logDir: string;
  /** Write a V8 CPU profile of the controller per size into logDir. */
  cpuProf: boolean;
  /** Write heap snapshots (at convergence, after idle) and a sampling heap profile into logDir. */
  heapProf: boolean;
  workers?: number;
  idleSeconds: number;
  timeoutSeconds: number;
  parallelism: number;
}

async function runSize(n: number, setup: Setup): Promise<SizeResult> {
  // 1000 clusters have 1000 ClusterIP Services; the harness's /24 holds 254.
  const cp = await startControlPlane({ extraApiServerArgs: ["--service-cluster-ip-range=10.0.0.0/16"] });
  const api = new BenchApi(cp, setup.parallelism * 2);
  let controller: ControllerProcess | undefined;
  try {
    return await measureSize(n, setup, cp, api, (c) => (controller = c));
  } finally {
    await controller?.stop();
    // The control plane's folder goes with it; the controller's log is worth keeping.
    if (controller) await copyFile(controller.proc.logFile, join(setup.logDir, `controller-${n}.log`));
    await api.close();
    await cp.stop();
  }
}

/** The distinct reconcile errors in a controller log, most frequent first. */
async function reconcileErrors(logFile: string): Promise<Array<{ count: number; err: string }>> {
  const counts = new Map<string, number>();
  for (const line of (await readFile(logFile, "utf8")).split("\n")) {
    if (!line.includes("processing failed")) continue;
    const err = String((JSON.parse(line) as { err?: string }).err).replace(/rq-\d+/g, "rq-N");
    counts.set(err, (counts.get(err) ?? 0) + 1);
  }
  return [...counts]
    .sort((a, b) => b[1] - a[1])
    .slice(0, 3)
    .map(([err, count]) => ({ count, err }));
}

/**
 * Waits until the controller has reconciled a paused cluster in a namespace of its own: caches
 * that have synced may still have watches on the way, and a fresh apiserver's first watch of a
 * new CRD can take seconds, which would count against the smallest size.
 */
async function warmUp(cp: ControlPlane, api: BenchApi, controller: ControllerProcess): Promise<void> {
  await cp.kubectlOk(["create", "namespace", WARMUP_NS]);
  const path = `/apis/rqlite.io/v1alpha1/namespaces/${WARMUP_NS}/rqclusters`;
  await api.request("POST", path, {
    apiVersion: "rqlite.io/v1alpha1",
    kind: "RqCluster",
    metadata: { name: "warmup" },
    spec: { replicas: 3, paused: true },
  });
  for (const deadline = Date.now() + 30_000; ;) {
    const cluster = await api.request<{ status?: { phase?: string } }>("GET", `${path}/warmup`);
    if (cluster.status?.phase === "Paused") return;
    if (Date.now() > deadline)
      throw new Error(`the controller did not reconcile a paused cluster within 30 s; log ${controller.proc.logFile}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function measureSize(
  n: number,
  setup: Setup,
  cp: ControlPlane,
  api: BenchApi,
  started: (c: ControllerProcess) => void,
): Promise<SizeResult> {
  const kubeconfig = await operatorKubeconfig(cp);
  await cp.kubectlOk(["create", "namespace", BENCH_NS]);
  const controller = await startController({
    kubeconfig,
    logDir: cp.dir,
    name: `controller-${n}`,
    node: [
      ...(setup.cpuProf
        ? ["--cpu-prof", `--cpu-prof-dir=${setup.logDir}`, `--cpu-prof-name=controller-${n}.cpuprofile`]
        : []),
      ...(setup.heapProf
        ? [
            "--heap-prof",
            `--heap-prof-dir=${setup.logDir}`,
            `--heap-prof-name=controller-${n}.heapprofile`,
            "--heapsnapshot-signal=SIGUSR2",
            `--diagnostic-dir=${setup.logDir}`,
          ]
        : []),
      ...setup.entry,
    ],
    args: [
      "--leader-elect",
      `--leader-election-namespace=${OPERATOR_NS}`,
      ...(setup.workers ? [`--workers=${setup.workers}`] : []),
    ],
    // Info, as deployed: the harness's debug default would measure logging.
    env: { LOG_LEVEL: "info" },
  });
  started(controller);
  const pid = controller.proc.child.pid!;
  const [etcdPid, apiserverPid] = [pidNamed(cp.pids, "etcd"), pidNamed(cp.pids, "kube-apiserver")];
  for (
    const deadline = Date.now() + 30_000;
    !(await controller.isLeader()) || !(await fetch(`${controller.healthUrl}/readyz`)).ok;
  ) {
    if (Date.now() > deadline)
      throw new Error(`controller did not lead with synced caches within 30 s; log ${controller.proc.logFile}`);
    await new Promise((r) => setTimeout(r, 200));
  }

  await warmUp(cp, api, controller);
  const observer = new Observer(api, BENCH_NS, n, setup.parallelism);
  await observer.start();
  const before = await requestCounts(controller);
  const statsBefore = await scrapeStats(controller);
  const cpu0 = {
    controller: cpuSecondsOf(pid),
    apiserver: cpuSecondsOf(apiserverPid),
    etcd: cpuSecondsOf(etcdPid),
    bench: process.cpuUsage(),
    machine: machineBusySeconds(),
  };

  observer.markStart();
  const t0 = performance.now();
  let last = { line: "", at: 0 };
  const progress = setInterval(() => {
    const p = observer.progress();
    const line =
      `clusters ${p.clusters} pods ${p.children.pods} (marked ready ${p.markedReady}) pvcs ${p.children.persistentvolumeclaims} ` +
      `svcs ${p.children.services} pdbs ${p.children.poddisruptionbudgets} netpols ${p.children.networkpolicies} | complete ${p.complete} running ${p.running}`;
    // A stalled run says so every 30 s instead of repeating itself every 3.
    if (line === last.line && performance.now() - last.at < 30_000) return;
    last = { line, at: performance.now() };
    console.log(
      `  [${n}] ${((performance.now() - t0) / 1000).toFixed(1)}s ${line} ` +
        `| controller rss ${Math.round(memoryOf(pid).rssBytes / MB)} MB cpu ${round(cpuSecondsOf(pid) - cpu0.controller)} s`,
    );
  }, 3000);
  const creates = new Limiter(setup.parallelism);
  let createdMs = 0;
  let error: string | undefined;
  try {
    await Promise.all(
      Array.from({ length: n }, (_, i) =>
        creates.run(() =>
          api.request("POST", `/apis/rqlite.io/v1alpha1/namespaces/${BENCH_NS}/rqclusters`, {
            apiVersion: "rqlite.io/v1alpha1",
            kind: "RqCluster",
            metadata: { name: `rq-${i}` },
            spec: { replicas: 3 },
          }),
        ),
      ),
    );
    createdMs = Math.round(performance.now() - t0);
    await observer.converged(setup.timeoutSeconds * 1000);
  } catch (err) {
    error = (err as Error).message;
  } finally {
    clearInterval(progress);
  }
  const benchCpu = process.cpuUsage(cpu0.bench);
  const cpuCreate = {
    controller: round(cpuSecondsOf(pid) - cpu0.controller, 2),
    apiserver: round(cpuSecondsOf(apiserverPid) - cpu0.apiserver, 2),
    etcd: round(cpuSecondsOf(etcdPid) - cpu0.etcd, 2),
    bench: round((benchCpu.user + benchCpu.system) / 1e6, 2),
    machine: machineBusySeconds() - cpu0.machine,
  };
  // The machine is shared: what else ran says how much of it the measured processes had.
  const others = Math.max(
    0,
    round(cpuCreate.machine - cpuCreate.controller - cpuCreate.apiserver - cpuCreate.etcd - cpuCreate.bench, 2),
  );
  const afterCreate = await requestCounts(controller);
  const stats = sinceBefore(statsBefore, await scrapeStats(controller));
  const verbs = [
    ...new Set(
      stats
        .filter((s) => s.labels.__name === "rest_client_request_duration_seconds_count" && s.value > 0)
        .map((s) => s.labels.verb!),
    ),
  ];
  const result: SizeResult = {
    clusters: n,
    converged: error === undefined,
    ...(error ? { error } : {}),
    createdMs,
    ...observer.milestones,
    create: requestDelta(before, afterCreate, n),
    events: await api.count(`/api/v1/namespaces/${BENCH_NS}/events`),
    controller: {
      peakRssMB: 0,
      cpuSecondsCreate: cpuCreate.controller,
      reconciles: sum(
        stats.filter((s) => s.labels.__name === "controller_runtime_reconcile_total").map((s) => s.value),
      ),
      reconcileErrors: sum(
        stats.filter((s) => s.labels.__name === "controller_runtime_reconcile_errors_total").map((s) => s.value),
      ),
      meanReconcileMs: meanMs(stats, "controller_runtime_reconcile_time_seconds"),
      meanQueueWaitMs: meanMs(stats, "workqueue_queue_duration_seconds"),
      meanRequestMsByVerb: Object.fromEntries(
        verbs.map((v) => [v, meanMs(stats, "rest_client_request_duration_seconds", (s) => s.labels.verb === v)]),
      ),
      stillLeader: false,
    },
    cpuSecondsCreate: { apiserver: cpuCreate.apiserver, etcd: cpuCreate.etcd, bench: cpuCreate.bench, others },
    kubeletErrors: observer.errors.slice(0, 10),
    reconcileErrors: await reconcileErrors(controller.proc.logFile),
  };

  if (setup.heapProf) await heapSnapshot(controller, `at convergence of ${n}`);
  if (!error) {
    const settleMs = await settle(controller);
    const idleFrom = await requestCounts(controller);
    const reconciles0 = await controller.counter("controller_runtime_reconcile_total");
    const cpuIdle0 = cpuSecondsOf(pid);
    console.log(
      `  [${n}] converged in ${result.convergedMs} ms; settled ${settleMs} ms; idle for ${setup.idleSeconds} s`,
    );
    await new Promise((r) => setTimeout(r, setup.idleSeconds * 1000));
    result.idle = {
      ...requestDelta(idleFrom, await requestCounts(controller), n),
      seconds: setup.idleSeconds,
      settleMs,
      reconciles: (await controller.counter("controller_runtime_reconcile_total")) - reconciles0,
    };
    result.controller.cpuSecondsIdle = round(cpuSecondsOf(pid) - cpuIdle0, 2);
    result.controller.rssAfterIdleMB = round(memoryOf(pid).rssBytes / MB);
  }
  result.controller.peakRssMB = round(memoryOf(pid).peakRssBytes / MB);
  result.controller.stillLeader = controller.proc.child.exitCode === null && (await controller.isLeader());
  if (setup.heapProf) await heapSnapshot(controller, `after the idle minute of ${n}`);
  // The floor runs with the controller stopped, or it would reconcile the floor's clusters; the
  // API server still holds the measured run's objects, so the floor errs on the slow side.
  await controller.stop();
  await cp.kubectlOk(["create", "namespace", FLOOR_NS]);
  console.log(
    `  [${n}] floor: the same objects with a plain client, ${setup.parallelism} writes and ${setup.parallelism} Pod status patches in flight`,
  );
  const floor = await measureFloor(api, FLOOR_NS, n, setup.parallelism);
  result.floor = {
    ...floor,
    ...(result.convergedMs !== undefined ? { convergedRatio: round(result.convergedMs / floor.ms, 2) } : {}),
  };
  return result;
}

/**
 * Asks the controller for a heap snapshot (--heapsnapshot-signal) and waits until it answers
 * again: V8 writes the snapshot on the main thread, so the next metrics scrape waits for it.
 */
async function heapSnapshot(c: ControllerProcess, when: string): Promise<void> {
  const t0 = performance.now();
  c.proc.child.kill("SIGUSR2");
  await new Promise((r) => setTimeout(r, 500));
  await c.counter("workqueue_depth");
  console.log(`  heap snapshot ${when}: ${round((performance.now() - t0) / 1000)} s`);
}

function misses(results: SizeResult[]): string[] {
  const out: string[] = [];
  for (const r of results) {
    if (!r.converged) out.push(`${r.clusters}: did not converge (${r.error})`);
    if (r.kubeletErrors.length) out.push(`${r.clusters}: the bench's kubelet failed: ${r.kubeletErrors[0]}`);
    if (!r.controller.stillLeader) out.push(`${r.clusters}: the controller lost the lease or exited`);
    if (r.controller.peakRssMB >= TARGETS.peakRssMB)
      out.push(`${r.clusters}: peak RSS ${r.controller.peakRssMB} MB >= ${TARGETS.peakRssMB} MB`);
    const idleWrites = sum(WRITES.map((m) => r.idle?.byMethod[m] ?? 0));
    if (r.idle && idleWrites > TARGETS.idleWrites) out.push(`${r.clusters}: ${idleWrites} writes while idle`);
    if (r.clusters === TARGET_SIZE && (r.convergedMs ?? Infinity) >= TARGETS.convergeSeconds * 1000) {
      out.push(
        `${r.clusters}: converged in ${r.convergedMs === undefined ? "never" : `${r.convergedMs / 1000} s`} >= ${TARGETS.convergeSeconds} s`,
      );
    }
    if (r.create.byCode["429"] || r.idle?.byCode["429"])
      out.push(`${r.clusters}: the apiserver throttled the controller (429)`);
  }
  return out;
}

/** Idle requests by verb per minute of the idle period. */
function perMinute(idle: SizeResult["idle"]): ByMethod | undefined {
  if (!idle) return undefined;
  return Object.fromEntries(Object.entries(idle.byMethod).map(([m, n]) => [m, round((n * 60) / idle.seconds)]));
}

function printTable(results: SizeResult[]): void {
  const fmt = (m: ByMethod | undefined) =>
    Object.entries(m ?? {})
      .sort()
      .map(([k, v]) => `${k} ${v}`)
      .join(", ") || "none";
  console.table(
    Object.fromEntries(
      results.map((r) => [
        r.clusters,
        {
          "converged s": r.convergedMs === undefined ? "no" : r.convergedMs / 1000,
          "floor s": r.floor ? r.floor.ms / 1000 : "-",
          "converged / floor": r.floor?.convergedRatio ?? "-",
          "children s": r.childrenMs === undefined ? "-" : r.childrenMs / 1000,
          "running s": r.runningMs === undefined ? "-" : r.runningMs / 1000,
          "create req/cluster": fmt(r.create.perCluster),
          "idle req/min": fmt(perMinute(r.idle)),
          "idle CPU s": r.controller.cpuSecondsIdle ?? "-",
          "idle reconciles": r.idle?.reconciles ?? "-",
          "peak RSS MB": r.controller.peakRssMB,
          "RSS after idle MB": r.controller.rssAfterIdleMB ?? "-",
          "queue wait ms": r.controller.meanQueueWaitMs,
          "ctrl CPU s": r.controller.cpuSecondsCreate,
          "apiserver CPU s": r.cpuSecondsCreate.apiserver,
          "others CPU s": r.cpuSecondsCreate.others,
        },
      ]),
    ),
  );
  for (const r of results) {
    for (const e of r.reconcileErrors) console.log(`  ${r.clusters}: ${e.count} x reconcile error: ${e.err}`);
    console.log(
      `  ${r.clusters}: ${r.controller.reconciles} reconciles (${r.controller.reconcileErrors} errors), mean ${r.controller.meanReconcileMs} ms, ` +
        `mean queue wait ${r.controller.meanQueueWaitMs} ms; mean request ms ${fmt(r.controller.meanRequestMsByVerb)}; ${r.events} Events; ` +
        `codes ${fmt(r.create.byCode)}; etcd CPU ${r.cpuSecondsCreate.etcd} s, bench CPU ${r.cpuSecondsCreate.bench} s`,
    );
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      sizes: { type: "string", default: "1,100,1000" },
      json: { type: "string" },
      workers: { type: "string" },
      idle: { type: "string", default: "60" },
      timeout: { type: "string", default: "300" },
      parallelism: { type: "string", default: "16" },
      tsx: { type: "boolean", default: false },
      "cpu-prof": { type: "boolean", default: false },
      "heap-prof": { type: "boolean", default: false },
      "scrape-clusters": { type: "string", default: "100" },
      "scrape-seconds": { type: "string", default: "60" },
    },
  });
  const sizes = values.sizes.split(",").map(Number);
  const numbers = {
    idle: Number(values.idle),
    timeout: Number(values.timeout),
    parallelism: Number(values.parallelism),
    workers: values.workers === undefined ? undefined : Number(values.workers),
  };
  if (!sizes.every((s) => Number.isInteger(s) && s > 0))
    throw new Error(`--sizes ${values.sizes}: expected positive integers, comma-separated`);
  if (
    !Object.values(numbers).every((x) => x === undefined || x >= 0) ||
    !(numbers.parallelism >= 1) ||
    numbers.workers === 0
  ) {
    throw new Error("--idle, --timeout, --parallelism and --workers must be positive numbers");
  }

  // Under the checkout, so the compiled files find node_modules.
  const build = join(root, ".tmp", "bench-controller");
  const logDir = join(build, "logs");
  await mkdir(logDir, { recursive: true });
  let entry = ["--import", "tsx", join(root, "controller/main.ts")];
  if (!values.tsx) {
    await compile(root, build, [join(root, "controller/main.ts")]);
    entry = [join(build, "controller/main.js")];
  }
  const setup: Setup = {
    entry,
    logDir,
    cpuProf: values["cpu-prof"],
    heapProf: values["heap-prof"],
    workers: numbers.workers,
    idleSeconds: numbers.idle,
    timeoutSeconds: numbers.timeout,
    parallelism: numbers.parallelism,
  };
  console.log(
    `controller bench (${values.tsx ? "tsx" : "compiled"}): sizes ${sizes.join(", ")}, 3 voters each, workers ${numbers.workers ?? "default"}, ` +
      `${numbers.parallelism} parallel creates and kubelet patches, idle ${numbers.idle} s; ${availableParallelism()} CPUs, load ${loadavg()
        .map((l) => l.toFixed(1))
        .join(" ")}`,
  );
  const results: SizeResult[] = [];
  const scrapeClusters = Number(values["scrape-clusters"]);
  const scrapeSeconds = Number(values["scrape-seconds"]);
  if (!(Number.isInteger(scrapeClusters) && scrapeClusters >= 0 && scrapeSeconds > 0))
    throw new Error("--scrape-clusters must be a whole number >= 0 and --scrape-seconds positive");
  let scrape: ScrapeCost | undefined;
  // The test harness unrefs its processes and reaper (mocha keeps a test run alive); here
  // nothing else would keep the event loop alive while it waits for them to exit.
  const keepAlive = setInterval(() => {}, 60_000);
  try {
    for (const n of sizes) {
      console.log(`${n} clusters: starting a fresh control plane and the controller`);
      results.push(await runSize(n, setup));
    }
    if (scrapeClusters > 0) {
      console.log(`node metrics: scraping ${scrapeClusters} clusters of 3 real rqlited nodes for ${scrapeSeconds} s`);
      scrape = await measureScrapeCost(scrapeClusters, scrapeSeconds);
    }
  } finally {
    clearInterval(keepAlive);
  }
  printTable(results);
  if (scrape) {
    console.log(
      `node metrics at ${scrape.clusters} clusters (every ${scrape.intervalSeconds} s): ${scrape.requestsPerSecond} requests/s to rqlite ` +
        `(${scrape.failedRequests} failed), scraper CPU ${scrape.cpuPercentOfOneCore}% of one core ` +
        `(${scrape.cpuSecondsPerMinutePer1000Nodes} CPU-s per minute per 1000 nodes), ${scrape.series} rqlite_node_* series`,
    );
  }
  console.log(`controller logs: ${logDir}`);
  const missed = misses(results);
  const convergeTarget = sizes.includes(TARGET_SIZE)
    ? `${TARGET_SIZE} clusters converged < ${TARGETS.convergeSeconds} s, `
    : "";
  console.log(
    missed.length === 0
      ? `targets met: ${convergeTarget}peak RSS < ${TARGETS.peakRssMB} MB, no writes while idle`
      : `targets missed: ${missed.join("; ")}`,
  );
  if (values.json) {
    const report = {
      runtime: values.tsx ? "tsx" : "compiled",
      node: process.version,
      cpus: availableParallelism(),
      workers: numbers.workers ?? "default",
      targets: TARGETS,
      results,
      ...(scrape ? { scrape } : {}),
      met: missed.length === 0,
      misses: missed,
    };
    await writeFile(values.json, `${JSON.stringify(report, null, 2)}\n`);
    console.log(`wrote ${values.json}`);
  }
  process.exitCode = missed.length === 0 ? 0 : 1;
}

await main();
