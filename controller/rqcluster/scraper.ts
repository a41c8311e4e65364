// One loop for the whole controller that reads every cluster's nodes for the rqlite_node_*
// metrics: each cluster at most once per interval, and never more than a fixed number of
// requests in flight, however many clusters there are. Reconciles tell it which nodes run and how
// to reach them (the access they observed); it never lists anything itself.
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
  /** Each cluster is read at most this often. */
  intervalMs: number;
  /** Requests to rqlite in flight at once, over all clusters. */
  concurrency: number;
  now?: () => number;
}

export class NodeScraper {
  private readonly metrics: NodeMetrics;
  private readonly targets = new Map<string, { target: ScrapeTarget; due: number }>();
  private readonly requests;
  private readonly duration;
  private readonly now: () => number;

  constructor(private readonly opts: ScraperOptions) {
    this.metrics = new NodeMetrics(opts.registry);
    this.now = opts.now ?? Date.now;
    this.requests = counter(
      opts.registry,
      "rqlite_operator_node_scrapes_total",
      "Reads of an rqlite node's /status for the rqlite_node_* metrics, by result",
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

  /** The nodes a reconcile saw; a new cluster is read at the next tick, a known one keeps its turn. */
  track(target: ScrapeTarget): void {
    const key = `${target.namespace}/${target.cluster}`;
    this.targets.set(key, { target, due: this.targets.get(key)?.due ?? this.now() });
  }

  /** A deleted cluster: no more reads, and its series go. */
  forget(namespace: string, cluster: string): void {
    this.targets.delete(`${namespace}/${cluster}`);
    this.metrics.forget(namespace, cluster);
  }

  /** Reads every cluster whose turn has come; returns how many it read. */
  async scrapeDue(): Promise<number> {
    const now = this.now();
    const due = [...this.targets.values()].filter((t) => t.due <= now);
    for (const t of due) t.due = now + this.opts.intervalMs;
    const jobs = due.flatMap(({ target }) => target.nodes.map((node) => ({ target, node })));
    const results = new Map<ScrapeTarget, NodeScrape[]>(due.map(({ target }) => [target, []]));
    const started = new Map<ScrapeTarget, number>(due.map(({ target }) => [target, performance.now()]));
    let next = 0;
    const worker = async () => {
      while (next < jobs.length) {
        const { target, node } = jobs[next++]!;
        results.get(target)!.push(await this.scrapeNode(target, node));
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.opts.concurrency, jobs.length) }, worker));
    for (const [target, scrapes] of results) {
      // A cluster deleted while it was being read keeps no series.
      if (this.targets.get(`${target.namespace}/${target.cluster}`)?.target !== target) continue;
      this.metrics.record(target.namespace, target.cluster, scrapes);
      this.duration.observe((performance.now() - started.get(target)!) / 1000);
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
