import { Option, type Command } from "commander";
import { getCluster } from "../cluster.js";
import { READ_LEVELS, type ReadLevel } from "../rqlite.js";
import { runShell } from "../shell.js";
import { connect, examples } from "./common.js";

export function shellCommand(program: Command): void {
  const cmd = program
    .command("shell")
    .description("open an interactive SQL prompt on an RqCluster (history kept in ~/.kubectl_rqlite_history)")
    .argument("<cluster>", "RqCluster name")
    .addOption(new Option("--level <level>", "read consistency of queries").choices(READ_LEVELS).default("weak"))
    .action(async (name: string, opts: { level: ReadLevel }, self: Command) => {
      const kube = connect(self);
      await getCluster(kube, name);
      await runShell(kube, name, opts.level);
    });
  examples(cmd, ["kubectl rqlite shell demo", "kubectl rqlite shell demo --level strong"]);
}
