// One loop for the whole controller that reads every cluster's nodes for the rqlite_node_*
// metrics: each cluster once per interval at its own moment in it (its phase), so a fleet is read
// a little every second instead of in one burst per interval; never more than a fixed number of
// requests in flight; the interval grows with the fleet so the requests per second stay bounded;
// a node that does not answer is asked less and less often (and reported down meanwhile).
// Reconciles tell it which nodes run and how to reach them (the access they observed); it never
// lists anything itself.
import type { Registry } from "prom-client";
import type { ClusterRqlite } from "../rqlite/adapter.js";
import { counter, histogram } from "../runtime/metrics.js";
import { sleep } from "../runtime/sleep.js";
import { NodeMetrics, type NodeScrape } from "./nodeMetrics.js";

export interface ScrapeTarget {
  namespace: string;
  cluster: string;
  rqlite: ClusterRqlite;
  /** Nodes whose Pods run; `uploads` for those started with -auto-backup. */
  nodes: ReadonlyArray<{ id: string; uploads: boolean }>;
}

export interface ScraperOptions {
  registry: Registry;
  /** Each cluster is read at most this often; more seldom when the fleet is large (maxPerSecond). */
  intervalMs: number;
  /** Requests to rqlite in flight at once, over all clusters. */
  concurrency: number;
  /** Node reads per second, averaged over an interval, that the interval is stretched to keep under. */
  maxPerSecond: number;
  now?: () => number;
}

/** A node that failed this many reads in a row is asked at most every this many turns. */
const MAX_TURNS_BETWEEN_FAILED_READS = 8;

/**
 * The interval that reads `nodes` nodes at no more than `maxPerSecond`: the configured one, or
 * longer for a fleet too large for it (1000 clusters of 3 at 50/s: 60 s).
 */
export function scrapeIntervalMs(configuredMs: number, nodes: number, maxPerSecond: number): number {
  return Math.max(configuredMs, Math.ceil((nodes / maxPerSecond) * 1000));
}

/** Where in every interval a cluster's turn falls: from its key, so it stays put across restarts. */
export function phaseMs(key: string, intervalMs: number): number {
  // FNV-1a: spreads similar keys ("db/rq-1", "db/rq-2") evenly.
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193) >>> 0;
  return h % intervalMs;
}

/** The first of the turns phase + k * interval that is at or after `now`. */
export function nextTurn(now: number, phase: number, intervalMs: number): number {
  return phase + Math.ceil((now - phase) / intervalMs) * intervalMs;
}

/**
 * How many turns a node that failed `failures` reads in a row sits out before it is asked again:
 * none after one failure (a restart or an election is brief), then 1, 3, 7, and at most
 * MAX_TURNS_BETWEEN_FAILED_READS - 1, so a node that comes back is seen within a few minutes.
 */
export function turnsToSkip(failures: number): number {
  return Math.min(2 ** Math.max(0, failures - 1), MAX_TURNS_BETWEEN_FAILED_READS) - 1;
}

/** A node's run of failed reads: how many, and how many of its turns are still to be skipped. */
interface Failing {
  failures: number;
  skip: number;
}

interface Tracked {
  target: ScrapeTarget;
  due: number;
  failing: Map<string, Failing>;
}

export class NodeScraper {
  private readonly metrics: NodeMetrics;
  private readonly targets = new Map<string, Tracked>();
  private readonly requests;
  private readonly duration;
  private readonly now: () => number;

  constructor(private readonly opts: ScraperOptions) {
    this.metrics = new NodeMetrics(opts.registry);
    this.now = opts.now ?? Date.now;
    this.requests = counter(
      opts.registry,
      "rqlite_operator_node_scrapes_total",
      "Reads of an rqlite node's /status for the rqlite_node_* metrics, by result (skipped: a node that keeps failing sits out its turn)",
      ["result"],
    );
    this.duration = histogram(
      opts.registry,
      "rqlite_operator_cluster_scrape_duration_seconds",
      "Time to read every node of one cluster",
      [],
      [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    );
  }

  /** The nodes a reconcile saw; a new cluster is read at its first turn, a known one keeps its turn. */
  track(target: ScrapeTarget): void {
    const key = `${target.namespace}/${target.cluster}`;
    const known = this.targets.get(key);
    if (known) {
      // In place: a read in flight keeps counting into the same entry.
      known.target = target;
      for (const id of known.failing.keys()) if (!target.nodes.some((n) => n.id === id)) known.failing.delete(id);
      return;
    }
    const interval = this.intervalMs();
    this.targets.set(key, { target, due: nextTurn(this.now(), phaseMs(key, interval), interval), failing: new Map() });
  }

  /** The interval now, stretched for the fleet tracked (scrapeIntervalMs). */
  intervalMs(): number {
    let nodes = 0;
    for (const t of this.targets.values()) nodes += t.target.nodes.length;
    return scrapeIntervalMs(this.opts.intervalMs, nodes, this.opts.maxPerSecond);
  }

  /** A deleted cluster: no more reads, and its series go. */
  forget(namespace: string, cluster: string): void {
    this.targets.delete(`${namespace}/${cluster}`);
    this.metrics.forget(namespace, cluster);
  }

  /** Reads every cluster whose turn has come; returns how many it read. */
  async scrapeDue(): Promise<number> {
    const now = this.now();
    const interval = this.intervalMs();
    const due: Array<[string, Tracked]> = [];
    for (const entry of this.targets) if (entry[1].due <= now) due.push(entry);
    const jobs: Array<{ tracked: Tracked; node: { id: string; uploads: boolean }; slot: number }> = [];
    const results = new Map<Tracked, NodeScrape[]>();
    for (const [key, t] of due) {
      t.due = nextTurn(now + 1, phaseMs(key, interval), interval);
      const scrapes: NodeScrape[] = [];
      results.set(t, scrapes);
      for (const node of t.target.nodes) {
        const failing = t.failing.get(node.id);
        // Sitting out a turn: still down as far as anyone can tell, without asking.
        if (failing && failing.skip > 0) {
          failing.skip--;
          this.requests.inc({ result: "skipped" });
          scrapes.push({ node: node.id });
        } else jobs.push({ tracked: t, node, slot: scrapes.push({ node: node.id }) - 1 });
      }
    }
    const started = performance.now();
    let next = 0;
    const worker = async () => {
      while (next < jobs.length) {
        const { tracked, node, slot } = jobs[next++]!;
        const read = await this.scrapeNode(tracked.target, node);
        results.get(tracked)![slot] = read;
        if (read.stats) tracked.failing.delete(node.id);
        else {
          const failures = (tracked.failing.get(node.id)?.failures ?? 0) + 1;
          tracked.failing.set(node.id, { failures, skip: turnsToSkip(failures) });
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.opts.concurrency, jobs.length) }, worker));
    for (const [t, scrapes] of results) {
      // A cluster deleted while it was being read keeps no series.
      const { namespace, cluster } = t.target;
      if (this.targets.get(`${namespace}/${cluster}`) !== t) continue;
      this.metrics.record(namespace, cluster, scrapes);
      this.duration.observe((performance.now() - started) / 1000);
    }
    return due.length;
  }

  private async scrapeNode(target: ScrapeTarget, node: { id: string; uploads: boolean }): Promise<NodeScrape> {
    try {
      const read = await target.rqlite.nodeStats(node.id, node.uploads);
      this.requests.inc({ result: "ok" });
      return { node: node.id, ...read };
    } catch {
      // The node is down or unreachable: rqlite_node_up says so, and the reconcile's own
      // conditions say why.
      this.requests.inc({ result: "error" });
      return { node: node.id };
    }
  }

  /** Runs until `signal` aborts, looking for due clusters once a second. */
  async run(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      await this.scrapeDue();
      await sleep(Math.min(1000, this.opts.intervalMs), signal);
    }
  }
}
