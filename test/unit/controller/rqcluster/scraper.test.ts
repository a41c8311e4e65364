import { strict as assert } from "node:assert";
import { readFileSync } from "node:fs";
import { Registry } from "prom-client";
import {
  NodeScraper,
  nextTurn,
  phaseMs,
  scrapeIntervalMs,
  turnsToSkip,
  type ScrapeTarget,
} from "../../../../controller/rqcluster/scraper.js";
import type { ClusterRqlite } from "../../../../controller/rqlite/adapter.js";
import { readNodeStats } from "../../../../controller/rqlite/nodeStats.js";

const leaderStats = readNodeStats(
  JSON.parse(readFileSync(new URL("../../../fixtures/rqlite/v8.43.4/status-leader.json", import.meta.url), "utf8")),
);

/** An adapter whose only working call is `nodeStats`: the scraper must use no other. */
function statsOnly(nodeStats: ClusterRqlite["nodeStats"]): ClusterRqlite {
  const refuse = () => Promise.reject(new Error("not used by the scraper"));
  return {
    leaderView: refuse,
    synced: refuse,
    removeNode: refuse,
    transferLeadership: refuse,
    restoreCounts: refuse,
    raftIndexes: refuse,
    nodeStats,
  };
}

/** Answers every node with the captured leader's /status after `delayMs`, counting what is in flight. */
function answering(delayMs: number, load: { inFlight: number; peak: number; calls: number }): ClusterRqlite {
  return statsOnly(async () => {
    load.calls++;
    load.peak = Math.max(load.peak, ++load.inFlight);
    await new Promise((r) => setTimeout(r, delayMs));
    load.inFlight--;
    return { stats: leaderStats };
  });
}

/** Answers every node but those in `down`, which refuse at once; counts the calls per node. */
function partlyDown(down: Set<string>, calls: Map<string, number>): ClusterRqlite {
  return statsOnly((id) => {
    calls.set(id, (calls.get(id) ?? 0) + 1);
    return down.has(id) ? Promise.reject(new Error("connection refused")) : Promise.resolve({ stats: leaderStats });
  });
}

describe("node scraper", () => {
  it("reads each cluster once per interval at its own phase, with a bounded number of requests in flight", async () => {
    const interval = 30_000;
    let now = 0;
    const load = { inFlight: 0, peak: 0, calls: 0 };
    const registry = new Registry();
    const scraper = new NodeScraper({
      registry,
      intervalMs: interval,
      concurrency: 4,
      maxPerSecond: 1000,
      now: () => now,
    });
    const target = (i: number): ScrapeTarget => ({
      namespace: "db",
      cluster: `c${i}`,
      rqlite: answering(5, load),
      nodes: [0, 1, 2].map((n) => ({ id: `c${i}-${n}`, uploads: false })),
    });
    for (let i = 0; i < 10; i++) scraper.track(target(i));
    // Tracked at once, read over the interval: one second at a time, each cluster in its second.
    let read = 0;
    for (; now < interval; now += 1000) read += await scraper.scrapeDue();
    assert.equal(read, 10);
    assert.equal(load.calls, 30);
    assert.ok(load.peak <= 4, `${load.peak} in flight`);
    // Reconciles in between re-track the clusters but do not bring their turn forward.
    for (let i = 0; i < 10; i++) scraper.track(target(i));
    for (; now < 2 * interval; now += 1000) read += await scraper.scrapeDue();
    assert.equal(read, 20);
    assert.equal(load.calls, 60);

    // 40 clusters read at once show the cap.
    const burst = new NodeScraper({
      registry: new Registry(),
      intervalMs: 1,
      concurrency: 4,
      maxPerSecond: 1e9,
      now: () => now,
    });
    for (let i = 0; i < 40; i++) burst.track(target(i));
    load.peak = 0;
    assert.equal(await burst.scrapeDue(), 40);
    assert.equal(load.peak, 4);

    const text = await registry.metrics();
    assert.match(text, /rqlite_operator_node_scrapes_total\{result="ok"\} 60/);
    assert.match(text, /rqlite_node_up\{namespace="db",cluster="c7",node="c7-2"\} 1/);
    scraper.forget("db", "c7");
    assert.doesNotMatch(await registry.metrics(), /cluster="c7"/);
    for (const end = now + interval; now < end; now += 1000) read += await scraper.scrapeDue();
    assert.equal(read, 29);
  });

  it("lets a node that keeps failing sit out turns, reported down, and asks it every turn once it answers", async () => {
    let now = 0;
    const down = new Set(["c-1"]);
    const calls = new Map<string, number>();
    const registry = new Registry();
    const scraper = new NodeScraper({ registry, intervalMs: 1000, concurrency: 2, maxPerSecond: 1000, now: () => now });
    scraper.track({
      namespace: "db",
      cluster: "c",
      rqlite: partlyDown(down, calls),
      nodes: ["c-0", "c-1", "c-2"].map((id) => ({ id, uploads: false })),
    });
    const turns = async (n: number) => {
      for (let i = 0; i < n; i++) {
        now += 1000;
        await scraper.scrapeDue();
      }
    };
    // Asked at turns 1, 2, 4, 8, 16, 24: after 1, 2, 3, 4+ failures it sits out 0, 1, 3, 7 turns.
    await turns(24);
    assert.equal(calls.get("c-0"), 24);
    assert.equal(calls.get("c-1"), 6);
    const text = await registry.metrics();
    assert.match(text, /rqlite_node_up\{namespace="db",cluster="c",node="c-1"\} 0/);
    assert.match(text, /rqlite_operator_node_scrapes_total\{result="skipped"\} 18/);
    // Back: asked at its next turn (at most 7 turns away), then every turn.
    down.clear();
    await turns(8);
    const asked = calls.get("c-1")!;
    assert.match(await registry.metrics(), /rqlite_node_up\{namespace="db",cluster="c",node="c-1"\} 1/);
    await turns(3);
    assert.equal(calls.get("c-1"), asked + 3);
  });

  it("schedules: phases spread over the interval, turns keep their phase, large fleets stretch the interval", () => {
    const interval = 30_000;
    const phases = Array.from({ length: 1000 }, (_, i) => phaseMs(`bench/rq-${i}`, interval));
    assert.ok(phases.every((p) => p >= 0 && p < interval));
    // Every tenth of the interval gets a share near a tenth of the clusters.
    const tenths = Array.from({ length: 10 }, (_, k) => phases.filter((p) => Math.floor(p / 3000) === k).length);
    assert.ok(Math.min(...tenths) > 60 && Math.max(...tenths) < 140, `clusters per tenth: ${tenths.join(", ")}`);
    assert.equal(phaseMs("db/a", interval), phaseMs("db/a", interval));

    assert.equal(nextTurn(0, 5000, interval), 5000);
    assert.equal(nextTurn(5000, 5000, interval), 5000);
    assert.equal(nextTurn(5001, 5000, interval), 35_000);
    assert.equal(nextTurn(100_000, 5000, interval), 125_000);

    assert.equal(scrapeIntervalMs(30_000, 300, 50), 30_000);
    assert.equal(scrapeIntervalMs(30_000, 3000, 50), 60_000);
    assert.equal(scrapeIntervalMs(30_000, 15_000, 50), 300_000);

    assert.deepEqual([1, 2, 3, 4, 5, 20].map(turnsToSkip), [0, 1, 3, 7, 7, 7]);
  });
});
