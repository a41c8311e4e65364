// One lifecycle change under watch: the invariant monitor samples the cluster and a writer inserts
// rows while the change runs; afterwards every node must hold every acknowledged row, and the
// test fails on any violation. The figures are printed whether it passes or not.
import { AssertionError } from "node:assert";
import type { KubeClient } from "../../controller/runtime/kubeClient.js";
import {
  formatReport,
  startInvariantMonitor,
  type InvariantMonitor,
  type MonitorReport,
} from "../../testenv/invariantMonitor.js";
import type { NodeAccess } from "../../testenv/nodeAccess.js";
import { assertRowsOnEveryNode, startAckedWriter, type AckedRow } from "./rows.js";

export interface MonitoredChangeOptions {
  /** Names the scenario in the figures. */
  name: string;
  client: KubeClient;
  namespace: string;
  cluster: string;
  /** Voters the change itself takes down (a kill or a freeze). */
  allowance?: number;
  /** Rows acknowledged so far, across changes; this change's are added. */
  acked: AckedRow[];
  /** The Pods that must hold every acknowledged row once the change is done. */
  podsAfter: () => Promise<string[]> | string[];
  /** Where the scenario's figures are collected for the suite's summary. */
  figures: Record<string, string>;
  /** How the monitor and the writer reach the nodes (HTTPS CA, credentials); plain HTTP by default. */
  access?: NodeAccess;
}

export async function monitoredChange(
  opts: MonitoredChangeOptions,
  change: (monitor: InvariantMonitor) => Promise<void>,
): Promise<MonitorReport> {
  const monitor = await startInvariantMonitor({
    client: opts.client,
    namespace: opts.namespace,
    cluster: opts.cluster,
    allowance: opts.allowance ?? 0,
    ...(opts.access ? { access: opts.access } : {}),
  });
  const writer = startAckedWriter({
    client: opts.client,
    namespace: opts.namespace,
    cluster: opts.cluster,
    prefix: opts.name.replace(/\W+/g, "-"),
    ...(opts.access ? { access: opts.access } : {}),
  });
  const started = Date.now();
  let changeError: unknown;
  try {
    await change(monitor);
  } catch (err) {
    changeError = err;
  }
  const elapsed = Date.now() - started;
  const rows = await writer.stop();
  const report = await monitor.stop();
  opts.acked.push(...rows.acked);
  const figures =
    `most voters down at once ${report.maxVotersDown}, violations ${report.violations.length}, ` +
    `${(elapsed / 1000).toFixed(1)} s, ${rows.acked.length} of ${rows.attempts} inserts acknowledged`;
  opts.figures[opts.name] = figures;
  console.log(`      ${formatReport(opts.name, report).replaceAll("\n", "\n      ")}`);
  console.log(
    `      rows: ${rows.acked.length} acknowledged, ${rows.failures} failed${rows.lastFailure ? ` (last: ${rows.lastFailure})` : ""}`,
  );

  const problems: string[] = [];
  if (changeError) problems.push(`the change did not complete: ${(changeError as Error).message}`);
  if (report.violations.length > 0)
    problems.push(
      `${report.violations.length} invariant violation(s):\n${report.violations.map((v) => `  ${v.invariant} at ${(v.t / 1000).toFixed(1)} s: ${v.message}`).join("\n")}`,
    );
  if (report.unchecked.length > 0)
    problems.push(
      `the monitor could not judge the change:\n${report.unchecked.map((u) => `  ${u}`).join("\n")}` +
        (report.lastRaftProblem ? `\n  last sample: ${report.lastRaftProblem}` : ""),
    );
  if (!changeError) {
    try {
      // The Pods as they run now say how to reach each node (a change may have switched schemes).
      await opts.access?.refresh(opts.client, opts.cluster);
      const held = await assertRowsOnEveryNode(opts.namespace, await opts.podsAfter(), opts.acked, opts.access);
      opts.figures[opts.name] +=
        `; rows written and acknowledged so far ${opts.acked.length} = rows read on each of ${Object.keys(held).length} nodes`;
    } catch (err) {
      problems.push((err as Error).message);
    }
  }
  if (problems.length > 0) throw new AssertionError({ message: `${opts.name}: ${problems.join("\n")}` });
  return report;
}
