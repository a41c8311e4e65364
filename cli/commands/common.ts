// What every command shares: the connection flags, the output flag, examples in --help.
import type { Command } from "commander";
import { Kube, type ConnectionFlags } from "../kube.js";
import { isFormat, serialize } from "../output.js";

/** The Kube of the global --kubeconfig, --context and -n flags. */
export const connect = (cmd: Command): Kube => Kube.connect(cmd.optsWithGlobals<ConnectionFlags>());

/** Adds "Examples:" to a command's --help. */
export function examples(cmd: Command, lines: string[]): Command {
  return cmd.addHelpText("after", `\nExamples:\n${lines.map((l) => `  ${l}`).join("\n")}\n`);
}

/** Prints `value` as JSON or YAML when -o asks for it; otherwise calls `human`. */
export function print(format: string | undefined, value: unknown, human: () => string): void {
  process.stdout.write(isFormat(format) ? serialize(value, format) : human());
}
