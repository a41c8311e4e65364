// The command tree. commander parses; every command is defined in commands/, one file per job.
import { Command, Option } from "commander";
import { backupCommand } from "./commands/backup.js";
import { completionCommand } from "./commands/completion.js";
import { pauseCommands } from "./commands/pause.js";
import { reportCommand } from "./commands/report.js";
import { restartCommand } from "./commands/restart.js";
import { scaleCommand } from "./commands/scale.js";
import { shellCommand } from "./commands/shell.js";
import { execCommand, queryCommand } from "./commands/sql.js";
import { statusCommand } from "./commands/status.js";
import { stepdownCommand } from "./commands/stepdown.js";
import { versionCommand } from "./commands/version.js";
import { TRANSPORTS } from "./kube.js";

export function buildProgram(): Command {
  const program = new Command("kubectl rqlite")
    .description("Run rqlite on Kubernetes: the rqlite operator's kubectl plugin")
    .option("--kubeconfig <path>", "kubeconfig file (default: $KUBECONFIG or ~/.kube/config)")
    .option("--context <name>", "kubeconfig context (default: the current context)")
    .option("-n, --namespace <name>", "namespace (default: the context's namespace)")
    .addOption(
      new Option(
        "--transport <how>",
        "how to reach rqlite: the API server's pod proxy, or a port-forward (needs the node's kubelet; carries rqlite's credentials); auto: port-forward for clusters with auth",
      )
        .choices(TRANSPORTS)
        .default("auto"),
    )
    .option(
      "--rqlite-user <name>",
      "rqlite user for clusters with auth, password in $RQLITE_PASSWORD (default: the operator's user, from its Secret)",
    )
    .showSuggestionAfterError()
    .exitOverride();
  // commander's message (and its "Did you mean" line) as one line, with what to do.
  program.configureOutput({
    outputError: (msg, write) =>
      write(
        `${msg
          .trim()
          .replace(/\s*\n\s*/g, " ")
          .replace(/\.$/, "")}; add --help for usage\n`,
      ),
  });
  for (const add of [
    statusCommand,
    queryCommand,
    execCommand,
    shellCommand,
    scaleCommand,
    restartCommand,
    stepdownCommand,
    pauseCommands,
    backupCommand,
    reportCommand,
    versionCommand,
    completionCommand,
  ])
    add(program);
  return program;
}
