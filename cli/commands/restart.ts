// A rolling restart the way `kubectl rollout restart` does it: a new annotation in the pod
// template changes every Pod the operator renders, so it rolls them one at a time, leader last.
import type { Command } from "commander";
import { getCluster, patchCluster } from "../cluster.js";
import { CliError } from "../errors.js";
import { connect, examples } from "./common.js";

/** kubectl rollout restart's annotation; the webhook refuses only rqlite.io/ keys in templates. */
export const RESTARTED_AT = "kubectl.kubernetes.io/restartedAt";

export function restartCommand(program: Command): void {
  const cmd = program
    .command("restart")
    .description("restart every node of an RqCluster, one at a time, leader last")
    .argument("<cluster>", "RqCluster name")
    .action(async (name: string, _opts: unknown, self: Command) => {
      const kube = connect(self);
      const rq = await getCluster(kube, name);
      if (rq.spec?.podTemplateConfigMap)
        throw new CliError(
          `RqCluster ${kube.namespace}/${name} takes its pod template from ConfigMap ${rq.spec.podTemplateConfigMap.name}, and spec.podTemplate cannot be set beside it; add the annotation ${RESTARTED_AT} to that template instead`,
        );
      const now = new Date().toISOString().replace(/\.\d+Z$/, "Z");
      await patchCluster(kube, name, { spec: { podTemplate: { metadata: { annotations: { [RESTARTED_AT]: now } } } } });
      process.stdout.write(
        `RqCluster ${kube.namespace}/${name} restarting: the operator replaces one node at a time, leader last; follow it with kubectl rqlite status ${name}\n`,
      );
    });
  examples(cmd, ["kubectl rqlite restart demo"]);
}
