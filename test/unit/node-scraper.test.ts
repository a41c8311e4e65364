import { strict as assert } from "node:assert";
import { readFileSync } from "node:fs";
import { Registry } from "prom-client";
import { NodeScraper, type ScrapeTarget } from "../../controller/rqcluster/scraper.js";
import type { ClusterRqlite } from "../../controller/rqlite/adapter.js";
import { readNodeStats } from "../../controller/rqlite/nodeStats.js";

const leaderStats = readNodeStats(
  JSON.parse(readFileSync(new URL("../fixtures/rqlite/v8.43.4/status-leader.json", import.meta.url), "utf8")),
);

/** Answers every node with the captured leader's /status after `delayMs`, counting what is in flight. */
function answering(delayMs: number, load: { inFlight: number; peak: number; calls: number }): ClusterRqlite {
  const refuse = () => Promise.reject(new Error("not used by the scraper"));
  return {
    leaderView: refuse,
    synced: refuse,
    removeNode: refuse,
    transferLeadership: refuse,
    restoreCounts: refuse,
    raftIndexes: refuse,
    async nodeStats() {
      load.calls++;
      load.peak = Math.max(load.peak, ++load.inFlight);
      await new Promise((r) => setTimeout(r, delayMs));
      load.inFlight--;
      return { stats: leaderStats };
    },
  };
}

describe("node scraper", () => {
  it("reads each cluster at most once per interval, with a bounded number of requests in flight", async () => {
    let now = 0;
    const load = { inFlight: 0, peak: 0, calls: 0 };
    const registry = new Registry();
    const scraper = new NodeScraper({ registry, intervalMs: 30_000, concurrency: 4, now: () => now });
    const target = (i: number): ScrapeTarget => ({
      namespace: "db",
      cluster: `c${i}`,
      rqlite: answering(5, load),
      nodes: [0, 1, 2].map((n) => ({ id: `c${i}-${n}`, uploads: false })),
    });
    for (let i = 0; i < 10; i++) scraper.track(target(i));
    assert.equal(await scraper.scrapeDue(), 10);
    assert.equal(load.calls, 30);
    assert.equal(load.peak, 4);
    // Reconciles in between re-track the clusters but do not bring their turn forward.
    now += 10_000;
    for (let i = 0; i < 10; i++) scraper.track(target(i));
    assert.equal(await scraper.scrapeDue(), 0);
    assert.equal(load.calls, 30);
    now += 20_000;
    assert.equal(await scraper.scrapeDue(), 10);
    assert.equal(load.calls, 60);

    const text = await registry.metrics();
    assert.match(text, /rqlite_operator_node_scrapes_total\{result="ok"\} 60/);
    assert.match(text, /rqlite_node_up\{namespace="db",cluster="c7",node="c7-2"\} 1/);
    scraper.forget("db", "c7");
    assert.doesNotMatch(await registry.metrics(), /cluster="c7"/);
    now += 30_000;
    assert.equal(await scraper.scrapeDue(), 9);
  });
});
