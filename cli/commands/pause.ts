// `pause` and `resume` set spec.paused: the controller keeps observing but changes nothing.
import type { Command } from "commander";
import { patchCluster } from "../cluster.js";
import { connect, examples } from "./common.js";

export function pauseCommands(program: Command): void {
  pausedCommand(
    program,
    "pause",
    true,
    "stop the operator from changing an RqCluster (spec.paused: true)",
    (c, name) => `${c} paused: the operator observes it but changes nothing until kubectl rqlite resume ${name}`,
  );
  pausedCommand(
    program,
    "resume",
    false,
    "let the operator manage a paused RqCluster again (spec.paused: false)",
    (c) => `${c} resumed`,
  );
}

function pausedCommand(
  program: Command,
  verb: string,
  paused: boolean,
  description: string,
  done: (cluster: string, name: string) => string,
): void {
  const cmd = program
    .command(verb)
    .description(description)
    .argument("<cluster>", "RqCluster name")
    .action(async (name: string, _opts: unknown, self: Command) => {
      const kube = connect(self);
      await patchCluster(kube, name, { spec: { paused } });
      process.stdout.write(`${done(`RqCluster ${kube.namespace}/${name}`, name)}\n`);
    });
  examples(cmd, [`kubectl rqlite ${verb} demo`]);
}
