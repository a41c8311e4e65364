// What the rqlite_node_* metrics cost at scale: the controller's own scraper (the NodeScraper the
// controller runs, in this process) reading `clusters` clusters of 3 nodes at the controller's
// default interval, for `seconds`. The nodes are one real 3-node rqlited cluster on loopback that
// every cluster points at, so the operator's side (requests, CPU, series) is real, while rqlite
// sees all the requests on 3 nodes instead of spread over 3 per cluster.
import { performance } from "node:perf_hooks";
import { Registry } from "prom-client";
import { DEFAULT_SCRAPE_INTERVAL_MS, SCRAPES_PER_SECOND } from "../controller/rqcluster/controller.js";
import { NodeScraper } from "../controller/rqcluster/scraper.js";
import { clusterRqlite } from "../controller/rqlite/adapter.js";
import { startRqliteCluster } from "../testenv/rqlited.js";

/** The scraper's own bound on requests in flight (controller.ts SCRAPE_CONCURRENCY). */
const CONCURRENCY = 16;

export interface ScrapeCost {
  clusters: number;
  intervalSeconds: number;
  seconds: number;
  requestsPerSecond: number;
  failedRequests: number;
  /** CPU of the scraper's process, as a share of one core. */
  cpuPercentOfOneCore: number;
  /** The same as CPU seconds per minute for every 1000 nodes tracked. */
  cpuSecondsPerMinutePer1000Nodes: number;
  series: number;
}

const round = (x: number, digits = 1) => Math.round(x * 10 ** digits) / 10 ** digits;

export async function measureScrapeCost(clusters: number, seconds: number): Promise<ScrapeCost> {
  const rq = await startRqliteCluster({ size: 3 });
  try {
    const hosts = new Map(rq.nodes.map((n) => [n.id, new URL(n.url).host]));
    const rqlite = clusterRqlite((id) => ({ address: hosts.get(id)!, https: false }));
    const registry = new Registry();
    const scraper = new NodeScraper({
      registry,
      intervalMs: DEFAULT_SCRAPE_INTERVAL_MS,
      concurrency: CONCURRENCY,
      maxPerSecond: SCRAPES_PER_SECOND,
    });
    for (let i = 0; i < clusters; i++) {
      const nodes = rq.nodes.map((n) => ({ id: n.id, uploads: false }));
      scraper.track({ namespace: "bench", cluster: `rq-${i}`, rqlite, nodes });
    }
    const stop = new AbortController();
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    const running = scraper.run(stop.signal);
    await new Promise((r) => setTimeout(r, seconds * 1000));
    stop.abort();
    await running;
    const cpu = process.cpuUsage(cpu0);
    const wall = (performance.now() - t0) / 1000;
    const text = await registry.metrics();
    const count = (result: string) =>
      Number(new RegExp(`rqlite_operator_node_scrapes_total\\{result="${result}"\\} (\\d+)`).exec(text)?.[1] ?? 0);
    return {
      clusters,
      intervalSeconds: scraper.intervalMs() / 1000,
      seconds: round(wall),
      requestsPerSecond: round((count("ok") + count("error")) / wall),
      failedRequests: count("error"),
      cpuPercentOfOneCore: round(((cpu.user + cpu.system) / 1e6 / wall) * 100),
      cpuSecondsPerMinutePer1000Nodes: round(((cpu.user + cpu.system) / 1e6 / wall) * 60 * (1000 / (clusters * 3)), 2),
      series: text.split("\n").filter((l) => l.startsWith("rqlite_node_")).length,
    };
  } finally {
    await rq.stop();
  }
}
