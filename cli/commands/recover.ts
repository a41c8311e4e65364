// `recover` asks the operator to rebuild a cluster that lost quorum for good from its surviving
// voters' data, or with --from-backup (no voter kept any) from its newest verified RqBackup
// (spec.recovery). Without --confirm it changes nothing: it says what it would ask
// and which uid to type, since typing the uid is how a person accepts the data a recovery may lose.
// With it, it sets spec.recovery and follows status.recovery until the operator's answer is final.
import type { Command } from "commander";
import { getCluster, patchCluster } from "../cluster.js";
import { CliError } from "../errors.js";
import { parseDuration, waitForCluster } from "../progress.js";
import type { RecoveryStatus, RqCluster } from "../../shared/types.generated.js";
import { connect, examples } from "./common.js";

const FINAL = new Set(["Refused", "Completed", "Failed"]);

export function recoverCommand(program: Command): void {
  const cmd = program
    .command("recover")
    .description(
      "rebuild an RqCluster that lost quorum for good from its surviving voters' data (rqlite's peers.json procedure), or with --from-backup from its newest verified RqBackup",
    )
    .argument("<cluster>", "RqCluster name")
    .option(
      "--confirm <uid>",
      "the RqCluster's metadata.uid: accepts that entries only the lost voters held (with --from-backup: every write after the backup) are lost",
    )
    .option(
      "--from-backup",
      "no voter kept its data: rebuild on fresh volumes from the newest RqBackup of the cluster whose Verified condition is True",
    )
    .option("--timeout <duration>", "how long to wait for the operator's final answer", parseDuration, 600_000)
    .option("--no-wait", "return once the request is accepted")
    .action(
      async (
        name: string,
        opts: { confirm?: string; fromBackup?: boolean; timeout: number; wait: boolean },
        self: Command,
      ) => {
        const kube = connect(self);
        const rq = await getCluster(kube, name);
        const uid = rq.metadata?.uid ?? "";
        const what = `RqCluster ${kube.namespace}/${name}`;
        if (opts.confirm === undefined) {
          const voters = (rq.status?.members ?? []).filter((m) => m.voter !== false);
          process.stdout.write(
            `${what}: ${rq.status?.phase ?? "no status"}, leader ${rq.status?.leader ?? "none"}, voters ${voters.map((m) => `${m.id}${m.ready ? "" : " (down)"}`).join(", ") || "none recorded"}.\n` +
              (opts.fromBackup
                ? "A recovery from backup replaces every member's volume and loads the newest verified RqBackup of the cluster; every write after that backup was taken is lost.\n" +
                  "The operator refuses it while a leader answers or while any voter holds data.\n"
                : "A recovery restarts the cluster from the voter with the longest Raft log; entries only the lost voters held are lost.\n" +
                  "The operator refuses it while a leader answers or while enough voters may come back.\n") +
              `Nothing was changed. To go ahead: kubectl rqlite recover ${name} -n ${kube.namespace}${opts.fromBackup ? " --from-backup" : ""} --confirm ${uid}\n`,
          );
          return;
        }
        if (opts.confirm !== uid)
          throw new CliError(`--confirm ${opts.confirm} is not the uid of ${what} (${uid}); nothing was changed`);
        const requestedAt = new Date().toISOString().replace(/\.\d+Z$/, "Z");
        // A merge patch: without --from-backup, a source left from an earlier request is cleared.
        const source = opts.fromBackup ? "Backup" : null;
        await patchCluster(kube, name, { spec: { recovery: { confirm: uid, requestedAt, source } } });
        if (!opts.wait) {
          process.stdout.write(
            `${what}: recovery requested at ${requestedAt}; follow it with kubectl rqlite status ${name}\n`,
          );
          return;
        }
        const answered = (c: RqCluster) =>
          c.status?.recovery?.requestedAt === requestedAt && FINAL.has(c.status.recovery.phase ?? "");
        const done = await waitForCluster(kube, name, opts.timeout, answered, (c) => progressLine(c, requestedAt));
        const r = done.status!.recovery!;
        process.stdout.write(`${report(what, r)}\n`);
        if (r.phase !== "Completed")
          throw new CliError(`${what}: recovery ${r.phase?.toLowerCase()}: ${r.message ?? ""}`);
      },
    );
  examples(cmd, [
    "kubectl rqlite recover demo",
    "kubectl rqlite recover demo --confirm 5f0c…-uid --timeout 15m",
    "kubectl rqlite recover demo --from-backup --confirm 5f0c…-uid",
  ]);
}

function progressLine(rq: RqCluster, requestedAt: string): string {
  const r = rq.status?.recovery;
  if (r?.requestedAt !== requestedAt) return `${rq.metadata?.name}: recovery requested, waiting for the operator`;
  return `${rq.metadata?.name}: recovery ${r.phase ?? "Pending"}${r.message ? `: ${r.message}` : ""}`;
}

/** The closing report: survivor, its indexes, the voters lost, the entries discarded; or the backup loaded and its time. */
export function report(what: string, r: RecoveryStatus): string {
  const from = r.survivor ? ` from ${r.survivor}` : r.backup ? ` from RqBackup ${r.backup.name}` : "";
  const lines = [`${what}: recovery ${r.phase}${from}`];
  if (r.backup)
    lines.push(
      `  backup: ${r.backup.location ?? "?"}, taken at ${r.backup.completedAt ?? "?"}, verified at ${r.backup.verifiedAt ?? "?"}`,
      `  data-loss window: every write after ${r.backup.completedAt ?? "the backup"} is lost`,
    );
  for (const s of r.survivors ?? [])
    lines.push(
      `  ${s.id}: last log index ${s.lastLogIndex}, applied ${s.appliedIndex}, term ${s.term}${s.id === r.survivor ? " (kept)" : ""}`,
    );
  if (r.lost?.length) lines.push(`  lost voters: ${r.lost.join(", ")}`);
  if (r.entriesLost !== undefined)
    lines.push(
      `  entries discarded: ${r.entriesLost} held by other survivors beyond the kept log; entries only the lost voters held cannot be counted`,
    );
  if (r.message) lines.push(`  ${r.message}`);
  return lines.join("\n");
}
