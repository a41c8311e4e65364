// Deleting an RqCluster where kube-controller-manager's garbage collector runs: with
// reclaimPolicy Delete no child is left (the operator deletes the PVCs, the collector what the
// owner references give it, the PV controller the volumes); with Retain the PVCs and their PVs
// stay, and a new cluster of the same name adopts them and serves the old rows. Each both as
// `kubectl delete` does by default (background) and with --cascade=foreground.
import { strict as assert } from "node:assert";
import { LABEL_CLUSTER } from "../../shared/names.js";
import { monitoredChange } from "./monitoredChange.js";
import { assertRowsOnEveryNode, createRowsTable, type AckedRow } from "./rows.js";
import { eventually, startScheduledEnv, type ScheduledEnv } from "./scheduledEnv.js";

const names = (cluster: string, n: number) => Array.from({ length: n }, (_, i) => `${cluster}-${i}`);
const CASCADES = ["background", "foreground"] as const;
/** Every kind of child the operator creates, as kubectl names them. */
const CHILD_KINDS = "pods,persistentvolumeclaims,services,poddisruptionbudgets,networkpolicies,secrets";

describe("garbage collection: deleting a cluster honours storage.reclaimPolicy", function () {
  this.timeout(300_000);
  let env: ScheduledEnv;
  const figures: Record<string, string> = {};
  const acked = new Map<string, AckedRow[]>();

  /** A cluster with rows in it, written while the monitor watches (its creation is no change). */
  const clusterWithRows = async (name: string, replicas: number, reclaimPolicy: "Delete" | "Retain") => {
    await env.applyCluster(name, { replicas, storage: { reclaimPolicy } });
    await env.converged(name, replicas);
    await createRowsTable(env.ns, (await env.cluster(name)).status.leader!);
    acked.set(name, []);
    await monitoredChange(
      {
        name: `rows into ${name}`,
        client: env.client,
        namespace: env.ns,
        cluster: name,
        acked: acked.get(name)!,
        podsAfter: () => names(name, replicas),
        figures,
      },
      () => new Promise((r) => setTimeout(r, 2000)),
    );
    assert.ok(acked.get(name)!.length > 0, `rows were written into ${name}`);
  };
  /** Children of the cluster, by "kind/name", found by its label. */
  const children = async (cluster: string) =>
    (await env.kubectl(["get", CHILD_KINDS, "-l", `${LABEL_CLUSTER}=${cluster}`, "-o", "name"]))
      .split("\n")
      .filter(Boolean)
      .sort();
  /** PV name -> its claim "namespace/name", for the cluster's claims. */
  const volumesOf = async (cluster: string) => {
    const pvs = JSON.parse(await env.cp.kubectlOk(["get", "pv", "-o", "json"])) as {
      items: Array<{ metadata: { name: string }; spec: { claimRef?: { namespace: string; name: string } } }>;
    };
    return pvs.items
      .filter((pv) => pv.spec.claimRef?.namespace === env.ns && pv.spec.claimRef.name.startsWith(`${cluster}-`))
      .map((pv) => pv.metadata.name)
      .sort();
  };
  const deleteCluster = (name: string, cascade: (typeof CASCADES)[number]) =>
    env.kubectl(["delete", "rqc", name, `--cascade=${cascade}`, "--timeout=120s"]);

  before(async () => {
    env = await startScheduledEnv({ prefix: "gc", nodes: 3 });
  });

  after(async () => {
    await env?.stop();
    console.log(`      figures: ${JSON.stringify(figures, null, 2).replaceAll("\n", "\n      ")}`);
  });

  for (const cascade of CASCADES) {
    it(`reclaimPolicy Delete (--cascade=${cascade}) leaves no child and no volume`, async () => {
      const name = `del-${cascade.slice(0, 4)}`;
      await clusterWithRows(name, cascade === "background" ? 3 : 1, "Delete");
      const before = await children(name);
      const volumes = await volumesOf(name);
      console.log(`      ${name}: ${before.length} children, PVs ${volumes.join(", ")}`);
      assert.ok(volumes.length > 0, "its PVCs are bound to PVs");
      const started = Date.now();
      await deleteCluster(name, cascade);
      const left = await eventually(
        `${name}'s children and volumes to go`,
        async () => {
          const rest = [...(await children(name)), ...(await volumesOf(name)).map((pv) => `pv/${pv}`)];
          return rest.length === 0 ? rest : undefined;
        },
        120_000,
      );
      figures[`delete ${name} (Delete, ${cascade})`] =
        `no child left after ${((Date.now() - started) / 1000).toFixed(1)} s`;
      assert.deepEqual(left, []);
    });
  }

  for (const cascade of CASCADES) {
    it(`reclaimPolicy Retain (--cascade=${cascade}) keeps the PVCs and PVs; a new cluster of the name adopts them and serves the old rows`, async () => {
      const name = `keep-${cascade.slice(0, 4)}`;
      const replicas = cascade === "background" ? 3 : 1;
      await clusterWithRows(name, replicas, "Retain");
      const pvcsBefore = new Map((await env.pvcs(name)).map((p) => [p.metadata!.name!, p.metadata!.uid!]));
      const volumes = await volumesOf(name);
      await deleteCluster(name, cascade);
      await eventually(`${name}'s other children to go`, async () =>
        (await children(name)).every((c) => c.startsWith("persistentvolumeclaim/")),
      );
      const kept = await env.pvcs(name);
      assert.deepEqual(
        new Map(kept.map((p) => [p.metadata!.name!, p.metadata!.uid!])),
        pvcsBefore,
        "the same PVCs are still there",
      );
      for (const pvc of kept) {
        assert.equal(pvc.metadata?.deletionTimestamp, undefined, `PVC ${pvc.metadata?.name} is not being deleted`);
        assert.deepEqual(pvc.metadata?.ownerReferences ?? [], [], `PVC ${pvc.metadata?.name} belongs to no one`);
        assert.equal(pvc.status?.phase, "Bound");
      }
      assert.deepEqual(await volumesOf(name), volumes, "their PVs are still bound to them");

      await env.applyCluster(name, { replicas, storage: { reclaimPolicy: "Retain" } });
      await env.converged(name, replicas);
      const adopted = await env.pvcs(name);
      assert.deepEqual(
        new Map(adopted.map((p) => [p.metadata!.name!, p.metadata!.uid!])),
        pvcsBefore,
        "adopted, not new",
      );
      assert.deepEqual(await volumesOf(name), volumes);
      for (const pvc of adopted)
        assert.deepEqual(pvc.metadata?.ownerReferences ?? [], [], "Retain keeps them free of owner references");
      await assertRowsOnEveryNode(env.ns, names(name, replicas), acked.get(name)!);
      console.log(
        `      ${name}: ${acked.get(name)!.length} rows written before the delete, all read back on every node`,
      );
      // Leave nothing behind for the plane's own cleanup to wait on.
      await env.kubectl([
        "patch",
        "rqc",
        name,
        "--type=merge",
        "-p",
        '{"spec":{"storage":{"reclaimPolicy":"Delete"}}}',
      ]);
      await env.kubectl(["delete", "rqc", name, "--wait=false"]);
    });
  }
});
