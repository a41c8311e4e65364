// `stepdown` moves Raft leadership (rqlite's POST /leader), e.g. off a node about to be drained.
import type { Command } from "commander";
import { canTransferLeadership } from "../../controller/rqlite/adapter.js";
import { clusterPods, getCluster } from "../cluster.js";
import { CliError, usageError } from "../errors.js";
import { NodeProxy } from "../rqlite.js";
import { connect, examples } from "./common.js";

export function stepdownCommand(program: Command): void {
  const cmd = program
    .command("stepdown")
    .description("move rqlite leadership to another voter (any, or the one --to names)")
    .argument("<cluster>", "RqCluster name")
    .option("--to <node>", "the voter to lead next, e.g. demo-2")
    .action(async (name: string, opts: { to?: string }, self: Command) => {
      const kube = connect(self);
      const pods = await clusterPods(kube, await getCluster(kube, name));
      if (pods.length === 0)
        throw new CliError(`RqCluster ${kube.namespace}/${name} has no Pods; see kubectl rqlite status ${name}`);
      const nodes = pods.map((p) => new NodeProxy(kube, p, 5000));
      const statuses = await Promise.all(nodes.map((n) => n.status().catch(() => undefined)));
      const at = statuses.findIndex((s) => s?.raftState === "Leader");
      const leader = statuses[at];
      if (!leader)
        throw new CliError(
          `RqCluster ${kube.namespace}/${name} has no rqlite leader to step down; see kubectl rqlite status ${name}`,
        );
      if (opts.to) {
        const target = leader.members.find((m) => m.id === opts.to);
        if (!target)
          throw usageError(
            `--to ${opts.to} is not a member of RqCluster ${name}; members: ${leader.members.map((m) => m.id).join(", ")}`,
          );
        if (!target.voter) throw usageError(`--to ${opts.to} is a read replica; only a voter can lead`);
        if (opts.to === leader.nodeId) {
          process.stdout.write(`${opts.to} already leads RqCluster ${kube.namespace}/${name}\n`);
          return;
        }
      }
      if (!canTransferLeadership(leader.version))
        throw new CliError(
          `rqlite ${leader.version} cannot move leadership on request (POST /leader came in v8.41); upgrade the cluster's image, or delete the leader's Pod ${leader.nodeId} to force an election`,
        );
      await nodes[at]!.stepdown(opts.to);
      const after = await nodes[at]!.status().catch(() => undefined);
      process.stdout.write(
        `leadership of RqCluster ${kube.namespace}/${name} moved from ${leader.nodeId} to ${after?.leader?.id ?? opts.to ?? "another voter"}\n`,
      );
    });
  examples(cmd, ["kubectl rqlite stepdown demo", "kubectl rqlite stepdown demo --to demo-2"]);
}
