import type { Command } from "commander";
import { age, outputOption, table } from "../output.js";
import { clusterStatus, type ClusterStatusView } from "../status.js";
import { connect, examples, print } from "./common.js";

export function statusCommand(program: Command): void {
  const cmd = program
    .command("status")
    .description("show an RqCluster on one screen: phase, conditions, members, PVCs, last events")
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
  ];
  return out.join("\n");
}
