// `query` reads, `exec` writes; both print what rqlite answered, as a table, CSV, JSON or YAML.
import { Option, type Command } from "commander";
import { csv, cell, outputOption, serialize, table, type Format } from "../output.js";
import { READ_LEVELS, type QueryResult, type ReadLevel } from "../rqlite.js";
import { sqlTarget } from "../target.js";
import { connect, examples } from "./common.js";

const INSERTS = /^\s*(insert|replace)\b/i;

export function queryCommand(program: Command): void {
  const cmd = program
    .command("query")
    .description("run a read-only SQL query (SELECT) and print its rows")
    .argument("<cluster>", "RqCluster name")
    .argument("<sql>", "one SQL statement")
    .addOption(new Option("--level <level>", "read consistency (rqlite's level)").choices(READ_LEVELS).default("weak"))
    .addOption(outputOption(["table", "csv"]).default("table"))
    .action(async (cluster: string, sql: string, opts: { level: ReadLevel; output: string }, self: Command) => {
      const node = await sqlTarget(connect(self), cluster);
      process.stdout.write(formatRows(await node.query(sql, opts.level), opts.output));
    });
  examples(cmd, [
    `kubectl rqlite query demo "SELECT * FROM users LIMIT 10"`,
    `kubectl rqlite query demo "SELECT count(*) FROM users" --level strong -o json`,
    `kubectl rqlite query demo "SELECT * FROM users" -o csv > users.csv`,
  ]);
}

export function execCommand(program: Command): void {
  const cmd = program
    .command("exec")
    .description("run a SQL statement that changes data or schema (INSERT, UPDATE, CREATE, ...)")
    .argument("<cluster>", "RqCluster name")
    .argument("<sql>", "one SQL statement")
    .addOption(outputOption())
    .action(async (cluster: string, sql: string, opts: { output?: Format }, self: Command) => {
      const node = await sqlTarget(connect(self), cluster);
      const results = await node.execute(sql);
      if (opts.output) process.stdout.write(serialize(results, opts.output));
      else
        for (const r of results)
          process.stdout.write(
            // rqlite reports SQLite's last rowid after any statement: it says something only after an INSERT.
            `${r.rowsAffected} row(s) affected${INSERTS.test(sql) && r.lastInsertId ? `, last insert id ${r.lastInsertId}` : ""}\n`,
          );
    });
  examples(cmd, [
    `kubectl rqlite exec demo "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)"`,
    `kubectl rqlite exec demo "INSERT INTO users(name) VALUES('ada')" -o json`,
  ]);
}

/** Rows as a table or CSV, or as JSON/YAML objects keyed by column. */
export function formatRows(r: QueryResult, format: string): string {
  if (format === "csv") return csv(r.columns, r.values);
  if (format === "json" || format === "yaml")
    return serialize(
      r.values.map((row) => Object.fromEntries(r.columns.map((c, i) => [c, row[i] ?? null]))),
      format,
    );
  if (r.values.length === 0) return "(no rows)\n";
  return table(
    r.columns,
    r.values.map((row) => row.map(cell)),
  );
}
