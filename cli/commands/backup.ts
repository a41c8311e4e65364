// `backup` creates an RqBackup of a cluster (the operator takes it from the leader and streams it
// to the destination) and with --wait follows it to Completed or Failed.
import { Option, type Command } from "commander";
import { BACKUP_KIND, BACKUP_SHORT_NAME } from "../../shared/backup-names.js";
import { GROUP, VERSION } from "../../shared/names.js";
import type { RqBackup, S3Destination } from "../../shared/types.generated.js";
import {
  backupProgress,
  createBackup,
  defaultBackupName,
  destinationFromSpec,
  getBackup,
  humanBytes,
} from "../backups.js";
import { getCluster } from "../cluster.js";
import { CliError, usageError } from "../errors.js";
import type { Kube } from "../kube.js";
import { outputOption } from "../output.js";
import { parseDuration } from "../progress.js";
import { connect, examples, print } from "./common.js";

const POLL_MS = 1000;

interface BackupFlags {
  name?: string;
  fromSpec?: boolean;
  s3Bucket?: string;
  s3Path?: string;
  s3Endpoint?: string;
  s3Region?: string;
  s3ForcePathStyle?: boolean;
  s3CredentialsSecret?: string;
  format: "binary" | "sql";
  compress: boolean;
  vacuum?: boolean;
  wait?: boolean;
  timeout: number;
  output?: string;
}

export function backupCommand(program: Command): void {
  const cmd = program
    .command("backup")
    .description(
      "take a backup of an RqCluster now: create an RqBackup (destination copied from the cluster's spec.backup unless --s3-bucket is given)",
    )
    .argument("<cluster>", "RqCluster name")
    .option("--name <name>", "name of the RqBackup (default: <cluster>-<UTC time>)")
    .addOption(
      new Option(
        "--from-spec",
        "copy the destination (bucket, server, credentials) from spec.backup.s3, in the folder of its path (the default)",
      ).conflicts("s3Bucket"),
    )
    .option("--s3-bucket <bucket>", "S3 bucket to write to, instead of the one of spec.backup")
    .option("--s3-path <prefix>", "key prefix (folder) in the bucket (default: the bucket's root)")
    .option("--s3-endpoint <url>", "URL of an S3-compatible server (default: AWS S3)")
    .option("--s3-region <region>", "region of the bucket (default: us-east-1)")
    .option("--s3-force-path-style", "address the bucket as <endpoint>/<bucket>, as most S3-compatible servers need")
    .option(
      "--s3-credentials-secret <secret>",
      "Secret with AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (default: ambient)",
    )
    .addOption(
      new Option("--format <format>", "binary (restorable) or sql (a text dump)")
        .choices(["binary", "sql"])
        .default("binary"),
    )
    .option("--no-compress", "do not gzip the backup")
    .option("--vacuum", "VACUUM the copy before it is sent")
    .option("--wait", "follow the backup until Completed (exit 0) or Failed (exit 1, with the reason)")
    .option("--timeout <duration>", "how long --wait waits", parseDuration, 600_000)
    .addOption(outputOption())
    .action(async (cluster: string, opts: BackupFlags, self: Command) => {
      const s3Only = ["s3Path", "s3Endpoint", "s3Region", "s3ForcePathStyle", "s3CredentialsSecret"] as const;
      const given = s3Only.filter((k) => self.getOptionValueSource(k) === "cli");
      if (!opts.s3Bucket && given.length > 0)
        throw usageError(
          `--${given[0]!.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)} needs --s3-bucket; without it the destination is copied from spec.backup`,
        );
      const kube = connect(self);
      const rq = await getCluster(kube, cluster);
      const destination = opts.s3Bucket ? flagDestination(opts) : destinationFromSpec(rq);
      if (!destination)
        throw usageError(
          `RqCluster ${kube.namespace}/${cluster} has no spec.backup to copy the destination from; pass --s3-bucket (with --s3-endpoint and --s3-credentials-secret as needed)`,
        );
      const name = opts.name ?? defaultBackupName(cluster, new Date());
      const body: RqBackup = {
        apiVersion: `${GROUP}/${VERSION}`,
        kind: BACKUP_KIND,
        metadata: { name, namespace: kube.namespace },
        spec: {
          cluster,
          destination: { s3: destination },
          format: opts.format,
          compress: opts.compress,
          vacuum: !!opts.vacuum,
        },
      };
      let backup = await createBackup(kube, body);
      const where = `RqBackup ${kube.namespace}/${name}`;
      if (!opts.wait) {
        print(
          opts.output,
          backup,
          () => `${where} created; follow it with kubectl get ${BACKUP_SHORT_NAME} ${name} -n ${kube.namespace} -w\n`,
        );
        return;
      }
      backup = await follow(kube, name, opts.timeout);
      const s = backup.status ?? {};
      if (s.phase === "Failed") throw new CliError(`${where} Failed: ${s.reason ?? "no reason given"}`);
      print(
        opts.output,
        backup,
        () =>
          `${where} Completed: ${humanBytes(s.size)} (${s.size ?? "?"} bytes) to ${s.location ?? "?"}, from ${s.leader ?? "?"} (rqlite ${s.rqliteVersion ?? "?"})\n`,
      );
    });
  examples(cmd, [
    "kubectl rqlite backup demo --wait",
    "kubectl rqlite backup demo --name before-upgrade --format sql --wait",
    "kubectl rqlite backup demo --s3-bucket backups --s3-path demo --s3-endpoint http://minio.minio:9000 --s3-force-path-style --s3-credentials-secret s3-credentials",
  ]);
}

function flagDestination(o: BackupFlags): S3Destination {
  return {
    bucket: o.s3Bucket!,
    path: o.s3Path ?? "",
    ...(o.s3Endpoint ? { endpoint: o.s3Endpoint } : {}),
    ...(o.s3Region ? { region: o.s3Region } : {}),
    ...(o.s3ForcePathStyle ? { forcePathStyle: true } : {}),
    ...(o.s3CredentialsSecret ? { credentialsSecret: { name: o.s3CredentialsSecret } } : {}),
  };
}

/** Polls the RqBackup until Completed or Failed, with one progress line on stderr. */
async function follow(kube: Kube, name: string, timeoutMs: number): Promise<RqBackup> {
  const deadline = Date.now() + timeoutMs;
  const tty = process.stderr.isTTY;
  let last = "";
  for (;;) {
    const b = await getBackup(kube, name);
    if (!b)
      throw new CliError(
        `RqBackup ${kube.namespace}/${name} was deleted while waiting for it; see kubectl get events -n ${kube.namespace}`,
      );
    const text = backupProgress(b);
    if (text !== last) process.stderr.write(tty ? `\r\x1b[K${text}` : `${text}\n`);
    last = text;
    const phase = b.status?.phase;
    if (phase === "Completed" || phase === "Failed") {
      if (tty) process.stderr.write("\n");
      return b;
    }
    if (Date.now() > deadline) {
      if (tty) process.stderr.write("\n");
      throw new CliError(
        `RqBackup ${kube.namespace}/${name} did not finish within ${Math.round(timeoutMs / 1000)} s (last: ${text}); follow it with kubectl get ${BACKUP_SHORT_NAME} ${name} -n ${kube.namespace} -w`,
      );
    }
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}
