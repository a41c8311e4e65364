// Load test of the admission webhook over HTTPS on loopback, against a bare express endpoint
// measured in the same run (bench/webhook-bare.ts), so the figures are ratios that hold across
// machines. Each server runs in its own process; the load comes from this one.
//
//   npm run bench:webhook -- [--duration SECONDS] [--connections N] [--json FILE] [--tsx]
//
// Per target: a warm-up, a run at full speed (max req/s, p50/p99), then a run at a constant
// half of that maximum (p50/p99 from when each request was due). See bench/webhook-load.ts.
import { spawn, type ChildProcess } from "node:child_process";
import { closeSync, openSync, readFileSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { availableParallelism, loadavg } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { answerOf, decodePatch, httpsRequest, mintCerts, root, tempDir } from "../test/webhook/support.js";
import { compile } from "./compile.js";
import { cpuSecondsOf } from "./procstats.js";
import { benchBodies } from "./webhook-fixtures.js";
import { constantRate, maxThroughput, type Phase, type Target } from "./webhook-load.js";

const VALIDATE = "/validate-rqlite-io-v1alpha1-rqcluster";
const MUTATE = "/mutate-rqlite-io-v1alpha1-rqcluster";

const TARGETS = {
  /** Minimum throughput of each webhook relative to the bare endpoint. */
  ratio: 0.7,
  /** Maximum p99 at half the measured maximum rate, in milliseconds. */
  p99HalfRateMs: 5,
};

interface TargetResult {
  name: string;
  path: string;
  /** cpuUsPerRequest: the server's CPU time per request, which unlike req/s does not depend on what else the machine runs. */
  max: Phase & { cpuUsPerRequest: number };
  halfRate: Phase & { rate: number; generatorLagP99Ms: number };
  ratioToBare?: number;
  /** The bare endpoint's CPU per request over this target's: relative throughput on a core of its own. */
  cpuRatioToBare?: number;
}

async function measure(name: string, target: Target, pid: number, ca: Buffer, seconds: number): Promise<TargetResult> {
  await maxThroughput(target, 1);
  const cpuBefore = cpuSecondsOf(pid);
  const max = await maxThroughput(target, seconds);
  const cpuUsPerRequest = Math.round(((cpuSecondsOf(pid) - cpuBefore) / max.requests) * 1e6);
  const rate = Math.max(1, Math.round(max.reqPerSec / 2));
  const half = await constantRate(target, ca, rate, seconds);
  return { name, path: target.path, max: { ...max, cpuUsPerRequest }, halfRate: { ...half, rate } };
}

/** Spawns a server with its output in `logFile` and waits for the line that gives its port. */
async function startServer(args: string[], logFile: string, portOf: (line: Record<string, unknown>) => unknown): Promise<{ child: ChildProcess; port: number }> {
  // Output goes to a file, as in a container: piping it here would steal the load generator's CPU.
  const fd = openSync(logFile, "a");
  const child = spawn(process.execPath, args, { cwd: root, stdio: ["ignore", fd, fd] });
  closeSync(fd);
  const deadline = Date.now() + 30_000;
  for (;;) {
    for (const text of readFileSync(logFile, "utf8").split("\n")) {
      if (!text.startsWith("{")) continue;
      const port = portOf(JSON.parse(text) as Record<string, unknown>);
      if (typeof port === "number") return { child, port };
    }
    if (child.exitCode !== null) throw new Error(`${args.join(" ")} exited (${child.exitCode}) before listening; see ${logFile}`);
    if (Date.now() > deadline) throw new Error(`${args.join(" ")} did not listen within 30 s; see ${logFile}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      duration: { type: "string", default: "4" },
      connections: { type: "string", default: "10" },
      json: { type: "string" },
      tsx: { type: "boolean", default: false },
    },
  });
  const seconds = Number(values.duration);
  const connections = Number(values.connections);
  if (!(seconds > 0) || !(connections > 0)) throw new Error("--duration and --connections must be positive numbers");

  const dir = await tempDir("bench-webhook");
  const { ca } = await mintCerts(dir);
  const sources = ["webhook/main.ts", "bench/webhook-bare.ts"];
  let [webhookEntry, bareEntry] = sources.map((s) => ["--import", "tsx", join(root, s)]);
  if (!values.tsx) {
    // Under the checkout, so the compiled files find node_modules.
    const build = join(root, ".tmp", "bench-webhook");
    await compile(root, build, sources.map((s) => join(root, s)));
    [webhookEntry, bareEntry] = sources.map((s) => [join(build, s.replace(/\.ts$/, ".js"))]);
  }
  const logFile = join(dir, "webhook.log");
  const children: ChildProcess[] = [];
  try {
    const bare = await startServer([...bareEntry!, dir], join(dir, "bare.log"), (l) => l.port);
    children.push(bare.child);
    const webhook = await startServer([...webhookEntry!, "--host", "127.0.0.1", "--port", "0", "--metrics-bind-address", "0", "--cert-dir", dir],
      logFile, (l) => (l.msg === "webhook server listening" ? l.port : undefined));
    children.push(webhook.child);

    const bodies = benchBodies();
    // The figures mean nothing unless the webhook gives the answers it should.
    const validated = answerOf(await httpsRequest(webhook.port, VALIDATE, ca, { body: bodies.validate[1] }));
    const mutated = answerOf(await httpsRequest(webhook.port, MUTATE, ca, { body: bodies.mutate[0] }));
    if (!validated.allowed || !mutated.allowed || decodePatch(mutated).length === 0) {
      throw new Error(`the benchmark requests are not answered as expected: ${JSON.stringify({ validated, mutated })}`);
    }

    console.log(`webhook bench (${values.tsx ? "tsx" : "compiled"}, load average ${loadavg()[0]!.toFixed(2)} on ${availableParallelism()} CPUs): ${seconds}s per phase, ${connections} connections, HTTPS on 127.0.0.1; `
      + `bodies ${bodies.validate.map((b) => b.length).join("/")} (validate) and ${bodies.mutate[0]!.length} (mutate) bytes`);
    const results = [
      await measure("bare", { port: bare.port, path: "/", bodies: bodies.validate, connections }, bare.child.pid!, ca, seconds),
      await measure("validate", { port: webhook.port, path: VALIDATE, bodies: bodies.validate, connections }, webhook.child.pid!, ca, seconds),
      await measure("mutate", { port: webhook.port, path: MUTATE, bodies: bodies.mutate, connections }, webhook.child.pid!, ca, seconds),
    ];
    const bareMax = results[0]!.max;
    const ratio = (a: number, b: number) => Math.round((a / b) * 100) / 100;
    for (const r of results.slice(1)) {
      r.ratioToBare = ratio(r.max.reqPerSec, bareMax.reqPerSec);
      r.cpuRatioToBare = ratio(bareMax.cpuUsPerRequest, r.max.cpuUsPerRequest);
    }
    const misses = [
      ...results.filter((r) => [r.max, r.halfRate].some((p) => p.errors > 0 || p.non2xx > 0)).map((r) => `${r.name}: errors or non-2xx answers`),
      ...results.slice(1).filter((r) => r.ratioToBare! < TARGETS.ratio).map((r) => `${r.name}: ${r.ratioToBare}x of bare < ${TARGETS.ratio}x`),
      ...results.slice(1).filter((r) => r.halfRate.p99Ms >= TARGETS.p99HalfRateMs).map((r) => `${r.name}: p99 ${r.halfRate.p99Ms} ms at half rate >= ${TARGETS.p99HalfRateMs} ms`),
    ];

    console.table(Object.fromEntries(results.map((r) => [r.name, {
      "max req/s": r.max.reqPerSec,
      "p50 ms": r.max.p50Ms,
      "p99 ms": r.max.p99Ms,
      "x bare": r.ratioToBare ?? 1,
      "cpu µs/req": r.max.cpuUsPerRequest,
      "x bare (cpu)": r.cpuRatioToBare ?? 1,
      "half rate": r.halfRate.rate,
      "p50 ms @half": r.halfRate.p50Ms,
      "p99 ms @half": r.halfRate.p99Ms,
      errors: r.max.errors + r.halfRate.errors + r.max.non2xx + r.halfRate.non2xx,
    }])));
    console.log(misses.length === 0
      ? `targets met: validate and mutate >= ${TARGETS.ratio}x bare throughput, p99 < ${TARGETS.p99HalfRateMs} ms at half rate`
      : `targets missed: ${misses.join("; ")}`);
    const logged = readFileSync(logFile, "utf8").split("\n").filter((l) => l.includes('"msg":"admission"')).length;
    console.log(`the webhook logged ${logged} admission lines at info level (${logFile})`);
    if (values.json) {
      const report = { runtime: values.tsx ? "tsx" : "compiled", loadAverage: loadavg()[0], cpus: availableParallelism(), seconds, connections, node: process.version, targets: TARGETS, results, met: misses.length === 0, misses };
      await writeFile(values.json, `${JSON.stringify(report, null, 2)}\n`);
      console.log(`wrote ${values.json}`);
    }
    process.exitCode = misses.length === 0 ? 0 : 1;
  } finally {
    for (const c of children) c.kill("SIGTERM");
  }
}

await main();
