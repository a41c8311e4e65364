// Acknowledged rows: a writer inserts during a change and keeps only the inserts rqlite
// acknowledged; afterwards every node must hold every one of them, read from that node itself.
import { strict as assert } from "node:assert";
import { RqliteClient } from "../../controller/rqlite/client.js";
import type { KubeClient } from "../../controller/runtime/kubeClient.js";
import { loopbackAddress } from "../../shared/loopback-address.js";
import { eventually } from "../../testenv/eventually.js";
import { NodeAccess, TEST_MAX_ANSWER_BYTES } from "../../testenv/nodeAccess.js";

export const ROWS_TABLE = "acked";

/** An insert rqlite acknowledged (HTTP 200 and no error in the answer), and the node that took it. */
export interface AckedRow {
  value: string;
  via: string;
}

export interface WriterResult {
  acked: AckedRow[];
  attempts: number;
  failures: number;
  /** The last failure, for the report. */
  lastFailure?: string;
}

export interface AckedWriter {
  stop(): Promise<WriterResult>;
}

const WRITE_TIMEOUT_MS = 2000;
const READY_REFRESH_MS = 1000;
const PAUSE_MS = 50;

export const rqliteNode = (namespace: string, pod: string, timeoutMs = 5000) =>
  new RqliteClient(`http://${loopbackAddress(namespace, pod)}:4001`, {
    nodeId: pod,
    timeoutMs,
    maxAnswerBytes: TEST_MAX_ANSWER_BYTES,
  });

/**
 * A read of a whole table, asked again when the connection fails on the way: thousands of rows
 * through a test's tunnel into a Pod on a loaded machine are sometimes cut off (ECONNRESET). Reads
 * change nothing, so asking again is safe; what is read is still the node's own answer.
 */
export function readWhole<T>(what: string, read: () => Promise<T>): Promise<T> {
  return eventually(`a whole read of ${what}`, read, 120_000, { intervalMs: 1000 });
}

/** `access` says how to reach the nodes (HTTPS, credentials); plain HTTP by default, here and below. */
/**
 * The `items` table with `count` rows, written through `node` (the leader) in transactions of 500.
 * `value(id)` is each row's text: its size sets the size of a backup.
 */
export async function seedItems(
  node: ReturnType<typeof rqliteNode>,
  count: number,
  value: (id: number) => string = (id) => `item-${id}`,
): Promise<void> {
  await node.execute(["CREATE TABLE IF NOT EXISTS items (id INTEGER PRIMARY KEY, v TEXT)"]);
  for (let i = 0; i < count; i += 500)
    await node.execute(
      Array.from({ length: Math.min(500, count - i) }, (_, j): [string, number, string] => [
        "INSERT INTO items(id, v) VALUES(?, ?)",
        i + j + 1,
        value(i + j + 1),
      ]),
      { transaction: true },
    );
}

export async function createRowsTable(namespace: string, pod: string, access?: NodeAccess): Promise<void> {
  await (access?.client(pod) ?? rqliteNode(namespace, pod)).execute([
    `CREATE TABLE IF NOT EXISTS ${ROWS_TABLE} (v TEXT PRIMARY KEY)`,
  ]);
}

/**
 * Inserts one row per request through the cluster's Ready Pods in turn; a failed insert is
 * tried again, as a new row, on the next node. The client rejects an HTTP 200 that carries an
 * error, so only real acknowledgements count.
 */
export function startAckedWriter(opts: {
  client: KubeClient;
  namespace: string;
  cluster: string;
  prefix: string;
  access?: NodeAccess;
}): AckedWriter {
  const access = opts.access ?? new NodeAccess(opts.namespace);
  const result: WriterResult = { acked: [], attempts: 0, failures: 0 };
  let stopped = false;
  let ready: string[] = [];
  let refreshedAt = 0;
  let turn = 0;
  const refresh = async () => {
    // Learning each Pod's scheme as it refreshes the Ready ones (see NodeAccess).
    const items = await access.refresh(opts.client, opts.cluster);
    ready = items
      .filter(
        (p) =>
          !p.metadata?.deletionTimestamp &&
          (p.status?.conditions ?? []).some((c) => c.type === "Ready" && c.status === "True"),
      )
      .map((p) => p.metadata!.name!)
      .sort();
    refreshedAt = Date.now();
  };
  const loop = (async () => {
    while (!stopped) {
      if (Date.now() - refreshedAt > READY_REFRESH_MS) await refresh().catch(() => {});
      const pod = ready[turn++ % Math.max(1, ready.length)];
      let pause = PAUSE_MS;
      if (pod) {
        const value = `${opts.prefix}-${result.attempts++}`;
        try {
          await access.client(pod, WRITE_TIMEOUT_MS).execute([[`INSERT INTO ${ROWS_TABLE}(v) VALUES(?)`, value]]);
          result.acked.push({ value, via: pod });
        } catch (err) {
          result.failures++;
          result.lastFailure = (err as Error).message;
          pause = 25;
        }
      } else pause = 200;
      if (pause > 0) await new Promise((r) => setTimeout(r, pause));
    }
  })();
  return {
    async stop() {
      stopped = true;
      await loop;
      return result;
    },
  };
}

/**
 * Every node holds every acknowledged row, read from its own database (level "none"; "strong"
 * would read through the leader and prove nothing about the node). A node passes /readyz?sync,
 * yet a follower learns the leader's commit index only with the next append, so the last rows
 * may still be on their way: a marker row is written after the last acknowledged one, and each
 * node is read once it holds the marker. The log is applied in order, so a row missing then is
 * lost on that node, not late. Returns how many of the acknowledged rows each node held.
 */
export async function assertRowsOnEveryNode(
  namespace: string,
  pods: string[],
  acked: AckedRow[],
  access?: NodeAccess,
): Promise<Record<string, number>> {
  const nodeOf = (pod: string) => access?.client(pod) ?? rqliteNode(namespace, pod);
  const marker = `marker-${Date.now()}`;
  await eventually(
    "a marker row written after the acknowledged ones",
    async () => {
      for (const pod of pods) {
        const ok = await nodeOf(pod)
          .execute([[`INSERT INTO ${ROWS_TABLE}(v) VALUES(?)`, marker]])
          .then(
            () => true,
            () => false,
          );
        if (ok) return true;
      }
      return false;
    },
    60_000,
    { intervalMs: 500 },
  );
  const missing: string[] = [];
  const held: Record<string, number> = {};
  for (const pod of pods) {
    const node = nodeOf(pod);
    await eventually(
      `${pod} to pass /readyz?sync`,
      async () => (await node.readyz({ sync: true, timeoutMs: 5000 })).ready,
      60_000,
      { intervalMs: 250 },
    );
    await eventually(
      `${pod} to hold the marker row`,
      async () =>
        (await node.query([`SELECT v FROM ${ROWS_TABLE} WHERE v = ?`, marker], { level: "none" })).length === 1,
      30_000,
      { intervalMs: 100 },
    );
    const rows = await readWhole(`${pod}'s ${ROWS_TABLE}`, () =>
      node.query(`SELECT v FROM ${ROWS_TABLE}`, { level: "none" }),
    );
    const have = new Set(rows.map((r) => r.v));
    const lacking = acked.filter((a) => !have.has(a.value));
    held[pod] = acked.length - lacking.length;
    if (lacking.length > 0)
      missing.push(
        `${pod} lacks ${lacking.length} of ${acked.length} acknowledged rows, e.g. ` +
          lacking
            .slice(0, 5)
            .map((a) => `${a.value} (acknowledged by ${a.via})`)
            .join(", "),
      );
  }
  assert.deepEqual(missing, [], "every node holds every acknowledged row");
  return held;
}
