// `kubectl rqlite shell`, driven through a pseudo-terminal as a person types: statements over
// several lines, rows printed as a table, an error that does not end the session, the up arrow
// recalling the last statement, and the history kept in its file.
import { strict as assert } from "node:assert";
import { mkdtemp, readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { spawn, type IPty } from "@lydell/node-pty";
import { pluginEnv } from "./support/plugin.js";
import { cliStack, DEMO, type CliStack } from "./support/stack.js";

const UP = "\x1b[A";

/** A terminal session: everything it printed so far, and waiting for text to appear. */
class Terminal {
  private output = "";
  private exited?: number;
  private readonly pty: IPty;

  constructor(args: string[], env: NodeJS.ProcessEnv) {
    this.pty = spawn("kubectl", args, { name: "xterm", cols: 120, rows: 40, env: env });
    this.pty.onData((d) => (this.output += d));
    this.pty.onExit(({ exitCode }) => (this.exited = exitCode));
  }

  /** Waits until `text` has been printed after `from` (an offset into the output). */
  async waitFor(text: string | RegExp, from = 0, timeoutMs = 30_000): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const rest = this.output.slice(from);
      const at = typeof text === "string" ? rest.indexOf(text) : rest.search(text);
      if (at >= 0) return from + at;
      if (Date.now() > deadline || this.exited !== undefined)
        throw new Error(`terminal never printed ${String(text)}; it printed:\n${this.output}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** Types `keys` and waits for `expect` to be printed in answer. */
  async type(keys: string, expect: string | RegExp): Promise<string> {
    const from = this.output.length;
    this.pty.write(keys);
    const at = await this.waitFor(expect, from);
    return this.output.slice(from, at + (typeof expect === "string" ? expect.length : 0));
  }

  async exitCode(timeoutMs = 10_000): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    while (this.exited === undefined && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    if (this.exited === undefined) {
      this.pty.kill();
      throw new Error(`the shell did not exit; it printed:\n${this.output}`);
    }
    return this.exited;
  }
}

describe("kubectl rqlite shell through a pseudo-terminal", function () {
  this.timeout(120_000);
  let s: CliStack;
  let history: string;

  before(async () => {
    s = await cliStack();
    history = join(await mkdtemp(join(tmpdir(), "rqo-cli-history-")), "history");
  });

  it("runs statements, shows rows and errors, recalls history with the up arrow, and keeps it in its file", async () => {
    const term = new Terminal(["rqlite", "shell", DEMO], pluginEnv(s, { env: { KUBECTL_RQLITE_HISTORY: history } }));
    await term.waitFor(`Connected to RqCluster ${s.namespace}/${DEMO}`);
    await term.waitFor("demo> ");
    await term.type("CREATE TABLE IF NOT EXISTS notes (id INTEGER PRIMARY KEY, body TEXT);\r", "row(s) affected");
    // A statement over two lines: the continuation prompt, then the answer.
    await term.type("INSERT INTO notes(body)\r", "...> ");
    await term.type("VALUES('from the pty');\r", "1 row(s) affected");
    const rows = await term.type("SELECT body FROM notes;\r", "demo> ");
    assert.match(rows, /body\s+\r?\nfrom the pty/);
    const error = await term.type("SELECT * FROM missing;\r", "demo> ");
    assert.match(error, /error: rqlite refused the SQL: no such table: missing/);
    // Up twice: the SELECT before the failed one comes back, and runs again.
    const recalled = await term.type(`${UP}${UP}`, "SELECT body FROM notes;");
    assert.ok(recalled.includes("SELECT body FROM notes;"));
    const again = await term.type("\r", "demo> ");
    assert.match(again, /from the pty/);
    assert.match(await term.type(".tables\r", "demo> "), /notes/);
    await term.type(".quit\r", ".quit");
    assert.equal(await term.exitCode(), 0);
    const kept = (await readFile(history, "utf8")).trim().split("\n");
    assert.deepEqual(kept.slice(0, 3), [
      "CREATE TABLE IF NOT EXISTS notes (id INTEGER PRIMARY KEY, body TEXT);",
      "INSERT INTO notes(body) VALUES('from the pty');",
      "SELECT body FROM notes;",
    ]);
    assert.equal(kept.at(-1), ".quit");
  });
});
