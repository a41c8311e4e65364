import { strict as assert } from "node:assert";
import { readFileSync } from "node:fs";
import { Registry } from "prom-client";
import { runningNodes } from "../../../../controller/rqcluster/reconcile.js";
import { NodeMetrics, type NodeScrape } from "../../../../controller/rqcluster/nodeMetrics.js";
import {
  goDurationSeconds,
  readNodeStats,
  readRestoreCounts,
  readUploadCounts,
} from "../../../../controller/rqlite/nodeStats.js";

const captured = (path: string) =>
  JSON.parse(readFileSync(new URL(`../../../fixtures/rqlite/${path}`, import.meta.url), "utf8")) as unknown;

/** The exposition lines of the rqlite_node_* families, without HELP and TYPE. */
async function nodeSeries(registry: Registry): Promise<string[]> {
  const text = await registry.metrics();
  return text
    .split("\n")
    .filter((l) => l.startsWith("rqlite_node_"))
    .sort();
}

describe("node metrics", () => {
  it("reads what it exports from real /status answers of a leader and a follower", () => {
    for (const version of ["8.43.4", "8.36.0"]) {
      const leader = readNodeStats(captured(`v${version}/status-leader.json`));
      const follower = readNodeStats(captured(`v${version}/status-follower.json`));
      assert.equal(leader.raftState, "Leader");
      assert.equal(leader.lastContactSeconds, 0);
      assert.equal(leader.version, `v${version}`);
      assert.equal(follower.raftState, "Follower");
      // hashicorp/raft reports a follower's last contact as a Go duration string.
      assert.ok(
        follower.lastContactSeconds! > 0 && follower.lastContactSeconds! < 1,
        String(follower.lastContactSeconds),
      );
      assert.equal(leader.dbSizeBytes, 8192);
      // The captures were taken after a CREATE TABLE: the Restored condition's durable evidence.
      assert.equal(leader.dbAppliedIndex, 3);
      assert.ok(leader.commitIndex >= follower.appliedIndex && follower.appliedIndex > 0);
    }
  });

  it("reads the uploader's counters from real /debug/vars answers", () => {
    assert.deepEqual(readUploadCounts(captured("v8.43.4/debug-vars-follower.json")), { ok: 0, fail: 0 });
    assert.deepEqual(readUploadCounts(captured("v8.36.0/debug-vars-follower.json")), { ok: 0, fail: 0 });
    assert.throws(() => readUploadCounts({ store: {} }), /uploader.num_uploads_ok is missing/);
  });

  it("reads the auto-restore counters from real /debug/vars answers", () => {
    const none = { restored: 0, failed: 0, skipped: 0 };
    assert.deepEqual(readRestoreCounts(captured("v8.43.4/debug-vars-follower.json")), none);
    assert.deepEqual(readRestoreCounts(captured("v8.36.0/debug-vars-follower.json")), none);
    assert.throws(
      () => readRestoreCounts({ store: { num_auto_restores: 1 } }),
      /store.num_auto_restores_failed is missing/,
    );
  });

  it("parses Go durations as hashicorp/raft prints them", () => {
    assert.equal(goDurationSeconds("19.030846ms"), 0.019030846);
    assert.equal(goDurationSeconds("1m2.5s"), 62.5);
    assert.equal(goDurationSeconds("0"), 0);
    for (const bad of ["never", "", "5", "1x"]) assert.equal(goDurationSeconds(bad), undefined, bad);
  });

  it("exports each node's state, indexes, lag, size, contact and version; nodes that go lose their series", async () => {
    const registry = new Registry();
    const metrics = new NodeMetrics(registry);
    const leader = readNodeStats(captured("v8.43.4/status-leader.json"));
    const follower = {
      ...readNodeStats(captured("v8.43.4/status-follower.json")),
      appliedIndex: leader.commitIndex - 5,
    };
    const scrapes: NodeScrape[] = [
      { node: "demo-0", stats: leader },
      { node: "demo-1", stats: follower, uploads: { ok: 3, fail: 1 } },
      { node: "demo-2" },
    ];
    metrics.record("db", "demo", scrapes);
    const series = await nodeSeries(registry);
    const at = (node: string) => `namespace="db",cluster="demo",node="${node}"`;
    for (const line of [
      `rqlite_node_up{${at("demo-0")}} 1`,
      `rqlite_node_up{${at("demo-2")}} 0`,
      `rqlite_node_raft_state{${at("demo-0")},state="Leader"} 1`,
      `rqlite_node_raft_state{${at("demo-1")},state="Leader"} 0`,
      `rqlite_node_raft_state{${at("demo-1")},state="Follower"} 1`,
      `rqlite_node_raft_lag_entries{${at("demo-0")}} 0`,
      `rqlite_node_raft_lag_entries{${at("demo-1")}} 5`,
      `rqlite_node_commit_index{${at("demo-0")}} ${leader.commitIndex}`,
      `rqlite_node_db_size_bytes{${at("demo-0")}} 8192`,
      `rqlite_node_last_contact_seconds{${at("demo-0")}} 0`,
      `rqlite_node_version_info{${at("demo-0")},version="v8.43.4"} 1`,
      `rqlite_node_backup_uploads_total{${at("demo-1")},result="ok"} 3`,
      `rqlite_node_backup_uploads_total{${at("demo-1")},result="fail"} 1`,
    ])
      assert.ok(series.includes(line), `${line} in\n${series.join("\n")}`);
    // An unreachable node has no readings that could pass for current ones.
    assert.deepEqual(
      series.filter((l) => l.includes(`node="demo-2"`)),
      [`rqlite_node_up{${at("demo-2")}} 0`],
    );

    // demo-1 restarted (its counters from 0) and uploaded twice; demo-2 was scaled away.
    metrics.record("db", "demo", [
      { node: "demo-0", stats: leader },
      { node: "demo-1", stats: follower, uploads: { ok: 2, fail: 0 } },
    ]);
    const after = await nodeSeries(registry);
    assert.ok(after.includes(`rqlite_node_backup_uploads_total{${at("demo-1")},result="ok"} 5`), after.join("\n"));
    assert.ok(after.includes(`rqlite_node_backup_uploads_total{${at("demo-1")},result="fail"} 1`), after.join("\n"));
    assert.deepEqual(
      after.filter((l) => l.includes(`node="demo-2"`)),
      [],
    );

    // Without a leader in the scrape there is no lag to tell.
    metrics.record("db", "demo", [{ node: "demo-1", stats: { ...follower, raftState: "Candidate" } }]);
    assert.deepEqual(
      (await nodeSeries(registry)).filter((l) => l.startsWith("rqlite_node_raft_lag_entries")),
      [],
    );

    metrics.record("db", "other", [{ node: "other-0", stats: leader }]);
    metrics.forget("db", "demo");
    assert.deepEqual(
      (await nodeSeries(registry)).filter((l) => l.includes(`cluster="demo"`)),
      [],
    );
    assert.ok((await nodeSeries(registry)).some((l) => l.includes(`cluster="other"`)));
  });

  it("scrapes the nodes whose Pods run, and uploads only where -auto-backup is set", () => {
    const pod = (name: string, args: string[], ip?: string, deleting = false) => ({
      metadata: { name, ...(deleting ? { deletionTimestamp: new Date() } : {}) },
      spec: { containers: [{ name: "rqlite", args }] },
      status: ip ? { podIP: ip } : {},
    });
    assert.deepEqual(
      runningNodes([
        pod("demo-0", ["-node-id=demo-0", "-auto-backup=/cfg/backup.json"], "10.0.0.1"),
        pod("demo-1", ["-node-id=demo-1", "-auto-backup-x"], "10.0.0.2"),
        pod("demo-2", [], undefined),
        pod("demo-3", [], "10.0.0.4", true),
      ]),
      [
        { id: "demo-0", uploads: true },
        { id: "demo-1", uploads: false },
      ],
    );
  });
});
