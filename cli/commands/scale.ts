// `scale` sets the node counts and waits until the operator reports the cluster Available at
// them; the operator does the safe part (Raft removal first, one node at a time).
import { InvalidArgumentError, type Command } from "commander";
import { patchCluster } from "../cluster.js";
import { isAvailable, parseDuration, waitForCluster } from "../progress.js";
import { MAX_READ_REPLICAS, MAX_REPLICAS } from "../../shared/names.js";
import type { RqCluster } from "../../shared/types.generated.js";
import { connect, examples } from "./common.js";

const count = (min: number, max: number) => (text: string) => {
  const n = Number(text);
  if (!/^\d+$/.test(text) || n < min || n > max)
    throw new InvalidArgumentError(`expected a whole number from ${min} to ${max}`);
  return n;
};

export function scaleCommand(program: Command): void {
  const cmd = program
    .command("scale")
    .description("change the number of voters and read replicas, and wait until the cluster is Available")
    .argument("<cluster>", "RqCluster name")
    .requiredOption("--replicas <n>", `voting nodes, 1 to ${MAX_REPLICAS}`, count(1, MAX_REPLICAS))
    .option("--read-replicas <m>", `read-only nodes, 0 to ${MAX_READ_REPLICAS}`, count(0, MAX_READ_REPLICAS))
    .option("--timeout <duration>", "how long to wait", parseDuration, 600_000)
    .option("--no-wait", "return once the change is accepted")
    .action(
      async (
        name: string,
        opts: { replicas: number; readReplicas?: number; timeout: number; wait: boolean },
        self: Command,
      ) => {
        const kube = connect(self);
        const spec = {
          replicas: opts.replicas,
          ...(opts.readReplicas === undefined ? {} : { readReplicas: opts.readReplicas }),
        };
        const patched = await patchCluster(kube, name, { spec });
        const generation = patched.metadata?.generation ?? 0;
        const voters = opts.replicas;
        const readers = patched.spec?.readReplicas ?? 0;
        if (opts.wait) {
          const reached = (rq: RqCluster) =>
            (rq.status?.observedGeneration ?? 0) >= generation &&
            isAvailable(rq) &&
            rq.status?.phase === "Running" &&
            rq.status.readyReplicas === voters &&
            (rq.status.readReplicasReady ?? 0) === readers;
          await waitForCluster(kube, name, opts.timeout, reached, (rq) => progressLine(rq, voters, readers));
        }
        process.stdout.write(
          `RqCluster ${kube.namespace}/${name} ${opts.wait ? "scaled to" : "scaling to"} ${voters} voter(s) and ${readers} read replica(s)\n`,
        );
      },
    );
  examples(cmd, [
    "kubectl rqlite scale demo --replicas 5",
    "kubectl rqlite scale demo --replicas 3 --read-replicas 2 --timeout 15m",
  ]);
}

function progressLine(rq: RqCluster, voters: number, readers: number): string {
  const s = rq.status ?? {};
  return `${rq.metadata?.name}: ${s.phase ?? "Pending"}, voters ready ${s.readyReplicas ?? 0}/${voters}, read replicas ready ${s.readReplicasReady ?? 0}/${readers}`;
}
