// The entry point of a `pvc` backup's verification Job (spec.verify, or the verify-requested
// annotation): the operator cannot mount a tenant's claim, so a restricted one-Pod Job of its image
// mounts it read-only and does what ./verifyObject.ts does for an object in S3: hashes and counts
// the file, uncompresses it into the Pod's scratch folder (bounded), checks it whole, and opens it
// as a restore would (./checkDb.ts, in this process: the Pod is the throwaway sandbox). Reports the
// reading (./verification.ts ObjectReading) as its termination message, which the RqBackup
// controller judges exactly as it judges a read-back from S3.
//   node dist/controller/rqbackup/verifyFile.js --file=/backup/path/key --format=binary
//     --compress=true --max-bytes=n --scratch=/scratch --termination-log=/dev/termination-log
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { mkdtemp, rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { checkDatabase, type CheckReport } from "./checkDb.js";
import { TERMINATION_LOG } from "./job.js";
import type { ObjectReading } from "./verification.js";
import { checkStaged } from "./verifyObject.js";

/** The kubelet keeps at most 4096 bytes of a termination message. */
export const READING_MAX = 4000;
/** Each integrity_check finding is cut to this, so that the findings fit the message. */
const FINDING_MAX = 160;

export interface VerifyFileOptions {
  file: string;
  format: "binary" | "sql";
  compress: boolean;
  maxBytes: number;
  scratch: string;
  timeoutMs: number;
}

export async function verifyFile(o: VerifyFileOptions): Promise<ObjectReading> {
  const info = await stat(o.file).catch((err: NodeJS.ErrnoException) => err);
  if (info instanceof Error)
    return {
      kind: "unreadable",
      reason:
        info.code === "ENOENT" ? `there is no file ${o.file} in the claim` : `cannot read ${o.file}: ${info.message}`,
    };
  if (info.size > o.maxBytes) return { kind: "tooLarge", maxBytes: o.maxBytes };
  const hash = createHash("sha256");
  let size = 0;
  for await (const chunk of createReadStream(o.file) as AsyncIterable<Buffer>) {
    hash.update(chunk);
    size += chunk.length;
  }
  const dir = await mkdtemp(join(o.scratch, "verify-"));
  try {
    const check = (file: string): Promise<CheckReport> => {
      try {
        return Promise.resolve(checkDatabase(file, o.format));
      } catch (err) {
        return Promise.resolve({ error: (err as Error).message });
      }
    };
    return await checkStaged(
      o.file,
      { size, sha256: hash.digest("hex") },
      { ...o, dir, signal: AbortSignal.timeout(o.timeoutMs), dropRaw: false },
      check,
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** The reading as the termination message, cut to fit: findings first, then any long text. */
export function readingMessage(r: ObjectReading): string {
  let out = r;
  if (r.kind === "read" && r.check && "integrityCheck" in r.check) {
    const findings = r.check.integrityCheck.map((f) => f.slice(0, FINDING_MAX));
    out = { ...r, check: { ...r.check, integrityCheck: findings } };
    while (JSON.stringify(out).length > READING_MAX && findings.length > 1) {
      findings.pop();
      out = { ...r, check: { ...r.check, integrityCheck: findings } };
    }
  }
  const text = JSON.stringify(out);
  if (text.length <= READING_MAX) return text;
  const cut = (s: string) => s.slice(0, READING_MAX / 2);
  if (out.kind === "unreadable") return JSON.stringify({ ...out, reason: cut(out.reason) });
  if (out.kind === "read") {
    const check = out.check && "error" in out.check ? { error: cut(out.check.error) } : out.check;
    return JSON.stringify({
      ...out,
      ...(out.problem ? { problem: cut(out.problem) } : {}),
      ...(check ? { check } : {}),
    });
  }
  return text;
}

async function main(): Promise<void> {
  let terminationLog = TERMINATION_LOG;
  let reading: ObjectReading;
  try {
    const { values } = parseArgs({
      args: process.argv.slice(2),
      strict: true,
      options: {
        file: { type: "string" },
        format: { type: "string", default: "binary" },
        compress: { type: "string", default: "true" },
        "max-bytes": { type: "string" },
        scratch: { type: "string", default: "/tmp" },
        "timeout-seconds": { type: "string", default: "600" },
        "termination-log": { type: "string", default: TERMINATION_LOG },
      },
    });
    terminationLog = values["termination-log"];
    if (!values.file) throw new Error("--file is required");
    if (values.format !== "binary" && values.format !== "sql") throw new Error(`--format=${values.format}`);
    const maxBytes = Number(values["max-bytes"]);
    if (!Number.isSafeInteger(maxBytes) || maxBytes <= 0) throw new Error("--max-bytes must be a byte count");
    reading = await verifyFile({
      file: values.file,
      format: values.format,
      compress: values.compress === "true",
      maxBytes,
      scratch: values.scratch,
      timeoutMs: Number(values["timeout-seconds"]) * 1000,
    });
  } catch (err) {
    reading = { kind: "unreadable", reason: `the verification Job failed: ${(err as Error).message}` };
  }
  const text = readingMessage(reading);
  await writeFile(terminationLog, text).catch(() => {});
  process.stdout.write(`${text}\n`);
}

// Run when started as the entry point, not when imported (tests import verifyFile).
if (process.argv[1] && /verifyFile\.[jt]s$/.test(process.argv[1])) void main();
