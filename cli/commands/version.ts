// `version`: the plugin's, the operator's (from its Deployment) and, given a cluster, each node's.
import type { Command } from "commander";
import { clusterPods, getCluster } from "../cluster.js";
import { OPERATOR_NAMESPACE, operatorVersion, pluginVersion } from "../operator.js";
import { outputOption, table } from "../output.js";
import type { Kube } from "../kube.js";
import { NodeProxy } from "../rqlite.js";
import { connect, examples, print } from "./common.js";

export function versionCommand(program: Command): void {
  const cmd = program
    .command("version")
    .description("print the plugin's, the operator's and (given a cluster) each rqlite node's version")
    .argument("[cluster]", "RqCluster whose nodes to ask")
    .option("--operator-namespace <ns>", "where the operator runs", OPERATOR_NAMESPACE)
    .addOption(outputOption())
    .action(
      async (cluster: string | undefined, opts: { operatorNamespace: string; output?: string }, self: Command) => {
        const kube = connect(self);
        const [operator, nodes] = await Promise.all([
          operatorVersion(kube, opts.operatorNamespace),
          cluster ? nodeVersions(kube, cluster) : Promise.resolve(undefined),
        ]);
        const view = {
          plugin: pluginVersion(),
          operator: operator ?? "not found",
          ...(nodes ? { nodes } : {}),
        };
        print(opts.output, view, () => {
          const lines = [`Plugin: ${view.plugin}`, `Operator: ${view.operator}`];
          const body = nodes
            ? `\n${table(
                ["NODE", "RQLITE"],
                nodes.map((n) => [n.name, n.version]),
              )}`
            : "";
          return `${lines.join("\n")}\n${body}`;
        });
      },
    );
  examples(cmd, ["kubectl rqlite version", "kubectl rqlite version demo -o json"]);
}

async function nodeVersions(kube: Kube, cluster: string) {
  const pods = await clusterPods(kube, await getCluster(kube, cluster));
  return Promise.all(
    pods.map(async (p) => {
      const node = new NodeProxy(kube, p, 5000);
      const version = await node.status().then(
        (s) => s.version,
        (err: Error) => `unknown (${err.message})`,
      );
      return { name: node.name, version };
    }),
  );
}
