import type { Command } from "commander";
import { OPERATOR_NAMESPACE } from "../operator.js";
import { writeReport } from "../report.js";
import { connect, examples } from "./common.js";

export function reportCommand(program: Command): void {
  const cmd = program
    .command("report")
    .description(
      "write a support bundle (tar.gz) of an RqCluster, its children, events, nodes and the operator; secrets redacted",
    )
    .argument("<cluster>", "RqCluster name")
    .option("-f, --file <path>", "where to write it (default: rqlite-report-CLUSTER-TIME.tar.gz)")
    .option("--operator-namespace <ns>", "where the operator runs", OPERATOR_NAMESPACE)
    .action(async (cluster: string, opts: { file?: string; operatorNamespace: string }, self: Command) => {
      const kube = connect(self);
      const file = opts.file ?? `rqlite-report-${cluster}-${new Date().toISOString().replace(/[:.]/g, "-")}.tar.gz`;
      const { files, errors } = await writeReport(kube, { cluster, operatorNamespace: opts.operatorNamespace, file });
      process.stdout.write(`wrote ${file}: ${files.length} files, secrets redacted\n`);
      if (errors.length)
        process.stderr.write(`not collected (listed in ERRORS.txt):\n${errors.map((e) => `  ${e}`).join("\n")}\n`);
    });
  examples(cmd, ["kubectl rqlite report demo", "kubectl rqlite report demo -f /tmp/demo-report.tar.gz"]);
}
