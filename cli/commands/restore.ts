// `restore` creates a new RqCluster whose founding voters load a backup (spec.restore): an
// RqBackup of the namespace, or an object in S3. The new cluster takes the spec of the cluster the
// backup came from (or of --like), without its schedule of backups, so that the copy does not
// upload beside the original; --wait follows it until it is Available with its data.
import { Option, type Command } from "commander";
import { BACKUP_KIND, parseRfc3339 } from "../../shared/backup-names.js";
import { dns1035Label, dns1123Subdomain } from "../../shared/k8s-names.js";
import { objectPath } from "../../controller/runtime/paths.js";
import { API_VERSION, KIND, PLURAL, SHORT_NAME } from "../../shared/names.js";
import type { ClusterRestoreSpec, RqCluster, RqClusterSpec, S3RestoreSource } from "../../shared/types.generated.js";
import { getBackup } from "../backups.js";
import { clusterPath, getCluster } from "../cluster.js";
import { CliError, kubeFailure, usageError } from "../errors.js";
import type { Kube } from "../kube.js";
import { outputOption } from "../output.js";
import { parseDuration } from "../progress.js";
import { connect, examples, print } from "./common.js";

const POLL_MS = 1000;
/** The key spec.restore.s3 takes for "the newest object under path". */
const LATEST = "latest";

interface RestoreFlags {
  from: string;
  before?: string;
  like?: string;
  replicas?: number;
  image?: string;
  s3Endpoint?: string;
  s3Region?: string;
  s3ForcePathStyle?: boolean;
  s3CredentialsSecret?: string;
  dryRun?: boolean;
  wait?: boolean;
  timeout: number;
  output?: string;
}

/** What --from names: an RqBackup, or an S3 object (or folder, for its newest object). */
export type RestoreSource = { backup: string } | { s3: Pick<S3RestoreSource, "bucket" | "path" | "key" | "before"> };

/**
 * Parses --from: `s3://BUCKET/KEY` is that object, `s3://BUCKET/FOLDER/` (or `s3://BUCKET`) the
 * newest object under the folder, anything else an RqBackup's name. Throws a usage error saying
 * what is wrong.
 */
export function parseRestoreSource(from: string): RestoreSource {
  if (!from.startsWith("s3://")) {
    const bad = dns1123Subdomain(from);
    if (bad.length > 0)
      throw usageError(`--from ${JSON.stringify(from)} is neither s3://BUCKET/KEY nor an RqBackup name: ${bad[0]}`);
    return { backup: from };
  }
  const rest = from.slice("s3://".length);
  const slash = rest.indexOf("/");
  const bucket = slash < 0 ? rest : rest.slice(0, slash);
  const key = slash < 0 ? "" : rest.slice(slash + 1);
  // S3's own rule for bucket names (3 to 63 characters of a-z, 0-9, '.', '-').
  if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket))
    throw usageError(
      `--from ${JSON.stringify(from)}: ${JSON.stringify(bucket)} is not an S3 bucket name (3 to 63 of a-z, 0-9, '.', '-')`,
    );
  if (key.split("/").some((part, i, all) => (part === "" && i < all.length - 1) || part === "." || part === ".."))
    throw usageError(`--from ${JSON.stringify(from)}: the key has an empty, "." or ".." segment`);
  if (key === "" || key.endsWith("/")) {
    const path = key.replace(/\/$/, "");
    return { s3: { bucket, ...(path ? { path } : {}), key: LATEST } };
  }
  return { s3: { bucket, key } };
}

/**
 * --before: the newest backup in the folder --from names, taken before the time (spec.restore.s3.before).
 * Throws a usage error when the time is no RFC 3339 time or --from names no folder.
 */
export function sourceBefore(source: RestoreSource, from: string, before: string): RestoreSource {
  if (parseRfc3339(before) === undefined)
    throw usageError(
      `--before ${JSON.stringify(before)} is not an RFC 3339 time with its offset, e.g. 2026-12-07T02:00:00Z`,
    );
  if (!("s3" in source) || source.s3.key !== LATEST)
    throw usageError(
      `--before picks among the backups in an S3 folder: give --from s3://BUCKET/FOLDER/, not ${JSON.stringify(from)}`,
    );
  const { key: _latest, ...folder } = source.s3;
  return { s3: { ...folder, before } };
}

/**
 * The new cluster's spec: `base` (the spec of the cluster the backup came from, or of --like)
 * without what belongs to the original (its backup schedule, its own restore source, pause and
 * maintenance), with the restore source and the flags' overrides.
 */
export function restoredSpec(
  base: RqClusterSpec | undefined,
  restore: ClusterRestoreSpec,
  overrides: { replicas?: number; image?: string },
): RqClusterSpec {
  const { backup: _backup, restore: _restore, paused: _paused, maintenance: _maintenance, ...kept } = base ?? {};
  return {
    ...kept,
    ...(overrides.replicas !== undefined ? { replicas: overrides.replicas } : {}),
    ...(overrides.image ? { image: overrides.image } : {}),
    restore,
  };
}

export function restoreCommand(program: Command): void {
  const cmd = program
    .command("restore")
    .description(
      "create a new RqCluster from a backup: an RqBackup of the namespace, or an object in S3 (spec.restore); it takes the spec of the backed-up cluster, without its backup schedule",
    )
    .argument("<cluster>", "name of the RqCluster to create (it must not exist)")
    .requiredOption(
      "--from <source>",
      "an RqBackup's name, s3://BUCKET/KEY (one object) or s3://BUCKET/FOLDER/ (the newest object under it)",
    )
    .option(
      "--before <time>",
      "with s3://BUCKET/FOLDER/: the newest backup in the folder taken before this RFC 3339 time (spec.restore.s3.before)",
    )
    .option(
      "--like <cluster>",
      "copy the spec (image, storage, resources, TLS, ...) of this RqCluster (default: the RqBackup's cluster, if it still exists)",
    )
    .option("--replicas <n>", "voting nodes (default: those of the copied spec, else 3)", parseReplicas)
    .option("--image <image>", "rqlite image (default: that of the copied spec)")
    .option("--s3-endpoint <url>", "with s3://: URL of an S3-compatible server (default: AWS S3)")
    .option("--s3-region <region>", "with s3://: region of the bucket (default: us-east-1)")
    .option("--s3-force-path-style", "with s3://: address the bucket as <endpoint>/<bucket>")
    .option(
      "--s3-credentials-secret <secret>",
      "with s3://: Secret with AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (default: ambient)",
    )
    .addOption(new Option("--dry-run", "have the API server and the webhook judge the RqCluster, and create nothing"))
    .option("--wait", "follow the new cluster until Available with its data (exit 0) or the restore fails (exit 1)")
    .option("--timeout <duration>", "how long --wait waits", parseDuration, 600_000)
    .addOption(outputOption())
    .action(async (cluster: string, opts: RestoreFlags, self: Command) => {
      const badName = dns1035Label(cluster);
      if (badName.length > 0)
        throw usageError(`${JSON.stringify(cluster)} is not a valid RqCluster name: ${badName[0]}`);
      const parsed = parseRestoreSource(opts.from);
      const source = opts.before === undefined ? parsed : sourceBefore(parsed, opts.from, opts.before);
      const s3Only = ["s3Endpoint", "s3Region", "s3ForcePathStyle", "s3CredentialsSecret"] as const;
      const given = s3Only.filter((k) => self.getOptionValueSource(k) === "cli");
      if ("backup" in source && given.length > 0)
        throw usageError(
          `--${given[0]!.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)} goes with --from s3://...; an RqBackup carries its own destination`,
        );
      if (opts.s3Endpoint !== undefined && !/^https?:\/\/[^/]/.test(opts.s3Endpoint))
        throw usageError(`--s3-endpoint ${JSON.stringify(opts.s3Endpoint)} is not an http:// or https:// URL`);
      if (opts.s3CredentialsSecret !== undefined && dns1123Subdomain(opts.s3CredentialsSecret).length > 0)
        throw usageError(
          `--s3-credentials-secret ${JSON.stringify(opts.s3CredentialsSecret)} is not a Secret name: ${dns1123Subdomain(opts.s3CredentialsSecret)[0]}`,
        );
      if (opts.like !== undefined && dns1035Label(opts.like).length > 0)
        throw usageError(`--like ${JSON.stringify(opts.like)} is not an RqCluster name: ${dns1035Label(opts.like)[0]}`);

      const kube = connect(self);
      const restore: ClusterRestoreSpec =
        "backup" in source
          ? { backup: source.backup }
          : {
              s3: {
                ...source.s3,
                ...(opts.s3Endpoint ? { endpoint: opts.s3Endpoint } : {}),
                ...(opts.s3Region ? { region: opts.s3Region } : {}),
                ...(opts.s3ForcePathStyle ? { forcePathStyle: true } : {}),
                ...(opts.s3CredentialsSecret ? { credentialsSecret: { name: opts.s3CredentialsSecret } } : {}),
              },
            };
      const base = await baseSpec(kube, source, opts.like);
      const body: RqCluster = {
        apiVersion: API_VERSION,
        kind: KIND,
        metadata: { name: cluster, namespace: kube.namespace },
        spec: restoredSpec(base?.spec, restore, opts),
      };
      const created = await createCluster(kube, body, !!opts.dryRun);
      const where = `RqCluster ${kube.namespace}/${cluster}`;
      const from = "backup" in source ? `${BACKUP_KIND} ${source.backup}` : opts.from;
      const like = base ? ` with the spec of ${base.name}` : "";
      if (opts.dryRun || !opts.wait) {
        print(opts.output, created, () =>
          opts.dryRun
            ? `${where} from ${from}${like}: accepted (dry run, nothing created)\n`
            : `${where} created from ${from}${like}; follow it with kubectl get ${SHORT_NAME} ${cluster} -n ${kube.namespace} -w\n`,
        );
        return;
      }
      const done = await follow(kube, cluster, opts.timeout);
      print(
        opts.output,
        done,
        () => `${where} is Available, restored from ${done.status?.restore?.location ?? from}${like}\n`,
      );
    });
  examples(cmd, [
    "kubectl rqlite restore demo-restored --from demo-backup --wait",
    "kubectl rqlite restore demo-copy --from s3://backups/demo/ --like demo --s3-credentials-secret s3-credentials",
    "kubectl rqlite restore demo-yesterday --from s3://backups/demo/ --before 2026-12-07T02:00:00Z --like demo",
    "kubectl rqlite restore demo-2 --from s3://backups/demo/demo-20260101T000000Z.sqlite.gz --s3-endpoint http://minio.minio:9000 --s3-force-path-style --replicas 1 --image rqlite/rqlite:8.43.4",
  ]);
}

function parseReplicas(value: string): number {
  const n = Number(value);
  if (!/^[0-9]+$/.test(value) || n < 1 || n > 9) throw usageError(`--replicas ${value}: a whole number from 1 to 9`);
  return n;
}

/** The spec to copy: --like's cluster, else the RqBackup's cluster when it still exists. */
async function baseSpec(
  kube: Kube,
  source: RestoreSource,
  like: string | undefined,
): Promise<{ name: string; spec: RqClusterSpec | undefined } | undefined> {
  if (like) return { name: `RqCluster ${like}`, spec: (await getCluster(kube, like)).spec };
  if (!("backup" in source)) return undefined;
  const backup = await getBackup(kube, source.backup);
  if (!backup)
    throw new CliError(
      `${BACKUP_KIND} ${source.backup} not found in namespace ${kube.namespace}; list them with kubectl get rqb -n ${kube.namespace}`,
    );
  const phase = backup.status?.phase ?? "Pending";
  if (phase === "Failed")
    throw new CliError(
      `${BACKUP_KIND} ${source.backup} Failed (${backup.status?.reason ?? "no reason given"}); restore from a Completed one`,
    );
  if ((backup.spec?.format ?? "binary") !== "binary")
    throw new CliError(
      `${BACKUP_KIND} ${source.backup} is a ${backup.spec?.format} dump; only binary backups restore (rqlite loads an SQLite file)`,
    );
  const origin = backup.spec?.cluster;
  if (!origin) return undefined;
  const found = await kube.find<RqCluster>(`get RqCluster ${kube.namespace}/${origin}`, {
    method: "GET",
    path: clusterPath(kube.namespace, origin),
  });
  return found ? { name: `RqCluster ${origin}`, spec: found.spec } : undefined;
}

async function createCluster(kube: Kube, body: RqCluster, dryRun: boolean): Promise<RqCluster> {
  const name = body.metadata!.name!;
  try {
    return await kube.raw<RqCluster>({
      method: "POST",
      path: objectPath({ apiVersion: API_VERSION, resource: PLURAL, namespace: kube.namespace }),
      ...(dryRun ? { query: { dryRun: "All" } } : {}),
      body,
      timeoutMs: 30_000,
    });
  } catch (err) {
    if ((err as { status?: number }).status === 409)
      throw new CliError(
        `cannot create RqCluster ${kube.namespace}/${name}: one of that name exists already; a restore makes a new cluster, so pick another name`,
      );
    throw kubeFailure(err, `create RqCluster ${kube.namespace}/${name}`, kube.server);
  }
}

/** Polls the cluster until Available, or until its Restored condition says the restore failed. */
async function follow(kube: Kube, name: string, timeoutMs: number): Promise<RqCluster> {
  const deadline = Date.now() + timeoutMs;
  const tty = process.stderr.isTTY;
  let last = "";
  for (;;) {
    const rq = await getCluster(kube, name);
    const conditions = rq.status?.conditions ?? [];
    const restored = conditions.find((c) => c.type === "Restored");
    const available = conditions.find((c) => c.type === "Available");
    if (tty) process.stderr.write("\r\x1b[K");
    if (available?.status === "True" && restored?.status === "True") return rq;
    if (restored?.status === "False" && restored.reason === "RestoreFailing")
      throw new CliError(`RqCluster ${kube.namespace}/${name}: the restore is failing: ${restored.message ?? ""}`);
    const text = `${rq.status?.phase ?? "Pending"}: ${restored?.reason ?? "waiting"} ${restored?.message ?? ""}`.trim();
    if (tty) process.stderr.write(text);
    else if (text !== last) process.stderr.write(`${text}\n`);
    last = text;
    if (Date.now() > deadline)
      throw new CliError(
        `RqCluster ${kube.namespace}/${name} is not Available after ${Math.round(timeoutMs / 1000)} s (${text}); see kubectl rqlite status ${name} -n ${kube.namespace}`,
      );
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}
