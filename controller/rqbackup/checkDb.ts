// The throwaway process that opens a backup read back from S3 as SQLite would restore it, so
// that parsing a tenant's file never happens inside the operator: a damaged or hostile file can
// at worst crash or exhaust this process, which the operator kills at its deadline. It runs
// under Node's permission model (no child processes, no workers, no addons, JS file reads
// limited to its own code), reads the one file it is given, and prints one JSON line:
//   node dist/controller/rqbackup/checkDb.js --file=/tmp/x.sqlite --format=binary
//   -> {"integrityCheck":["ok"],"tables":2,"rows":1000}   or   {"error":"..."}
// A binary backup is opened read-only and checked with PRAGMA integrity_check; an SQL dump is
// loaded into an empty in-memory database first, as a restore of it would be.
import { readFileSync } from "node:fs";
import { DatabaseSync } from "node:sqlite";
import { parseArgs } from "node:util";

/** What the check prints; the operator parses it (verification.ts parseCheckReport). */
export type CheckReport = { integrityCheck: string[]; tables: number; rows: number } | { error: string };

/** integrity_check stops after this many findings: enough to say what is wrong. */
const MAX_FINDINGS = 20;

export function checkDatabase(file: string, format: "binary" | "sql"): CheckReport {
  let db: DatabaseSync;
  if (format === "binary") db = new DatabaseSync(file, { readOnly: true });
  else {
    db = new DatabaseSync(":memory:");
    db.exec(readFileSync(file, "utf8"));
  }
  try {
    const findings = db
      .prepare(`PRAGMA integrity_check(${MAX_FINDINGS})`)
      .all()
      .map((r) => String(Object.values(r)[0]));
    // rqlite's own tables are user tables too; SQLite's internal ones are not counted.
    const tables = db
      .prepare("SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'")
      .all()
      .map((r) => String(r.name));
    let rows = 0;
    for (const t of tables) {
      const counted = db.prepare(`SELECT count(*) AS n FROM "${t.replaceAll('"', '""')}"`).get();
      rows += Number(counted?.n ?? 0);
    }
    return { integrityCheck: findings, tables: tables.length, rows };
  } finally {
    db.close();
  }
}

function main(): void {
  let report: CheckReport;
  try {
    const { values } = parseArgs({
      args: process.argv.slice(2),
      strict: true,
      options: { file: { type: "string" }, format: { type: "string", default: "binary" } },
    });
    if (!values.file) throw new Error("--file is required");
    if (values.format !== "binary" && values.format !== "sql") throw new Error(`--format=${values.format}`);
    report = checkDatabase(values.file, values.format);
  } catch (err) {
    report = { error: (err as Error).message };
  }
  process.stdout.write(`${JSON.stringify(report)}\n`);
  process.exitCode = "error" in report ? 1 : 0;
}

if (process.argv[1] && /checkDb\.[jt]s$/.test(process.argv[1])) main();
