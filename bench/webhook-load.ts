// The two load shapes of the webhook benchmark.
//
// Maximum throughput comes from autocannon (closed loop: each connection sends its next request
// as soon as the last one is answered). Latency at a given rate needs an open loop instead:
// autocannon's rate limit lets every connection fire its whole per-second quota back to back and
// then sit idle, so its "rate-limited" p99 is really the latency of a burst. constantRate()
// spaces requests evenly and keeps sending on schedule however slowly answers come back.
import autocannon from "autocannon";
import { Pool } from "undici";

export interface Phase {
  reqPerSec: number;
  p50Ms: number;
  p99Ms: number;
  requests: number;
  errors: number;
  non2xx: number;
}

export interface Target {
  port: number;
  path: string;
  /** Request bodies, sent in turn. */
  bodies: string[];
  connections: number;
}

const JSON_HEADERS = { "content-type": "application/json" };

export async function maxThroughput(t: Target, seconds: number): Promise<Phase> {
  const result = await autocannon({
    url: `https://127.0.0.1:${t.port}${t.path}`,
    connections: t.connections,
    duration: seconds,
    requests: t.bodies.map((body) => ({ method: "POST", body, headers: JSON_HEADERS })),
  });
  return {
    reqPerSec: Math.round(result.requests.average),
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    requests: result.requests.total,
    errors: result.errors + result.timeouts,
    non2xx: result.non2xx,
  };
}

function percentileMs(sortedNs: number[], p: number): number {
  if (sortedNs.length === 0) return Number.NaN;
  const i = Math.min(sortedNs.length - 1, Math.ceil((p / 100) * sortedNs.length) - 1);
  return Math.round(sortedNs[i]! / 1e4) / 100;
}

/**
 * Sends `rate` requests per second, evenly spaced, over at most t.connections keep-alive
 * connections (undici's pool: node:https costs too much client CPU to keep a steady rate on a
 * small machine). A request waiting for a free connection is timed from when it was issued, so
 * queueing behind slow answers counts; the generator's own timer lag does not, and is reported.
 */
export async function constantRate(
  t: Target,
  ca: Buffer,
  rate: number,
  seconds: number,
): Promise<Phase & { generatorLagP99Ms: number }> {
  const pool = new Pool(`https://127.0.0.1:${t.port}`, {
    connections: t.connections,
    connect: { ca, servername: "localhost" },
  });
  const bodies = t.bodies.map((b) => Buffer.from(b));
  const total = Math.max(1, Math.round(rate * seconds));
  const intervalNs = 1e9 / rate;
  const latenciesNs: number[] = [];
  const lagsNs: number[] = [];
  let errors = 0;
  let non2xx = 0;
  const inFlight: Promise<void>[] = [];
  const send = async (body: Buffer) => {
    const issued = process.hrtime.bigint();
    try {
      const res = await pool.request({
        path: t.path,
        method: "POST",
        headers: { ...JSON_HEADERS, "content-length": String(body.length) },
        body,
      });
      await res.body.dump();
      if (res.statusCode !== 200) non2xx++;
      latenciesNs.push(Number(process.hrtime.bigint() - issued));
    } catch {
      errors++;
    }
  };

  const start = Number(process.hrtime.bigint());
  let sent = 0;
  while (sent < total) {
    const now = Number(process.hrtime.bigint());
    for (; sent < total && start + sent * intervalNs <= now; sent++) {
      lagsNs.push(now - (start + sent * intervalNs));
      inFlight.push(send(bodies[sent % bodies.length]!));
    }
    await new Promise((r) => setTimeout(r, 1));
  }
  await Promise.all(inFlight);
  const elapsedS = (Number(process.hrtime.bigint()) - start) / 1e9;
  await pool.close();
  latenciesNs.sort((a, b) => a - b);
  lagsNs.sort((a, b) => a - b);
  return {
    reqPerSec: Math.round(total / elapsedS),
    p50Ms: percentileMs(latenciesNs, 50),
    p99Ms: percentileMs(latenciesNs, 99),
    requests: total,
    errors,
    non2xx,
    generatorLagP99Ms: percentileMs(lagsNs, 99),
  };
}
