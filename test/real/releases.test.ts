// Two releases of the chart side by side on one real cluster, as two teams install them: each in a
// namespace of its own, with its own names (the second by fullnameOverride), each watching its own
// team's namespace (watchNamespaces), and only the first owning the CRDs (crds.install=false on
// the second). What it shows:
// - the chart refuses, at install, a release that would judge or reconcile RqClusters another
//   one does (every namespace, or a namespace in common), one in the same namespace, and one that
//   would take over the CRDs;
// - both releases converge an RqCluster of the same name, each in its own namespace, and it is the
//   release's own controller that made it (the cluster's NetworkPolicy admits that release's
//   namespace); neither controller touches the other's, nor one in a namespace no release watches;
// - each namespace's RqClusters are judged by its release's webhook alone: with the second
//   release's webhook down, its namespace's writes are refused (failurePolicy Fail) while the
//   first's go on, and a namespace no release watches has no webhook at all.
// Run with `npm run test:real` (root, the Debian packages in README's "Real cluster").
import { strict as assert } from "node:assert";
import { LABEL_CLUSTER } from "../../shared/names.js";
import { eventually } from "../../testenv/eventually.js";
import { waitConverged } from "../e2e/clusterStatus.js";
import { assertRqClusterAdmission, rqClusterYaml } from "../install/support/admission.js";
import { OPERATOR_NS, printFigures, runNamespace, startOperatorCluster, type OperatorCluster } from "./support.js";

const TEAM_A = runNamespace("team-a");
const TEAM_B = runNamespace("team-b");
/** Watched by neither release. */
const NOBODY = runNamespace("unwatched");
const OPS_B = runNamespace("rqo-b-system");
const RELEASE_B = "rqo-b";
const CLUSTER = "shop";
/** What this suite reads of a NetworkPolicy (JSON as kubectl prints it). */
interface Policy {
  spec: { ingress?: { from?: { namespaceSelector?: { matchLabels?: Record<string, string> } }[] }[] };
}
const watching = (ns: string) => ["--set-json", `watchNamespaces=${JSON.stringify([ns])}`];

describe("real cluster: two releases of the chart side by side, each converging its own RqClusters", function () {
  this.timeout(1_200_000);
  let oc: OperatorCluster;
  const figures: Record<string, string> = {};
  const kubectl = (args: string[], timeoutMs?: number) => oc.kubectl(args, timeoutMs);
  const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
  /** Every line each controller Pod of a release logged. */
  const controllerLogs = (ns: string) =>
    kubectl(["logs", "-n", ns, "-l", "app.kubernetes.io/component=controller", "--tail=-1", "--prefix"]);

  /** What the operators' Pods did, printed when a step fails. */
  const diagnose = async () => {
    for (const ns of [OPERATOR_NS, OPS_B])
      console.log(
        `      controllers of ${ns}:\n${(await controllerLogs(ns).catch((e: Error) => e.message)).split("\n").slice(-40).join("\n").replace(/^/gm, "        ")}`,
      );
    console.log(`      ${await kubectl(["get", "rqc,pods", "-A", "-o", "wide"]).catch((e: Error) => e.message)}`);
    // Why an operator Pod is not Ready or restarts (probes, scheduling), and what it said before.
    for (const ns of [OPERATOR_NS, OPS_B]) {
      const events = await kubectl(["get", "events", "-n", ns, "--field-selector", "type=Warning"]).catch(
        (e: Error) => e.message,
      );
      console.log(`      warnings in ${ns}:\n${events.replace(/^/gm, "        ")}`);
      const previous = await kubectl([
        ..."logs --previous --tail=15 --prefix -l app.kubernetes.io/name=rqlite-operator -n".split(" "),
        ns,
      ]).catch((e: Error) => e.message);
      console.log(`      before the last restart in ${ns}:\n${previous.replace(/^/gm, "        ")}`);
    }
  };

  before(async () => {
    oc = await startOperatorCluster(figures, { helmValues: watching(TEAM_A) });
    for (const ns of [TEAM_A, TEAM_B, NOBODY]) await kubectl(["create", "namespace", ns]);
  });

  afterEach(async function () {
    if (this.currentTest?.state !== "failed" || !oc) return;
    await diagnose();
  });

  after(async () => {
    printFigures(figures);
    await oc?.stop();
  });

  it("refuses a second release that would share RqClusters, a namespace or the CRDs with the first", async () => {
    const refused = async (what: string, ns: string, values: string[], message: RegExp) => {
      await assert.rejects(oc.operator.installRelease(RELEASE_B, ns, values), message, what);
      figures[`refused: ${what}`] = "yes";
    };
    const own = ["--set", `fullnameOverride=${RELEASE_B}`, "--set", "crds.install=false"];
    await refused(
      "watching every namespace",
      OPS_B,
      own,
      new RegExp(
        `another rqlite operator \\(rqlite-operator-mutating-webhook-configuration\\) watches ${TEAM_A}: two releases must each set watchNamespaces, to namespaces of their own \\(this one watches every namespace\\)`,
      ),
    );
    await refused(
      "watching the first's namespace",
      OPS_B,
      [...own, ...watching(TEAM_A)],
      new RegExp(`namespace ${TEAM_A} is in watchNamespaces of another rqlite operator`),
    );
    await refused(
      "in the first's namespace",
      OPERATOR_NS,
      [...own, ...watching(TEAM_B)],
      new RegExp(
        `another rqlite operator \\(rqlite-operator-mutating-webhook-configuration\\) runs in namespace ${OPERATOR_NS} already`,
      ),
    );
    await refused(
      "installing the CRDs again",
      OPS_B,
      ["--set", `fullnameOverride=${RELEASE_B}`, ...watching(TEAM_B)],
      /the RqCluster CRDs exist already \(from release rqlite-operator in namespace rqlite-operator-system\): install this release with crds\.install=false/,
    );
    const releases = await oc.rc.cp.kubectlOk(["get", "secrets", "-A", "-l", "owner=helm", "-o", "name"]);
    assert.equal(releases.trim().split("\n").length, 1, `one Helm release stored: ${releases}`);
  });

  it("installs the second release in its own namespace, with its own names, beside the first", async () => {
    // One replica each: the second team's operator is as much a release of its own with one, and
    // the machine runs two operators' Pods besides six rqlite nodes.
    const ms = await oc.operator.installRelease(RELEASE_B, OPS_B, [
      ...["--set", `fullnameOverride=${RELEASE_B}`, "--set", "crds.install=false"],
      ...["--set", "controller.replicas=1", "--set", "webhook.replicas=1"],
      ...watching(TEAM_B),
    ]);
    figures["second helm install --wait"] = seconds(ms);
    const controllers = await oc.pods(OPS_B, "app.kubernetes.io/component=controller");
    assert.deepEqual(
      controllers.map((p) => p.metadata?.ownerReferences?.[0]?.name?.replace(/-[a-z0-9]+$/, "")),
      [`${RELEASE_B}-controller`],
    );
    for (const ns of [OPERATOR_NS, OPS_B]) {
      const holder = await eventually(
        `a controller of ${ns} holding its Lease`,
        async () =>
          (await kubectl(["get", "lease", "-n", ns, "-o", "jsonpath={.items[*].spec.holderIdentity}"])).trim(),
        60_000,
      );
      figures[`Lease holder in ${ns}`] = holder;
    }
    const configs = await kubectl(["get", "mutatingwebhookconfigurations", "-o", "name"]);
    console.log(`      mutating webhook configurations: ${configs.trim().split("\n").join(", ")}`);
  });

  it("converges an RqCluster of the same name in each team's namespace, each made by its own release's controller", async () => {
    const applied = Date.now();
    for (const ns of [TEAM_A, TEAM_B, NOBODY])
      await oc.rc.cp.kubectlOk(["apply", "-f", "-"], { input: rqClusterYaml(ns, CLUSTER, { replicas: 3 }) });
    await Promise.all(
      [TEAM_A, TEAM_B].map(async (ns) => {
        await waitConverged(oc.rc.cp, ns, CLUSTER, 3);
        figures[`${ns}/${CLUSTER}: 3 nodes converged after apply`] = seconds(Date.now() - applied);
      }),
    );
    const all = await kubectl(["get", "rqc", "-A"]);
    console.log(`      kubectl get rqc -A:\n${all.replace(/^/gm, "        ")}`);
    // Each cluster's policy admits the controller of the release that rendered it.
    for (const [ns, operatorNs] of [
      [TEAM_A, OPERATOR_NS],
      [TEAM_B, OPS_B],
    ] as const) {
      const policy = JSON.parse(await kubectl(["get", "networkpolicy", "-n", ns, CLUSTER, "-o", "json"])) as Policy;
      const admitted = (policy.spec.ingress ?? []).flatMap((r) =>
        (r.from ?? []).map((p) => p.namespaceSelector?.matchLabels?.["kubernetes.io/metadata.name"]),
      );
      assert.ok(admitted.includes(operatorNs), `${ns}/${CLUSTER} admits ${admitted.join(", ")}`);
      assert.ok(
        !admitted.includes(ns === TEAM_A ? OPS_B : OPERATOR_NS),
        `${ns}/${CLUSTER} admits ${admitted.join(", ")}`,
      );
    }
    // Neither controller ever read, let alone wrote, the other team's or the unwatched namespace.
    for (const [ns, others] of [
      [OPERATOR_NS, [TEAM_B, NOBODY]],
      [OPS_B, [TEAM_A, NOBODY]],
    ] as const) {
      const logs = await controllerLogs(ns);
      for (const other of others) assert.ok(!logs.includes(other), `the controllers of ${ns} logged ${other}`);
    }
    const stray = JSON.parse(await kubectl(["get", "rqc", "-n", NOBODY, CLUSTER, "-o", "json"])) as { status?: object };
    assert.equal(stray.status, undefined, "no controller reports on an RqCluster in a namespace no release watches");
    assert.deepEqual(await oc.pods(NOBODY, `${LABEL_CLUSTER}=${CLUSTER}`), []);
  });

  it("judges each namespace's RqClusters by its own release's webhook alone", async () => {
    // Both webhooks answer, each in its namespace: a bad spec refused, a good one defaulted.
    await assertRqClusterAdmission(oc.rc.cp, TEAM_A);
    await assertRqClusterAdmission(oc.rc.cp, TEAM_B);
    const dryRun = (ns: string) =>
      oc.rc.cp.kubectl(["apply", "--dry-run=server", "-o", "json", "-f", "-"], {
        input: rqClusterYaml(ns, "another", { replicas: 3 }),
      });
    // (The CRD's own schema defaults storage, so defaults alone say nothing of which webhook ran.)
    // The second release's webhook down: its namespace's writes fail closed, the first's go on.
    await kubectl(["scale", "deployment", "-n", OPS_B, `${RELEASE_B}-webhook`, "--replicas=0"]);
    const refusal = await eventually(
      `a write in ${TEAM_B} refused while ${RELEASE_B}-webhook has no Pod`,
      async () => {
        const r = await dryRun(TEAM_B);
        return r.code !== 0 && r.stderr;
      },
      120_000,
      { intervalMs: 1000 },
    );
    figures[`${TEAM_B} with ${RELEASE_B}-webhook down`] = refusal.trim().split("\n").pop()!;
    assert.match(refusal, new RegExp(`failed calling webhook "mrqcluster\\.rqlite\\.io".*${RELEASE_B}-webhook`));
    for (const ns of [TEAM_A, NOBODY]) {
      const r = await dryRun(ns);
      assert.equal(r.code, 0, `${ns}: ${r.stderr}`);
    }
    await assertRqClusterAdmission(oc.rc.cp, TEAM_A);
  });
});
