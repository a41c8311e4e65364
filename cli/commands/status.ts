import type { Command } from "commander";
import { age, outputOption, table } from "../output.js";
import { humanBytes } from "../backups.js";
import { clusterStatus, hasBackupState, type BackupView, type ClusterStatusView } from "../status.js";
import { connect, examples, print } from "./common.js";

export function statusCommand(program: Command): void {
  const cmd = program
    .command("status")
    .description("show an RqCluster on one screen: phase, conditions, members, PVCs, last events, backups")
    .argument("<cluster>", "RqCluster name")
    .addOption(outputOption())
    .action(async (name: string, opts: { output?: string }, self: Command) => {
      const view = await clusterStatus(connect(self), name);
      print(opts.output, view, () => render(view));
    });
  examples(cmd, ["kubectl rqlite status demo", "kubectl rqlite status demo -n prod -o yaml"]);
}

function render(v: ClusterStatusView): string {
  const r = v.replicas;
  const out = [
    `RqCluster ${v.namespace}/${v.name}: ${v.phase}${v.paused ? " (paused)" : ""}`,
    `Voters ready: ${r.readyVoters}/${r.voters}   Read replicas ready: ${r.readyReadReplicas}/${r.readReplicas}   Leader: ${v.leader ?? "none"}`,
    ...(v.image ? [`Image: ${v.image}`] : []),
    "",
    table(
      ["CONDITION", "STATUS", "REASON", "MESSAGE"],
      v.conditions.map((c) => [c.type, c.status, c.reason ?? "", c.message ?? ""]),
    ),
    table(
      ["MEMBER", "ROLE", "READY", "STATUS", "VERSION", "APPLIED", "LAG"],
      v.members.map((m) => [
        m.name,
        m.role,
        m.ready ? "true" : "false",
        m.phase,
        m.version ?? "-",
        m.appliedIndex === undefined ? "-" : String(m.appliedIndex),
        m.lag === undefined ? "-" : String(m.lag),
      ]),
    ),
    ...v.members.filter((m) => m.error).map((m) => `  ${m.name}: ${m.error}`),
    table(
      ["PVC", "STATUS", "CAPACITY"],
      v.pvcs.map((p) => [p.name, p.phase, p.capacity ?? p.requested ?? "-"]),
    ),
    v.events.length === 0
      ? "No events.\n"
      : table(
          ["LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"],
          v.events.map((e) => [age(e.time), e.type, e.reason, e.object, e.message]),
        ),
    ...(hasBackupState(v.backup) ? [renderBackup(v.backup)] : []),
  ];
  return out.join("\n");
}

/** The backup part of the screen: shown once the cluster has a schedule, a backup or a restore. */
function renderBackup(b: BackupView): string {
  const lines: string[] = [];
  if (b.schedule) {
    const r = b.schedule.retention;
    const keep = [r?.keepLast !== undefined ? `keep last ${r.keepLast}` : "", r?.maxAge ? `max age ${r.maxAge}` : ""]
      .filter(Boolean)
      .join(", ");
    lines.push(
      `Scheduled backups: every ${b.schedule.interval} to ${b.schedule.destination}${b.schedule.endpoint ? ` at ${b.schedule.endpoint}` : ""}${b.schedule.timestamp ? " (timestamped)" : ""}; retention: ${keep || "keep all"}${b.retainedObjects !== undefined ? ` (${b.retainedObjects} kept)` : ""}`,
    );
  } else lines.push("Scheduled backups: none (spec.backup is not set)");
  lines.push(
    `Last successful backup: ${b.lastSuccessfulTime ? `${b.lastSuccessfulTime} (${age(b.lastSuccessfulTime)} ago)` : "never"}`,
  );
  if (b.lastFailure)
    lines.push(`Last backup failure: ${b.lastFailure.time ?? "?"}: ${b.lastFailure.message ?? "(no message)"}`);
  if (b.restored)
    lines.push(
      `Restored: ${b.restored.status}${b.restored.reason ? ` (${b.restored.reason})` : ""}${b.restored.message ? `: ${b.restored.message}` : ""}`,
    );
  lines.push("");
  const body =
    b.backups.length === 0
      ? b.backupsError
        ? `RqBackups: ${b.backupsError}\n`
        : "No RqBackups.\n"
      : table(
          ["BACKUP", "PHASE", "SIZE", "AGE", "LOCATION"],
          b.backups.map((x) => [x.name, x.phase, humanBytes(x.size), age(x.created), x.location ?? "-"]),
        );
  // Why a backup failed, or why it is being retried: too long for a column.
  const reasons = b.backups.filter((x) => x.reason).map((x) => `  ${x.name}: ${x.reason}\n`);
  return `${lines.join("\n")}\n${body}${reasons.join("")}`;
}
