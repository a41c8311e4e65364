// Load test of the admission webhook over HTTPS on loopback, against a bare express endpoint
// measured in the same run (bench/webhook-bare.ts), so the figures are ratios that hold across
// machines. Each server runs in its own process; the load comes from this one.
//
//   npm run bench:webhook -- [--duration SECONDS] [--rounds N] [--connections N] [--json FILE] [--tsx]
//
// Runs at full speed (max req/s, p50/p99, each after a warm-up) of the bare endpoint and each
// webhook in turn, --rounds times. Each ratio to bare is taken within a round, whose runs are
// seconds apart, and the median over the rounds counts: a change in what else the machine
// runs then moves both sides of a ratio rather than one. Then for each webhook a run at a
// constant half of its median maximum (p50/p99 from when each request was issued), right after
// a run of the bare endpoint at the same rate: the control. When even the control misses the
// latency target, the machine set the p99, and the result says "inconclusive" rather than
// blame the webhook. See bench/webhook-load.ts and bench/webhook-latency.ts.
import type { ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { availableParallelism, loadavg } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { answerOf, decodePatch, httpsRequest, mintCerts, root, tempDir } from "../testenv/webhookProcess.js";
import { compile } from "./compile.js";
import { cpuSecondsOf } from "./procstats.js";
import { startServer } from "./servers.js";
import { benchBodies } from "./webhook-fixtures.js";
import { latencyRun, type LatencyRun } from "./webhook-latency.js";
import { maxThroughput, type Phase, type Target } from "./webhook-load.js";

const VALIDATE = "/validate-rqlite-io-v1alpha1-rqcluster";
const MUTATE = "/mutate-rqlite-io-v1alpha1-rqcluster";

const TARGETS = {
  /** Minimum throughput of each webhook relative to the bare endpoint. */
  ratio: 0.7,
  /** Maximum p99 at half the measured maximum rate, in milliseconds. */
  p99HalfRateMs: 5,
};

/** A p99 under the target means at least this share of requests within it. */
const SHARE_WITHIN_AT_P99 = 0.99;

/** cpuUsPerRequest: the server's CPU time per request, which depends less than req/s on what else the machine runs. */
type MaxPhase = Phase & { cpuUsPerRequest: number };

interface WebhookResult {
  name: string;
  path: string;
  /** Medians over the rounds, field by field. */
  max: MaxPhase;
  /** Medians over the rounds of the ratio within each round. */
  ratioToBare: number;
  /** The bare endpoint's CPU per request over this target's: relative throughput on a core of its own. */
  cpuRatioToBare: number;
  roundRatiosToBare: number[];
  halfRate: LatencyRun;
  /** The bare endpoint at the same rate, just before: the latency the machine allows right now. */
  control: LatencyRun;
}

async function atFullSpeed(target: Target, pid: number, seconds: number): Promise<MaxPhase> {
  await maxThroughput(target, 1);
  const cpuBefore = cpuSecondsOf(pid);
  const max = await maxThroughput(target, seconds);
  return { ...max, cpuUsPerRequest: Math.round(((cpuSecondsOf(pid) - cpuBefore) / max.requests) * 1e6) };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

function medianPhase(phases: MaxPhase[]): MaxPhase {
  const of = (field: keyof MaxPhase) => median(phases.map((p) => p[field]));
  return {
    reqPerSec: Math.round(of("reqPerSec")),
    p50Ms: of("p50Ms"),
    p99Ms: of("p99Ms"),
    cpuUsPerRequest: Math.round(of("cpuUsPerRequest")),
    // Counts are totals: a failure in any round shows.
    requests: phases.reduce((n, p) => n + p.requests, 0),
    errors: phases.reduce((n, p) => n + p.errors, 0),
    non2xx: phases.reduce((n, p) => n + p.non2xx, 0),
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      duration: { type: "string", default: "4" },
      rounds: { type: "string", default: "3" },
      connections: { type: "string", default: "10" },
      json: { type: "string" },
      tsx: { type: "boolean", default: false },
    },
  });
  const seconds = Number(values.duration);
  const connections = Number(values.connections);
  const rounds = Number(values.rounds);
  if (!(seconds > 0) || !(connections > 0)) throw new Error("--duration and --connections must be positive numbers");
  if (!Number.isInteger(rounds) || rounds < 1)
    throw new Error(`--rounds must be a whole number >= 1, got ${values.rounds}`);

  const dir = await tempDir("bench-webhook");
  const { ca } = await mintCerts(dir);
  const sources = ["webhook/main.ts", "bench/webhook-bare.ts"];
  let [webhookEntry, bareEntry] = sources.map((s) => ["--import", "tsx", join(root, s)]);
  if (!values.tsx) {
    // Under the checkout, so the compiled files find node_modules.
    const build = join(root, ".tmp", "bench-webhook");
    await compile(
      root,
      build,
      sources.map((s) => join(root, s)),
    );
    [webhookEntry, bareEntry] = sources.map((s) => [join(build, s.replace(/\.ts$/, ".js"))]);
  }
  const logFile = join(dir, "webhook.log");
  const children: ChildProcess[] = [];
  try {
    const bare = await startServer([...bareEntry!, dir], join(dir, "bare.log"), (l) => l.port);
    children.push(bare.child);
    const webhook = await startServer(
      [
        ...webhookEntry!,
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--metrics-bind-address",
        "127.0.0.1:0",
        "--cert-dir",
        dir,
      ],
      logFile,
      (l) => (l.msg === "webhook server listening" ? l.port : undefined),
    );
    children.push(webhook.child);

    const bodies = benchBodies();
    // The figures mean nothing unless the webhook gives the answers it should.
    const validated = answerOf(await httpsRequest(webhook.port, VALIDATE, ca, { body: bodies.validate[1] }));
    const mutated = answerOf(await httpsRequest(webhook.port, MUTATE, ca, { body: bodies.mutate[0] }));
    if (!validated.allowed || !mutated.allowed || decodePatch(mutated).length === 0) {
      throw new Error(`the benchmark requests are not answered as expected: ${JSON.stringify({ validated, mutated })}`);
    }

    console.log(
      `webhook bench (${values.tsx ? "tsx" : "compiled"}, load average ${loadavg()[0]!.toFixed(2)} on ${availableParallelism()} CPUs): ${seconds}s per phase, ${rounds} rounds at full speed, ${connections} connections, HTTPS on 127.0.0.1; ` +
        `bodies ${bodies.validate.map((b) => b.length).join("/")} (validate) and ${bodies.mutate[0]!.length} (mutate) bytes`,
    );
    const bareTarget: Target = { port: bare.port, path: "/", bodies: bodies.validate, connections };
    const webhookTargets: [string, Target][] = [
      ["validate", { port: webhook.port, path: VALIDATE, bodies: bodies.validate, connections }],
      ["mutate", { port: webhook.port, path: MUTATE, bodies: bodies.mutate, connections }],
    ];
    const bareRuns: MaxPhase[] = [];
    const webhookRuns: MaxPhase[][] = webhookTargets.map(() => []);
    for (let round = 0; round < rounds; round++) {
      bareRuns.push(await atFullSpeed(bareTarget, bare.child.pid!, seconds));
      for (const [i, [, target]] of webhookTargets.entries())
        webhookRuns[i]!.push(await atFullSpeed(target, webhook.child.pid!, seconds));
    }
    const bareMax = medianPhase(bareRuns);
    const ratio = (a: number, b: number) => Math.round((a / b) * 100) / 100;
    const results: WebhookResult[] = [];
    for (const [i, [name, target]] of webhookTargets.entries()) {
      const runs = webhookRuns[i]!;
      const max = medianPhase(runs);
      const roundRatiosToBare = runs.map((r, round) => ratio(r.reqPerSec, bareRuns[round]!.reqPerSec));
      const cpuRatios = runs.map((r, round) => ratio(bareRuns[round]!.cpuUsPerRequest, r.cpuUsPerRequest));
      const rate = Math.max(1, Math.round(max.reqPerSec / 2));
      const control = await latencyRun(bareTarget, ca, bare.child.pid!, rate, seconds);
      const halfRate = await latencyRun(target, ca, webhook.child.pid!, rate, seconds, {
        targetMs: TARGETS.p99HalfRateMs,
        metricsPort: webhook.line.metricsPort as number,
      });
      results.push({
        name,
        path: target.path,
        max,
        halfRate,
        control,
        roundRatiosToBare,
        ratioToBare: median(roundRatiosToBare),
        cpuRatioToBare: median(cpuRatios),
      });
    }

    const slow = results.filter((r) => r.halfRate.p99Ms >= TARGETS.p99HalfRateMs);
    // When the control misses too, the machine rather than the webhook set the p99, unless the
    // webhook's own clock, which cannot read more than the client's, already puts p99 above.
    const unresolvable = (r: WebhookResult) =>
      r.control.p99Ms >= TARGETS.p99HalfRateMs && r.halfRate.serverShareWithinTarget! >= SHARE_WITHIN_AT_P99;
    const slowText = (r: WebhookResult) =>
      `${r.name}: p99 ${r.halfRate.p99Ms} ms at half rate >= ${TARGETS.p99HalfRateMs} ms`;
    const misses = [
      ...(bareMax.errors + bareMax.non2xx > 0 ? ["bare: errors or non-2xx answers"] : []),
      ...results
        .filter((r) => [r.max, r.halfRate, r.control].some((p) => p.errors > 0 || p.non2xx > 0))
        .map((r) => `${r.name}: errors or non-2xx answers`),
      ...results
        .filter((r) => r.ratioToBare < TARGETS.ratio)
        .map((r) => `${r.name}: ${r.ratioToBare}x of bare < ${TARGETS.ratio}x`),
      ...slow.filter((r) => !unresolvable(r)).map(slowText),
    ];
    const inconclusive = slow
      .filter(unresolvable)
      .map((r) => `${slowText(r)}, but the bare endpoint's p99 at that rate was ${r.control.p99Ms} ms`);

    console.log(`at full speed, medians of ${rounds} rounds:`);
    const maxRow = (m: MaxPhase, r?: WebhookResult) => ({
      "max req/s": m.reqPerSec,
      "p50 ms": m.p50Ms,
      "p99 ms": m.p99Ms,
      "x bare": r?.ratioToBare ?? 1,
      "x bare by round": r?.roundRatiosToBare.join(" ") ?? "",
      "cpu µs/req": m.cpuUsPerRequest,
      "x bare (cpu)": r?.cpuRatioToBare ?? 1,
      errors: m.errors + m.non2xx,
    });
    console.table({ bare: maxRow(bareMax), ...Object.fromEntries(results.map((r) => [r.name, maxRow(r.max, r)])) });
    console.log(
      "at half the maximum rate, each webhook after the bare endpoint at its rate, with what disturbed the measurement:",
    );
    const percent = (share: number | undefined) => (share === undefined ? "-" : `${(share * 100).toFixed(1)}%`);
    const latencyRow = (l: LatencyRun) => ({
      "req/s": l.rate,
      "p50 ms": l.p50Ms,
      "p99 ms": l.p99Ms,
      [`server's own <= ${TARGETS.p99HalfRateMs} ms`]: percent(l.serverShareWithinTarget),
      "generator lag p99 ms": l.generatorLagP99Ms,
      "server CPU wait ms/s": l.cpuWaitMsPerSecond,
      errors: l.errors + l.non2xx,
    });
    console.table(
      Object.fromEntries(
        results.flatMap((r) => [
          [`bare @ ${r.name}`, latencyRow(r.control)],
          [r.name, latencyRow(r.halfRate)],
        ]),
      ),
    );
    const met = misses.length === 0 && inconclusive.length === 0;
    if (met)
      console.log(
        `targets met: validate and mutate >= ${TARGETS.ratio}x bare throughput, p99 < ${TARGETS.p99HalfRateMs} ms at half rate`,
      );
    if (misses.length > 0) console.log(`targets missed: ${misses.join("; ")}`);
    if (inconclusive.length > 0) {
      console.log(
        `latency target inconclusive: ${inconclusive.join("; ")}: this machine (load average ${loadavg()[0]!.toFixed(2)}) ` +
          `cannot resolve ${TARGETS.p99HalfRateMs} ms now; see the webhook's own share and the waits above`,
      );
    }
    const logged = readFileSync(logFile, "utf8")
      .split("\n")
      .filter((l) => l.includes('"msg":"admission"')).length;
    console.log(`the webhook logged ${logged} admission lines at info level (${logFile})`);
    if (values.json) {
      const report = {
        runtime: values.tsx ? "tsx" : "compiled",
        loadAverage: loadavg()[0],
        cpus: availableParallelism(),
        seconds,
        rounds,
        connections,
        node: process.version,
        targets: TARGETS,
        bare: bareMax,
        bareRounds: bareRuns,
        results,
        met,
        misses,
        inconclusive,
      };
      await writeFile(values.json, `${JSON.stringify(report, null, 2)}\n`);
      console.log(`wrote ${values.json}`);
    }
    process.exitCode = met ? 0 : 1;
  } finally {
    for (const c of children) c.kill("SIGTERM");
  }
}

await main();
