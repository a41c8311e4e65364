// kubectl-rqlite: kubectl runs it for `kubectl rqlite ...`. Exit 0 on success, 1 on failure, 2 on
// a usage error; failures print one line, never a stack trace.
import { CommanderError } from "commander";
import { complete, NO_FILE_COMPLETION } from "./completion.js";
import { CliError, EXIT_FAILURE, EXIT_USAGE } from "./errors.js";
import { buildProgram } from "./program.js";

/** Runs one command line and resolves with its exit code. */
export async function run(argv: string[]): Promise<number> {
  // Shell completion (the scripts of `completion`, and kubectl through kubectl_complete-rqlite),
  // answered before parsing: the words are a partial command line that need not parse.
  if (argv[0] === "__complete") {
    const candidates = await complete(buildProgram(), argv.length > 1 ? argv.slice(1) : [""]);
    process.stdout.write([...candidates, NO_FILE_COMPLETION].join("\n") + "\n");
    return 0;
  }
  try {
    await buildProgram().parseAsync(argv, { from: "user" });
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version end parsing with a "error" that is a success.
      return err.exitCode === 0 ? 0 : EXIT_USAGE;
    }
    const message = err instanceof Error ? err.message : String(err);
    process.stderr.write(`error: ${message}\n`);
    return err instanceof CliError ? err.exitCode : EXIT_FAILURE;
  }
}

// No top-level await: the single executable (cli/bundle.ts) runs this as a CommonJS script.
void run(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
