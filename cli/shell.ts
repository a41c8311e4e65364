// The interactive SQL prompt: statements end with ";", dot-commands do the rest, and history
// (arrow keys, kept in a file across sessions) comes from node:readline.
import { appendFileSync, readFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { formatRows } from "./commands/sql.js";
import type { Kube } from "./kube.js";
import { READ_LEVELS, type ReadLevel } from "./rqlite.js";
import { sqlTarget } from "./target.js";

const HISTORY_SIZE = 1000;
/** Statements that answer with rows; anything else goes to /db/execute. */
const READS = /^\s*(select|pragma|explain|values|with)\b/i;

const HELP = `Statements end with ";" and may span lines. Commands:
  .tables            list the tables
  .schema [TABLE]    show CREATE statements
  .level [LEVEL]     show or set the read consistency (${READ_LEVELS.join(", ")})
  .help              this text
  .quit / .exit      leave (Ctrl-D too)
`;

export const historyFile = () => process.env.KUBECTL_RQLITE_HISTORY || join(homedir(), ".kubectl_rqlite_history");

export async function runShell(kube: Kube, cluster: string, level: ReadLevel): Promise<void> {
  const file = historyFile();
  const history = readHistory(file);
  const rl = createInterface({
    input: process.stdin,
    output: process.stdout,
    terminal: process.stdin.isTTY,
    history,
    historySize: HISTORY_SIZE,
    removeHistoryDuplicates: true,
  });
  const prompt = `${cluster}> `;
  const more = `${" ".repeat(Math.max(0, cluster.length - 3))}...> `;
  let buffer = "";
  const say = (text: string) => process.stdout.write(text.endsWith("\n") ? text : `${text}\n`);
  say(`Connected to RqCluster ${kube.namespace}/${cluster}. Type .help for help.`);
  rl.setPrompt(prompt);
  rl.prompt();
  for await (const line of rl) {
    buffer = buffer ? `${buffer}\n${line}` : line;
    const text = buffer.trim();
    if (!text.startsWith(".") && text && !text.endsWith(";")) {
      rl.setPrompt(more);
      rl.prompt();
      continue;
    }
    buffer = "";
    rl.setPrompt(prompt);
    if (text) remember(file, text);
    if (/^\.(quit|exit)$/.test(text)) break;
    try {
      if (text.startsWith(".")) level = await dotCommand(kube, cluster, text, level, say);
      else if (text) say(await runSql(kube, cluster, text.replace(/;\s*$/, ""), level));
    } catch (err) {
      say(`error: ${(err as Error).message}`);
    }
    rl.prompt();
  }
  rl.close();
}

async function runSql(kube: Kube, cluster: string, sql: string, level: ReadLevel): Promise<string> {
  const node = await sqlTarget(kube, cluster);
  if (READS.test(sql)) return formatRows(await node.query(sql, level), "table");
  const results = await node.execute(sql);
  return results.map((r) => `${r.rowsAffected} row(s) affected`).join("\n");
}

async function dotCommand(
  kube: Kube,
  cluster: string,
  text: string,
  level: ReadLevel,
  say: (t: string) => void,
): Promise<ReadLevel> {
  const [cmd, arg] = text.split(/\s+/);
  switch (cmd) {
    case ".help":
      say(HELP);
      break;
    case ".tables":
      say(await runSql(kube, cluster, "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name", level));
      break;
    case ".schema": {
      const where = arg ? ` AND name = '${arg.replace(/'/g, "''")}'` : "";
      say(
        await runSql(kube, cluster, `SELECT sql FROM sqlite_master WHERE sql IS NOT NULL${where} ORDER BY name`, level),
      );
      break;
    }
    case ".level":
      if (!arg) say(`read consistency: ${level}`);
      else if ((READ_LEVELS as string[]).includes(arg)) {
        say(`read consistency: ${arg}`);
        return arg as ReadLevel;
      } else say(`error: unknown level "${arg}"; use one of ${READ_LEVELS.join(", ")}`);
      break;
    default:
      say(`error: unknown command ${cmd}; .help lists them`);
  }
  return level;
}

/** readline wants the newest entry first; the file keeps them oldest first, one per line. */
function readHistory(file: string): string[] {
  try {
    return readFileSync(file, "utf8").split("\n").filter(Boolean).reverse().slice(0, HISTORY_SIZE);
  } catch {
    return [];
  }
}

function remember(file: string, entry: string): void {
  try {
    appendFileSync(file, `${entry.replace(/\n/g, " ")}\n`, { mode: 0o600 });
  } catch {
    // History is a convenience: a read-only home must not stop the shell.
  }
}
