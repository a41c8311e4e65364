// The rqlite_node_* series on real rqlite nodes: the leading controller reads each node of a
// 3-node cluster and exports its state, indexes, lag, size and version; a frozen node shows as
// down (under the invariant monitor, as every disruption here); a deleted cluster's series go.
import { strict as assert } from "node:assert";
import type { KubeClient } from "../../controller/runtime/kubeClient.js";
import type { LocalStack } from "../../local/stack.js";
import { eventually as eventuallyWithin } from "../../testenv/eventually.js";
import { isAvailable, isConverged, readCluster } from "./clusterStatus.js";
import { monitoredChange } from "./monitoredChange.js";
import { startScheduledEnv, type ScheduledEnv } from "./scheduledEnv.js";
import { createRowsTable, type AckedRow } from "./rows.js";

const eventually = <T>(what: string, check: () => Promise<T | undefined | false>, timeoutMs = 60_000) =>
  eventuallyWithin(what, check, timeoutMs, { intervalMs: 250 });

const NODES = ["m-0", "m-1", "m-2"];

/** The sample lines of the rqlite_node_* families for cluster `m`, keyed by name and labels. */
function nodeSamples(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (!line.startsWith("rqlite_node_") || !line.includes('cluster="m"')) continue;
    const at = line.lastIndexOf(" ");
    out.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return out;
}

describe("node metrics on real rqlite nodes", function () {
  this.timeout(300_000);
  let env: ScheduledEnv;
  let stack: LocalStack;
  let client: KubeClient;
  let ns: string;
  const acked: AckedRow[] = [];
  const figures: Record<string, string> = {};

  before(async () => {
    env = await startScheduledEnv({
      prefix: "node-metrics",
      replicas: 1,
      controllerArgs: ["--rqlite-metrics-interval=1"],
    });
    ({ stack, client, ns } = env);
  });
  after(async () => {
    await env?.stop();
    console.log(`      figures: ${JSON.stringify(figures)}`);
  });

  const metrics = async () => nodeSamples(await stack.controllers[0]!.metrics());
  const labels = (node: string) => `namespace="${ns}",cluster="m",node="${node}"`;

  it("exports each node's Raft state, indexes, lag, size, contact and version", async () => {
    await stack.cp.kubectlOk(["apply", "-n", ns, "-f", "-"], {
      input: JSON.stringify({
        apiVersion: "rqlite.io/v1alpha1",
        kind: "RqCluster",
        metadata: { name: "m" },
        spec: { replicas: 3, image: "rqlite/rqlite:8.43.4" },
      }),
    });
    await eventually("Available", async () => isAvailable((await readCluster(stack.cp, ns, "m")).status), 120_000);
    const { status } = await eventually("3 members with a leader", async () => {
      const c = await readCluster(stack.cp, ns, "m");
      return isConverged(c, 3) && c;
    });
    await createRowsTable(ns, status.leader!);
    const samples = await eventually("every node read, one leader", async () => {
      const s = await metrics();
      const leaders = NODES.filter((n) => s.get(`rqlite_node_raft_state{${labels(n)},state="Leader"}`) === 1);
      // A follower learns the commit index with the next append, so a scrape
      // right after the table was created may still see 0 there.
      const caughtUp = NODES.every((n) => s.get(`rqlite_node_commit_index{${labels(n)}}`)! > 0);
      return NODES.every((n) => s.get(`rqlite_node_up{${labels(n)}}`) === 1) && leaders.length === 1 && caughtUp && s;
    });
    const text = [...samples].map(([k, v]) => `${k} ${v}`).join("\n");
    console.log(`      ${text.replaceAll("\n", "\n      ")}`);
    for (const n of NODES) {
      assert.equal(samples.get(`rqlite_node_version_info{${labels(n)},version="v8.43.4"}`), 1, text);
      assert.ok(samples.get(`rqlite_node_db_size_bytes{${labels(n)}}`)! > 0, text);
      assert.ok(samples.get(`rqlite_node_commit_index{${labels(n)}}`)! > 0, text);
      assert.ok(samples.has(`rqlite_node_raft_lag_entries{${labels(n)}}`), text);
      assert.ok(samples.has(`rqlite_node_last_contact_seconds{${labels(n)}}`), text);
      const states = ["Leader", "Follower", "Candidate", "Shutdown"].map(
        (state) => samples.get(`rqlite_node_raft_state{${labels(n)},state="${state}"}`) ?? -1,
      );
      assert.deepEqual([...states].sort(), [0, 0, 0, 1], `${n} is in exactly one Raft state`);
    }
    // No backups are configured, so no upload counters.
    assert.ok(![...samples.keys()].some((k) => k.startsWith("rqlite_node_backup_uploads_total")), text);
  });

  it("shows a hung node as down, without readings that look current", async () => {
    const { status } = await readCluster(stack.cp, ns, "m");
    const victim = NODES.find((n) => n !== status.leader)!;
    await monitoredChange(
      {
        name: "follower frozen",
        client,
        namespace: ns,
        cluster: "m",
        allowance: 1,
        acked,
        podsAfter: () => NODES.filter((n) => n !== victim),
        figures,
      },
      async (monitor) => {
        monitor.fault(victim);
        await stack.runtime.freeze(ns, victim);
        await eventually("the frozen node reported down", async () => {
          const s = await metrics();
          return (
            s.get(`rqlite_node_up{${labels(victim)}}`) === 0 &&
            !s.has(`rqlite_node_applied_index{${labels(victim)}}`) &&
            NODES.filter((n) => n !== victim).every((n) => s.get(`rqlite_node_up{${labels(n)}}`) === 1)
          );
        });
      },
    );
  });

  it("removes a deleted cluster's series", async () => {
    await stack.cp.kubectlOk(["delete", "rqcluster", "m", "-n", ns, "--wait=true"]);
    await eventually("no rqlite_node_* series of the deleted cluster", async () => (await metrics()).size === 0);
  });
});
