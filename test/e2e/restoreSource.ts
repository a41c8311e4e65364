// The source of a restore scenario: a 1-voter cluster with `rows` items (and the acknowledged
// writer's table), its backup put in S3 by hand, then deleted, so only the object remains.
import { PutObjectCommand } from "@aws-sdk/client-s3";
import type { S3TestServer } from "../../testenv/s3.js";
import { createItemsTable, digest, writeItems, type TableDigest } from "./backupData.js";
import { createRowsTable, rqliteNode } from "./rows.js";
import type { ScheduledEnv } from "./scheduledEnv.js";

export async function putSourceBackup(
  env: ScheduledEnv,
  s3: S3TestServer,
  o: { bucket: string; key: string; image: string; rows: number },
): Promise<{ file: Buffer; source: TableDigest }> {
  await env.applyCluster("src", { replicas: 1, image: o.image });
  await env.converged("src", 1);
  await createItemsTable(env.ns, "src-0");
  await createRowsTable(env.ns, "src-0");
  for (let from = 1; from <= o.rows; from += 500)
    await writeItems(env.ns, "src-0", from, Math.min(500, o.rows - from + 1));
  const source = await digest(env.ns, "src-0");
  const file = await rqliteNode(env.ns, "src-0", 30_000).backup();
  const client = s3.client();
  try {
    await client.send(new PutObjectCommand({ Bucket: o.bucket, Key: o.key, Body: file }));
  } finally {
    client.destroy();
  }
  await env.kubectl(["delete", "rqc", "src", "--wait=true", "--timeout=120s"]);
  return { file, source };
}
