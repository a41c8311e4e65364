// Checks that a backup arrived whole, from its bytes alone, so a copy cut short (a leader that
// died mid-answer, or rqlite appending an error after a partial 200 answer) is never uploaded
// as Completed. Fed the uncompressed bytes; keeps only the head and the tail.
import type { BackupFormat } from "./types.js";

const SQLITE_MAGIC = Buffer.from("SQLite format 3\0", "latin1");
const HEADER_BYTES = 100;
const TAIL_BYTES = 64;

export class BackupVerifier {
  private head = Buffer.alloc(0);
  private tail = Buffer.alloc(0);
  private length = 0;

  constructor(private readonly format: BackupFormat) {}

  update(chunk: Buffer): void {
    this.length += chunk.length;
    if (this.head.length < HEADER_BYTES) {
      this.head = Buffer.concat([this.head, chunk.subarray(0, HEADER_BYTES - this.head.length)]);
    }
    // A copy of the last bytes only: keeping a view would pin the whole chunk in memory.
    this.tail =
      chunk.length >= TAIL_BYTES
        ? Buffer.from(chunk.subarray(-TAIL_BYTES))
        : Buffer.concat([this.tail, chunk]).subarray(-TAIL_BYTES);
  }

  /** What is wrong with the bytes seen, or undefined when they form a whole backup. */
  problem(): string | undefined {
    return this.format === "sql" ? this.sqlProblem() : this.binaryProblem();
  }

  private binaryProblem(): string | undefined {
    if (this.length < HEADER_BYTES || !this.head.subarray(0, SQLITE_MAGIC.length).equals(SQLITE_MAGIC)) {
      return `the backup (${this.length} bytes) is not an SQLite file: it does not start with "SQLite format 3"`;
    }
    // https://www.sqlite.org/fileformat.html#the_database_header
    const rawPageSize = this.head.readUInt16BE(16);
    const pageSize = rawPageSize === 1 ? 65536 : rawPageSize;
    const pages = this.head.readUInt32BE(28);
    const pagesValid = this.head.readUInt32BE(92) === this.head.readUInt32BE(24) && pages > 0;
    if (pagesValid && this.length !== pageSize * pages) {
      return `the backup is ${this.length} bytes but its header says ${pages} pages of ${pageSize} bytes (${pageSize * pages}): it was cut short or has bytes appended`;
    }
    if (!pagesValid && this.length % pageSize !== 0) {
      return `the backup is ${this.length} bytes, not a whole number of ${pageSize}-byte pages: it was cut short`;
    }
    return undefined;
  }

  private sqlProblem(): string | undefined {
    // rqlite's dump is one transaction: it ends with COMMIT, which a cut-off copy lacks.
    if (!/COMMIT;\s*$/.test(this.tail.toString("latin1"))) {
      return `the SQL backup (${this.length} bytes) does not end with "COMMIT;": it was cut short`;
    }
    return undefined;
  }
}
