// Every change finishes, on a plane with a disruption controller (kube-controller-manager) and a
// scheduler: a roll of 1, 2, 3 and 5 voters (the small ones by a plain delete, with a Warning and
// a Progressing message, since their budget allows no eviction; the others by eviction, in line
// with drains), a `kubectl drain` of a 1-voter cluster's node under spec.maintenance, a user's
// PodDisruptionBudget beside the operator's, and a failed upgrade rolled back by editing the image
// alone. Each change is watched by the invariant monitor, with a writer whose acknowledged rows
// are checked on every node afterwards; the figures are printed for the closing note.
import { strict as assert } from "node:assert";
import type { V1PodDisruptionBudget } from "@kubernetes/client-node";
import { LABEL_CLUSTER } from "../../shared/names.js";
import type { ClusterStatus } from "./clusterStatus.js";
import { monitoredChange } from "./monitoredChange.js";
import { createRowsTable, type AckedRow } from "./rows.js";
import { eventsAbout, eventually, startScheduledEnv, type ScheduledEnv } from "./scheduledEnv.js";

const GOOD_IMAGE = "rqlite/rqlite:8.43.4";
/** A release no local binary exists for: the local runtime reports ErrImagePull and the Pod never gets Ready. */
const BAD_IMAGE = "rqlite/rqlite:8.43.5";

describe("every change finishes: small clusters roll, a user's budget, a drain under maintenance, a rollback", function () {
  this.timeout(600_000);
  let env: ScheduledEnv;
  const figures: Record<string, string> = {};

  const names = (cluster: string, voters: number) => Array.from({ length: voters }, (_, i) => `${cluster}-${i}`);
  const bumpTemplate = (cluster: string, rev: string) =>
    env.kubectl([
      "patch",
      "rqc",
      cluster,
      "--type=merge",
      "-p",
      JSON.stringify({ spec: { podTemplate: { metadata: { annotations: { "e2e/rev": rev } } } } }),
    ]);
  const create = async (cluster: string, spec: { replicas: number; image?: string }) => {
    await env.applyCluster(cluster, { affinity: { podAntiAffinity: "Preferred" }, ...spec });
    await env.converged(cluster, spec.replicas, 180_000);
    await createRowsTable(env.ns, (await env.cluster(cluster)).status.leader!);
  };
  const setMaintenance = (cluster: string, inProgress: boolean) =>
    env.kubectl([
      "patch",
      "rqc",
      cluster,
      "--type=merge",
      "-p",
      JSON.stringify({ spec: { maintenance: { inProgress } } }),
    ]);
  const remove = async (cluster: string) => {
    await env.kubectl(["delete", "rqc", cluster, "--wait=true", "--timeout=120s"]);
    await eventually(`${cluster}'s Pods gone`, async () => (await env.pods(cluster)).length === 0, 120_000);
  };
  const rawStatus = async (cluster: string) =>
    await env.client.request<{
      metadata: { generation: number };
      status?: Omit<ClusterStatus, "conditions"> & { conditions?: Condition[] };
    }>({
      method: "GET",
      path: `/apis/rqlite.io/v1alpha1/namespaces/${env.ns}/rqclusters/${cluster}`,
      timeoutMs: 5000,
    });
  interface Condition {
    type: string;
    status: string;
    reason?: string;
    message?: string;
    observedGeneration?: number;
  }
  /** Samples the Progressing condition every 100 ms until stopped: what a user watching status saw. */
  const watchProgressing = (cluster: string) => {
    const seen = new Set<string>();
    let running = true;
    const loop = (async () => {
      while (running) {
        const p = (await rawStatus(cluster).catch(() => undefined))?.status?.conditions?.find(
          (c) => c.type === "Progressing",
        );
        if (p) seen.add(`${p.status} ${p.reason}: ${p.message}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    return async () => {
      running = false;
      await loop;
      return [...seen];
    };
  };

  before(async () => {
    env = await startScheduledEnv({ prefix: "rolls", nodes: 3, controllerArgs: ["--resync-period=5"] });
  });

  after(async () => {
    await env?.stop();
    console.log(`      figures: ${JSON.stringify(figures, null, 2).replaceAll("\n", "\n      ")}`);
  });

  for (const voters of [1, 2, 3, 5]) {
    const small = voters < 3;
    it(`a roll of ${voters} voter${voters === 1 ? "" : "s"} completes${small ? ", one voter at a time with the warning" : ", never more than one voter down"}`, async () => {
      const cluster = `roll${voters}`;
      await create(cluster, { replicas: voters });
      const acked: AckedRow[] = [];
      let progressing: string[] = [];
      const started = Date.now();
      const report = await monitoredChange(
        {
          name: `roll of ${voters} voter(s)`,
          client: env.client,
          namespace: env.ns,
          cluster,
          acked,
          podsAfter: () => names(cluster, voters),
          figures,
        },
        async () => {
          const stop = watchProgressing(cluster);
          await bumpTemplate(cluster, "1");
          try {
            await env.converged(cluster, voters, 240_000);
          } finally {
            progressing = await stop();
          }
        },
      );
      const seconds = ((Date.now() - started) / 1000).toFixed(1);
      const pods = await env.pods(cluster);
      assert.ok(
        pods.every((p) => p.metadata?.annotations?.["e2e/rev"] === "1"),
        "every Pod carries the new template",
      );
      const events = await eventsAbout(env.cp, env.ns, "RqCluster", cluster);
      const steps = events.filter((e) => / RollingUpdate: /.test(e));
      console.log(`      roll steps:\n        ${steps.join("\n        ")}`);
      const unwritable = progressing.filter((p) => /unwritable/.test(p));
      figures[`roll of ${voters}: most voters down at once`] = String(report.maxVotersDown);
      figures[`roll of ${voters}: seconds`] = seconds;
      assert.equal(report.maxVotersDown, 1, "one voter down at a time");
      if (small) {
        assert.ok(
          steps.length >= voters &&
            steps.every((e) =>
              /^Warning RollingUpdate: deleted outdated Pod .* the cluster is unwritable until/.test(e),
            ),
          `each step is a delete with a Warning: ${steps.join("\n")}`,
        );
        // A 1-voter step can pass between two 100 ms samples; its Warning Event (above) carries the
        // same words, so only the longer 2-voter roll must also show them in a sampled Progressing.
        if (voters > 1)
          assert.ok(unwritable.length > 0, `Progressing said the cluster is unwritable: ${progressing.join("\n")}`);
        figures[`roll of ${voters}: Progressing`] = unwritable[0] ?? "not sampled (shorter than the 100 ms poll)";
        figures[`roll of ${voters}: Warning`] = steps[0]!;
        assert.deepEqual(
          events.filter((e) => /EvictionRefusedByBudget/.test(e)),
          [],
          "never waited on its own budget",
        );
      } else {
        assert.ok(
          steps.length >= voters &&
            steps.every((e) =>
              /^Normal RollingUpdate: evicted outdated Pod .*evicted through the Eviction API/.test(e),
            ),
          `each step is an eviction: ${steps.join("\n")}`,
        );
        assert.deepEqual(unwritable, [], "no quorum warning with 3 or more voters");
      }
      await remove(cluster);
    });
  }

  it("kubectl drain of the node holding a 1-voter cluster's voter passes under spec.maintenance.inProgress", async () => {
    const cluster = "maint1";
    await create(cluster, { replicas: 1 });
    const pdb = async () =>
      await env.client.request<V1PodDisruptionBudget>({
        method: "GET",
        path: `/apis/policy/v1/namespaces/${env.ns}/poddisruptionbudgets/${cluster}`,
        timeoutMs: 5000,
      });
    const allowed = (n: number) =>
      eventually(`${cluster}'s budget allows ${n}`, async () => {
        const s = (await pdb()).status;
        return (
          s?.observedGeneration !== undefined &&
          s.observedGeneration === (await pdb()).metadata?.generation &&
          s.disruptionsAllowed === n
        );
      });
    await allowed(0);
    const node = (await env.placement(cluster))[`${cluster}-0`]!;
    // Without the setting the drain cannot pass: the budget keeps the only voter.
    const refused = await env.cp.kubectl(
      ["drain", node, "--ignore-daemonsets", "--delete-emptydir-data", "--timeout=8s"],
      {
        timeoutMs: 30_000,
      },
    );
    assert.notEqual(refused.code, 0, "a drain without the maintenance setting waits on the budget");
    assert.match(`${refused.stdout}${refused.stderr}`, /disruption budget/);
    await env.cp.kubectlOk(["uncordon", node]);
    await setMaintenance(cluster, true);
    await allowed(1);
    assert.equal((await pdb()).spec?.minAvailable, 0);
    const acked: AckedRow[] = [];
    let out = "";
    const report = await monitoredChange(
      {
        name: "drain of a 1-voter cluster's node under maintenance",
        client: env.client,
        namespace: env.ns,
        cluster,
        acked,
        podsAfter: () => [`${cluster}-0`],
        figures,
      },
      async () => {
        const r = await env.cp.kubectl(
          ["drain", node, "--ignore-daemonsets", "--delete-emptydir-data", "--timeout=120s"],
          {
            timeoutMs: 150_000,
          },
        );
        out = `${r.stdout}\n${r.stderr}`;
        assert.equal(r.code, 0, `kubectl drain ${node} failed: ${out}`);
        await env.converged(cluster, 1, 180_000);
      },
    );
    console.log(`      kubectl drain ${node}:\n        ${out.trim().split("\n").join("\n        ")}`);
    const moved = (await env.placement(cluster))[`${cluster}-0`];
    assert.ok(moved && moved !== node, `the voter runs elsewhere: ${moved}`);
    assert.equal(report.maxVotersDown, 1);
    await env.cp.kubectlOk(["uncordon", node]);
    await setMaintenance(cluster, false);
    await allowed(0);
    await remove(cluster);
  });

  it("a user's PodDisruptionBudget beside the operator's: a condition with the remedy, status keeps up, the roll finishes once it is gone", async () => {
    const cluster = "userpdb";
    await create(cluster, { replicas: 3 });
    await env.kubectl(
      ["apply", "-f", "-"],
      JSON.stringify({
        apiVersion: "policy/v1",
        kind: "PodDisruptionBudget",
        metadata: { name: "my-own-budget" },
        spec: { minAvailable: 1, selector: { matchLabels: { [LABEL_CLUSTER]: cluster } } },
      }),
    );
    const acked: AckedRow[] = [];
    let condition: Condition | undefined;
    const report = await monitoredChange(
      {
        name: "roll with a user's budget, then without",
        client: env.client,
        namespace: env.ns,
        cluster,
        acked,
        podsAfter: () => names(cluster, 3),
        figures,
      },
      async () => {
        await bumpTemplate(cluster, "1");
        condition = await eventually("the Progressing condition names the user's budget", async () => {
          const rq = await rawStatus(cluster);
          const c = rq.status?.conditions?.find((x) => x.type === "Progressing");
          return c?.reason === "PodDisruptionBudgetConflict" && c.observedGeneration === rq.metadata.generation
            ? c
            : undefined;
        });
        // No error loop and no eviction around it: another edit is still reflected in status,
        // and a few seconds on no Pod was replaced.
        await bumpTemplate(cluster, "2");
        const gen = (await rawStatus(cluster)).metadata.generation;
        await eventually("status follows the next edit", async () => {
          const rq = await rawStatus(cluster);
          return (
            rq.status?.observedGeneration === gen &&
            rq.status.conditions?.some(
              (c) => c.reason === "PodDisruptionBudgetConflict" && c.observedGeneration === gen,
            )
          );
        });
        await new Promise((r) => setTimeout(r, 5000));
        const pods = await env.pods(cluster);
        assert.ok(
          pods.every((p) => p.metadata?.annotations?.["e2e/rev"] === undefined),
          "no Pod replaced while both budgets select them",
        );
        await env.kubectl(["delete", "pdb", "my-own-budget"]);
        await env.converged(cluster, 3, 240_000);
      },
    );
    console.log(`      condition: ${JSON.stringify(condition)}`);
    figures["user's budget: Progressing"] = `${condition!.status} ${condition!.reason}: ${condition!.message}`;
    assert.equal(condition!.status, "False");
    assert.match(
      condition!.message!,
      /PodDisruptionBudget my-own-budget also selects this cluster's Pods .*delete it or narrow the selector/,
    );
    const pods = await env.pods(cluster);
    assert.ok(
      pods.every((p) => p.metadata?.annotations?.["e2e/rev"] === "2"),
      "the roll finished once the budget was gone",
    );
    assert.equal(report.maxVotersDown, 1);
    await remove(cluster);
  });

  it("a failed upgrade (an image that never gets Ready) is rolled back by editing the image alone", async () => {
    const cluster = "rollback";
    await create(cluster, { replicas: 3, image: GOOD_IMAGE });
    const acked: AckedRow[] = [];
    let stuck = "";
    const report = await monitoredChange(
      {
        name: "failed upgrade rolled back",
        client: env.client,
        namespace: env.ns,
        cluster,
        acked,
        podsAfter: () => names(cluster, 3),
        figures,
      },
      async () => {
        await env.kubectl([
          "patch",
          "rqc",
          cluster,
          "--type=merge",
          "-p",
          JSON.stringify({ spec: { image: BAD_IMAGE } }),
        ]);
        stuck = await eventually(
          "one Pod on the bad image, not Ready, and the roll waiting for it",
          async () => {
            const bad = (await env.pods(cluster)).filter((p) => p.spec?.containers[0]?.image === BAD_IMAGE);
            if (bad.length !== 1) return undefined;
            const rq = await rawStatus(cluster);
            const c = rq.status?.conditions?.find((x) => x.type === "Progressing");
            return rq.status?.phase === "Upgrading" ? `${bad[0]!.metadata!.name}: ${c?.message}` : undefined;
          },
          120_000,
        );
        // Still stuck a while later: the roll waits for a Pod that never gets Ready.
        await new Promise((r) => setTimeout(r, 8000));
        const bad = (await env.pods(cluster)).filter((p) => p.spec?.containers[0]?.image === BAD_IMAGE);
        assert.equal(bad.length, 1, "the roll went no further than the broken Pod");
        await env.kubectl([
          "patch",
          "rqc",
          cluster,
          "--type=merge",
          "-p",
          JSON.stringify({ spec: { image: GOOD_IMAGE } }),
        ]);
        await env.converged(cluster, 3, 180_000);
      },
    );
    console.log(`      stuck: ${stuck}`);
    const pods = await env.pods(cluster);
    assert.ok(
      pods.every((p) => p.spec?.containers[0]?.image === GOOD_IMAGE),
      "every Pod runs the good image again",
    );
    const events = await eventsAbout(env.cp, env.ns, "RqCluster", cluster);
    assert.ok(
      events.some((e) => /RollingUpdate: deleted outdated Pod .*, which is not Ready, to recreate it/.test(e)),
      `the broken Pod was replaced by the rollback: ${events.join("\n")}`,
    );
    assert.equal(report.maxVotersDown, 1);
    figures["rollback: stuck at"] = stuck;
    await remove(cluster);
  });
});
