// The data a backup scenario writes and checks: a table with an integer id, rows written in
// batches, and per node the row count and a checksum of `SELECT * ... ORDER BY id`, read from
// that node itself (level none), so a restored cluster is compared node by node with its source.
import { strict as assert } from "node:assert";
import { createHash } from "node:crypto";
import type { V1Secret } from "@kubernetes/client-node";
import { readWhole, rqliteNode } from "./rows.js";
import type { ControlPlane } from "../../testenv/controlplane.js";
import { eventually } from "../../testenv/eventually.js";

export const ITEMS_TABLE = "items";

export async function createItemsTable(namespace: string, pod: string): Promise<void> {
  await rqliteNode(namespace, pod).execute([
    `CREATE TABLE IF NOT EXISTS ${ITEMS_TABLE} (id INTEGER PRIMARY KEY, name TEXT NOT NULL, amount REAL)`,
  ]);
}

/** Inserts rows [from, from + count) in one transaction through `pod`; rqlite forwards to the leader. */
export async function writeItems(namespace: string, pod: string, from: number, count: number): Promise<void> {
  const statements = Array.from({ length: count }, (_, i) => {
    const id = from + i;
    return [`INSERT INTO ${ITEMS_TABLE}(id, name, amount) VALUES(?, ?, ?)`, id, `item-${id}`, id * 1.5] as [
      string,
      number,
      string,
      number,
    ];
  });
  await rqliteNode(namespace, pod, 10_000).execute(statements, { transaction: true });
}

export interface TableDigest {
  rows: number;
  sha256: string;
}

/** Rows and checksum of `SELECT * FROM <table> ORDER BY <order>` as `pod` itself holds them. */
export async function digest(namespace: string, pod: string, table = ITEMS_TABLE, order = "id"): Promise<TableDigest> {
  const rows = await readWhole(`${pod}'s ${table}`, () =>
    rqliteNode(namespace, pod, 30_000).query(`SELECT * FROM ${table} ORDER BY ${order}`, { level: "none" }),
  );
  return { rows: rows.length, sha256: createHash("sha256").update(JSON.stringify(rows)).digest("hex") };
}

/** The S3 credentials Secret the specs name, with the default keys. */
export async function createCredentialsSecret(
  cp: ControlPlane,
  namespace: string,
  name: string,
  credentials: { accessKeyId: string; secretAccessKey: string },
): Promise<void> {
  const secret: V1Secret = {
    apiVersion: "v1",
    kind: "Secret",
    metadata: { name, namespace },
    stringData: { AWS_ACCESS_KEY_ID: credentials.accessKeyId, AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey },
  };
  await cp.kubectlOk(["apply", "-f", "-"], { input: JSON.stringify(secret) });
}

export interface ConditionLike {
  type: string;
  status: string;
  reason?: string;
  message?: string;
}

export interface BackupClusterStatus {
  phase?: string;
  leader?: string;
  conditions?: ConditionLike[];
  backup?: {
    lastSuccessfulTime?: string;
    lastFailure?: { time?: string; message?: string };
    retainedObjects?: number;
    uploader?: { node?: string; ok?: number; fail?: number };
  };
  restore?: { location?: string; resolvedAt?: string };
}

export async function clusterStatus(cp: ControlPlane, namespace: string, name: string): Promise<BackupClusterStatus> {
  const out = JSON.parse(await cp.kubectlOk(["get", "rqc", name, "-n", namespace, "-o", "json"])) as {
    status?: BackupClusterStatus;
  };
  return out.status ?? {};
}

export const condition = (s: BackupClusterStatus, type: string) => s.conditions?.find((c) => c.type === type);

/**
 * Waits until a cluster created with spec.restore is Restored and Available, and fails at once if
 * it is ever Available before Restored: that would be a cluster serving an empty database.
 */
export async function waitRestoredAndAvailable(
  cp: ControlPlane,
  namespace: string,
  name: string,
): Promise<BackupClusterStatus> {
  let last: BackupClusterStatus | undefined;
  await eventually(
    `${name} Restored and Available`,
    async () => {
      last = await clusterStatus(cp, namespace, name);
      if (condition(last, "Available")?.status === "True")
        assert.equal(condition(last, "Restored")?.status, "True", `Available before Restored: ${JSON.stringify(last)}`);
      return condition(last, "Restored")?.status === "True" && condition(last, "Available")?.status === "True";
    },
    300_000,
    { intervalMs: 500, state: () => last },
  );
  return last!;
}
