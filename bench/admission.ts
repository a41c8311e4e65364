// What admission adds to a write, as a user sees it: dry-run creates of an RqCluster through a
// real kube-apiserver, into namespaces that differ only in which webhook server the API server
// calls for them (by each configuration's namespaceSelector):
// - off: none (the CRD schema alone);
// - bare: bench/webhook-bare.ts, which answers `allowed` without reading the object: what any
//   webhook costs the API server (the AdmissionReview, the TLS call, the matchConditions);
// - webhook: this checkout's webhook;
// - baseline: with --baseline REF, the webhook of that git commit, built in a temporary
//   worktree, so a change is measured before and after in one run on one machine state.
// Each round creates once into every namespace in a shuffled order, one request at a time, so a
// change in what else the machine runs moves every column alike. An RqCluster create calls two
// webhooks (mutate, then validate): the figure per call is half the difference to `off`.
//
//   npm run bench:admission -- [--count 300] [--warmup 30] [--baseline REF] [--json FILE] [--tsx]
//
// Also printed: each webhook's own time per call (from its log lines, receipt of the request to
// the answer sent) and its CPU per create, which depends less on the machine's load.
// Figures only, no assertions.
import { execFile, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { rm, symlink, writeFile } from "node:fs/promises";
import { availableParallelism, loadavg } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { parseArgs, promisify } from "node:util";
import { stringify } from "yaml";
import { startControlPlane, type ControlPlane } from "../testenv/controlplane.js";
import { installCRDs, OPERATOR_CRD_FILES } from "../testenv/crds.js";
import { loopbackConfigurations } from "../testenv/webhook.js";
import { mintCerts, root, tempDir } from "../testenv/webhookProcess.js";
import { compile } from "./compile.js";
import { BenchApi } from "./controller-api.js";
import { cpuSecondsOf } from "./procstats.js";
import { startServer } from "./servers.js";
import { realisticSpec } from "./webhook-fixtures.js";
import { runBench } from "./run.js";

const run = promisify(execFile);
/** Webhook calls per RqCluster create: the mutating one, then the validating one. */
const CALLS_PER_CREATE = 2;
const TARGET_ADDED_MS_PER_CALL = 1;

interface Variant {
  name: string;
  namespace: string;
  /** Absent for `off`. */
  server?: { child: ChildProcess; port: number; logFile: string };
  latenciesMs: number[];
  cpuSeconds: number;
}

function quantile(values: number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[i]!;
}

const round2 = (n: number) => Math.round(n * 100) / 100;

function shuffle<T>(items: T[]): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

/** A detached worktree of `ref` beside this checkout's node_modules; removed by the returned function. */
async function checkoutOf(ref: string, dir: string): Promise<() => Promise<void>> {
  const { stdout } = await run("git", ["-C", root, "rev-parse", "--verify", `${ref}^{commit}`]);
  await run("git", ["-C", root, "worktree", "add", "--detach", dir, stdout.trim()]);
  await symlink(join(root, "node_modules"), join(dir, "node_modules"));
  return async () => {
    await run("git", ["-C", root, "worktree", "remove", "--force", dir]);
  };
}

/** The webhook calls the API server has made to configurations named with `prefix`, from its metrics. */
async function webhookCalls(cp: ControlPlane, prefix: string): Promise<number> {
  const text = await cp.kubectlOk(["get", "--raw", "/metrics"]);
  let calls = 0;
  for (const line of text.split("\n")) {
    if (line.startsWith("apiserver_admission_webhook_request_total{") && line.includes(`name="${prefix}`))
      calls += Number(line.slice(line.lastIndexOf(" ") + 1));
  }
  return calls;
}

function createBody(name: string, namespace: string): unknown {
  return {
    apiVersion: "rqlite.io/v1alpha1",
    kind: "RqCluster",
    metadata: { name, namespace },
    spec: realisticSpec(name),
  };
}

async function dryRunCreate(api: BenchApi, namespace: string, name: string): Promise<number> {
  const started = performance.now();
  await api.request(
    "POST",
    `/apis/rqlite.io/v1alpha1/namespaces/${namespace}/rqclusters?dryRun=All`,
    createBody(name, namespace),
  );
  return performance.now() - started;
}

/** The webhook's own latencyMs per admission of the measured creates, from its JSON log lines. */
function ownLatencies(logFile: string, warmup: number): number[] {
  return readFileSync(logFile, "utf8")
    .split("\n")
    .filter((l) => l.includes('"msg":"admission"'))
    .map((l) => JSON.parse(l) as { name?: string; latencyMs?: number })
    .filter((l) => Number(/^bench-(\d+)$/.exec(l.name ?? "")?.[1] ?? -1) >= warmup)
    .map((l) => l.latencyMs!);
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      count: { type: "string", default: "300" },
      warmup: { type: "string", default: "30" },
      baseline: { type: "string" },
      json: { type: "string" },
      tsx: { type: "boolean", default: false },
    },
  });
  const count = Number(values.count);
  const warmup = Number(values.warmup);
  if (!Number.isInteger(count) || count < 1)
    throw new Error(`--count must be a whole number >= 1, got ${values.count}`);
  if (!Number.isInteger(warmup) || warmup < 0)
    throw new Error(`--warmup must be a whole number >= 0, got ${values.warmup}`);

  const dir = await tempDir("bench-admission");
  const cleanups: (() => Promise<void>)[] = [];
  const children: ChildProcess[] = [];
  let cp: ControlPlane | undefined;
  let api: BenchApi | undefined;
  try {
    const { ca } = await mintCerts(dir);
    const bareSource = "bench/webhook-bare.ts";
    const checkouts: { name: string; root: string }[] = [{ name: "webhook", root }];
    if (values.baseline) {
      const baselineRoot = join(root, ".tmp", "bench-admission-baseline");
      await rm(baselineRoot, { recursive: true, force: true });
      await run("git", ["-C", root, "worktree", "prune"]);
      cleanups.push(await checkoutOf(values.baseline, baselineRoot));
      checkouts.unshift({ name: `baseline (${values.baseline})`, root: baselineRoot });
    }
    /** Entry arguments for `source` of the checkout at `at`: compiled as the image runs it, unless --tsx. */
    const entryOf = async (at: string, source: string, build: string): Promise<string[]> => {
      if (values.tsx) return ["--import", "tsx", join(at, source)];
      await compile(at, build, [join(at, source)]);
      return [join(build, source.replace(/\.ts$/, ".js"))];
    };

    const log = (msg: string) => console.log(`bench:admission: ${msg}`);
    log("starting the control plane");
    cp = await startControlPlane();
    await installCRDs(cp, [...OPERATOR_CRD_FILES]);
    api = new BenchApi(cp, 1);

    const variants: Variant[] = [{ name: "off", namespace: "adm-off", latenciesMs: [], cpuSeconds: 0 }];
    const servers: { name: string; args: string[]; webhook: boolean }[] = [
      {
        name: "bare",
        args: [...(await entryOf(root, bareSource, join(root, ".tmp", "bench-admission-bare"))), dir],
        webhook: false,
      },
    ];
    for (const [i, c] of checkouts.entries()) {
      const entry = await entryOf(c.root, "webhook/main.ts", join(c.root, ".tmp", `bench-admission-${i}`));
      servers.push({
        name: c.name,
        args: [...entry, "--host", "127.0.0.1", "--port", "0", "--metrics-bind-address", "0", "--cert-dir", dir],
        webhook: true,
      });
    }
    for (const [i, s] of servers.entries()) {
      const namespace = `adm-${i}`;
      const logFile = join(dir, `server-${i}.log`);
      const { child, port } = await startServer(
        s.args,
        logFile,
        (l) => (s.webhook ? (l.msg === "webhook server listening" ? l.port : undefined) : l.port),
        120_000,
      );
      children.push(child);
      variants.push({ name: s.name, namespace, server: { child, port, logFile }, latenciesMs: [], cpuSeconds: 0 });
    }
    for (const v of variants) await cp.kubectlOk(["create", "namespace", v.namespace]);
    for (const v of variants) {
      if (!v.server) continue;
      const configs = (
        await loopbackConfigurations(v.server.port, ca, { prefix: `${v.namespace}-`, namespace: v.namespace })
      ).map((c) => ({
        ...c,
        // Named apart, so the API server's metrics tell which server it called.
        webhooks: (c.webhooks as { name: string }[]).map((w) => ({ ...w, name: `${v.namespace}-${w.name}` })),
      }));
      await cp.kubectlOk(["apply", "--server-side", "--field-manager=bench", "-f", "-"], {
        input: configs.map((c) => stringify(c)).join("---\n"),
      });
    }
    log(`servers up (${variants.map((v) => v.name).join(", ")}); waiting for the API server to call them`);
    // Configurations reach the API server through a watch: a namespace counts once the API
    // server's own metrics show its server being called.
    for (const v of variants) {
      const deadline = Date.now() + 120_000;
      while (v.server) {
        const before = await webhookCalls(cp, `${v.namespace}-`);
        await dryRunCreate(api, v.namespace, "probe");
        if ((await webhookCalls(cp, `${v.namespace}-`)) >= before + CALLS_PER_CREATE) break;
        if (Date.now() > deadline)
          throw new Error(`kube-apiserver never called the ${v.name} server for ${v.namespace}`);
        await new Promise((r) => setTimeout(r, 200));
      }
    }

    log(`measuring ${count} rounds after ${warmup} warm-up rounds`);
    const callsBefore = new Map<string, number>();
    for (let r = 0; r < warmup + count; r++) {
      if (r === warmup) {
        for (const v of variants) {
          if (v.server) {
            v.cpuSeconds = -cpuSecondsOf(v.server.child.pid!);
            callsBefore.set(v.name, await webhookCalls(cp, `${v.namespace}-`));
          }
        }
      }
      for (const v of shuffle(variants)) {
        const ms = await dryRunCreate(api, v.namespace, `bench-${r}`);
        if (r >= warmup) v.latenciesMs.push(ms);
      }
    }
    for (const v of variants) {
      if (!v.server) continue;
      v.cpuSeconds += cpuSecondsOf(v.server.child.pid!);
      const calls = (await webhookCalls(cp, `${v.namespace}-`)) - callsBefore.get(v.name)!;
      if (calls < count * CALLS_PER_CREATE)
        throw new Error(
          `the ${v.name} server was called ${calls} times for ${count} creates; expected ${count * CALLS_PER_CREATE}`,
        );
    }

    const off = variants[0]!;
    const offMedian = quantile(off.latenciesMs, 0.5);
    const offP99 = quantile(off.latenciesMs, 0.99);
    console.log(
      `admission bench (${values.tsx ? "tsx" : "compiled"}, load average ${loadavg()[0]!.toFixed(2)} at the end on ${availableParallelism()} CPUs): ` +
        `${count} dry-run RqCluster creates per row after ${warmup} warm-up rounds, interleaved, one at a time; ` +
        `${CALLS_PER_CREATE} webhook calls per create`,
    );
    const rows: Record<string, Record<string, number | string>> = {};
    const report: Record<string, unknown>[] = [];
    for (const v of variants) {
      const median = quantile(v.latenciesMs, 0.5);
      const p99 = quantile(v.latenciesMs, 0.99);
      const own = v.server && !v.name.startsWith("bare") ? ownLatencies(v.server.logFile, warmup) : [];
      const row = {
        "median ms": round2(median),
        "p99 ms": round2(p99),
        "+median ms/call": round2((median - offMedian) / CALLS_PER_CREATE),
        "+p99 ms/call": round2((p99 - offP99) / CALLS_PER_CREATE),
        "own median ms/call": own.length ? round2(quantile(own, 0.5)) : "-",
        "own p99 ms/call": own.length ? round2(quantile(own, 0.99)) : "-",
        "cpu µs/create": v.server ? Math.round((v.cpuSeconds / count) * 1e6) : "-",
      };
      rows[v.name] = row;
      report.push({ name: v.name, namespace: v.namespace, ...row, latenciesMs: v.latenciesMs });
    }
    console.table(rows);
    const misses = variants
      .filter((v) => v.server && v.name !== "bare")
      .filter((v) => (quantile(v.latenciesMs, 0.5) - offMedian) / CALLS_PER_CREATE > TARGET_ADDED_MS_PER_CALL)
      .map((v) => v.name);
    console.log(
      misses.length === 0
        ? `target met: every webhook adds <= ${TARGET_ADDED_MS_PER_CALL} ms per call at the median`
        : `target missed (> ${TARGET_ADDED_MS_PER_CALL} ms per call at the median): ${misses.join(", ")}`,
    );
    if (values.json) {
      await writeFile(
        values.json,
        `${JSON.stringify({ count, warmup, loadAverage: loadavg()[0], variants: report }, null, 2)}\n`,
      );
      console.log(`wrote ${values.json}`);
    }
  } finally {
    for (const c of children) c.kill("SIGTERM");
    await api?.close();
    await cp?.stop();
    for (const cleanup of cleanups) await cleanup().catch((err: Error) => console.error(`bench: ${err.message}`));
    await rm(dir, { recursive: true, force: true });
  }
}

runBench("admission", main);
