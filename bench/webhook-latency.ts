// The latency half of the webhook benchmark: a constant-rate run (bench/webhook-load.ts) plus
// what disturbed it. A p99 of a few milliseconds is only as good as the machine is quiet, and
// on a small machine the load generator, the server and other workloads share the CPUs, so
// each run also says how late the generator was, how long the server's main thread waited
// for a CPU, and, for the webhook, the share of requests it answered within the target by its
// own clock (its latency histogram, which no client-side delay reaches).
import { httpGet } from "../testenv/webhookProcess.js";
import { runQueueSecondsOf } from "./procstats.js";
import { constantRate, type Phase, type Target } from "./webhook-load.js";

export interface LatencyRun extends Phase {
  rate: number;
  generatorLagP99Ms: number;
  /** Milliseconds per second the server's main thread was ready to run but had no CPU. */
  cpuWaitMsPerSecond: number;
  /** The webhook's own share of requests answered within the latency target (not for bare). */
  serverShareWithinTarget?: number;
}

const HISTOGRAM = "controller_runtime_webhook_latency_seconds";

/**
 * How many requests to `path` the webhook has answered, and how many within `seconds`, by its
 * histogram, read from its metrics listener at `metricsPort`.
 */
async function answeredWithin(
  metricsPort: number,
  path: string,
  seconds: number,
): Promise<{ total: number; within: number }> {
  const res = await httpGet(metricsPort, "/metrics");
  if (res.status !== 200) throw new Error(`GET /metrics answered ${res.status}: ${res.text}`);
  const lines = res.text.split("\n");
  const value = (series: string, le?: string) => {
    const line = lines.find(
      (l) =>
        l.startsWith(`${series}{`) && l.includes(`webhook="${path}"`) && (le === undefined || l.includes(`le="${le}"`)),
    );
    if (!line)
      throw new Error(
        `/metrics has no ${series} for ${path}${le ? ` with le="${le}"` : ""}; is ${seconds} s one of its buckets?`,
      );
    return Number(line.slice(line.lastIndexOf(" ") + 1));
  };
  return { total: value(`${HISTOGRAM}_count`), within: value(`${HISTOGRAM}_bucket`, String(seconds)) };
}

/**
 * Sends `rate` requests per second to `target` for `seconds`. `pid` is the server's process;
 * `webhook`, when the server is the webhook, is the latency to count its own share for and the
 * port of its metrics.
 */
export async function latencyRun(
  target: Target,
  ca: Buffer,
  pid: number,
  rate: number,
  seconds: number,
  webhook?: { targetMs: number; metricsPort: number },
): Promise<LatencyRun> {
  // A second at the rate first: a server idle since its last phase has a shrunken heap and
  // cold caches, which would count against it (the bare endpoint waits through a webhook phase).
  await constantRate(target, ca, rate, 1);
  const countBefore = webhook && (await answeredWithin(webhook.metricsPort, target.path, webhook.targetMs / 1000));
  const waitBefore = runQueueSecondsOf(pid);
  const phase = await constantRate(target, ca, rate, seconds);
  const cpuWaitMsPerSecond = Math.round(((runQueueSecondsOf(pid) - waitBefore) / seconds) * 1000);
  let serverShareWithinTarget: number | undefined;
  if (countBefore && webhook) {
    const after = await answeredWithin(webhook.metricsPort, target.path, webhook.targetMs / 1000);
    serverShareWithinTarget = (after.within - countBefore.within) / (after.total - countBefore.total);
  }
  return { ...phase, rate, cpuWaitMsPerSecond, serverShareWithinTarget };
}
