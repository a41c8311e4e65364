// What users and their tools see of a cluster on a plane with a scheduler and
// kube-controller-manager: `kubectl wait --for=condition=Ready` as the README prints it, the
// Version column, the recommended labels on every child, a LoadBalancer-type spec.service the
// API server accepts (and allocates node ports for), and the read Service `<name>-ro`, whose
// selector picks the read replicas only.
import { strict as assert } from "node:assert";
import { performance } from "node:perf_hooks";
import { startScheduledEnv, eventually, type ScheduledEnv } from "./scheduledEnv.js";

interface Service {
  metadata: { labels?: Record<string, string>; annotations?: Record<string, string> };
  spec: {
    type: string;
    selector: Record<string, string>;
    loadBalancerSourceRanges?: string[];
    externalTrafficPolicy?: string;
    healthCheckNodePort?: number;
    ports: Array<{ port: number; nodePort?: number }>;
  };
}

const RECOMMENDED = [
  "app.kubernetes.io/name",
  "app.kubernetes.io/instance",
  "app.kubernetes.io/component",
  "app.kubernetes.io/part-of",
  "app.kubernetes.io/version",
  "app.kubernetes.io/managed-by",
];

describe("conventions and Services on the scheduling plane", function () {
  this.timeout(300_000);
  let env: ScheduledEnv;
  const figures: Record<string, string> = {};

  before(async () => {
    env = await startScheduledEnv({ prefix: "services", replicas: 1 });
  });
  after(async () => {
    await env?.stop();
    console.log(`      figures: ${JSON.stringify(figures)}`);
  });

  const getJson = async <T>(args: string[]) => JSON.parse(await env.kubectl(["get", ...args, "-o", "json"])) as T;
  /**
   * The ready Pods the API server selects by `service`'s own selector, sorted: what the
   * EndpointSlice controller would list. The slices themselves cannot be shown here: the local
   * runtime gives Pods loopback addresses, which the API server refuses in an EndpointSlice.
   */
  const readyEndpoints = async (service: string) => {
    const svc = await getJson<Service>(["service", service]);
    const selector = Object.entries(svc.spec.selector)
      .map(([k, v]) => `${k}=${v}`)
      .join(",");
    const { items } = await getJson<{
      items: Array<{ metadata: { name: string }; status?: { conditions?: Array<{ type: string; status: string }> } }>;
    }>(["pods", "-l", selector]);
    return items
      .filter((p) => p.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True"))
      .map((p) => p.metadata.name)
      .sort();
  };

  it("is Ready for kubectl wait, shows its version, and labels every child with the recommended labels", async () => {
    const started = performance.now();
    await env.applyCluster("shop", {
      replicas: 3,
      readReplicas: 2,
      image: "rqlite/rqlite:8.43.4",
      service: {
        type: "LoadBalancer",
        annotations: { "service.beta.kubernetes.io/aws-load-balancer-internal": "true" },
        labels: { team: "payments" },
        loadBalancerSourceRanges: ["10.0.0.0/8", "fd00::/8"],
        externalTrafficPolicy: "Local",
      },
    });
    // As the README prints it: kubectl's own wait on the Ready condition.
    await env.kubectl(["wait", "--for=condition=Ready", "rqc/shop", "--timeout=240s"]);
    figures.readyAfterApplySeconds = ((performance.now() - started) / 1000).toFixed(1);
    const table = await env.kubectl(["get", "rqc", "shop"]);
    const [header, row] = table.trim().split("\n");
    const columns = header!.split(/\s+/);
    assert.equal(row!.split(/\s+/)[columns.indexOf("VERSION")], "8.43.4", table);

    const children = await getJson<{
      items: Array<{ kind: string; metadata: { name: string; labels?: Record<string, string> } }>;
    }>(["pods,pvc,services,pdb,networkpolicies", "-l", "rqlite.io/cluster=shop"]);
    assert.ok(children.items.length >= 5 + 5 + 3 + 1 + 1, children.items.map((o) => o.metadata.name).join(", "));
    for (const o of children.items)
      for (const label of RECOMMENDED)
        assert.ok(o.metadata.labels?.[label], `${o.kind} ${o.metadata.name} lacks ${label}`);
  });

  it("renders spec.service as a LoadBalancer the API server accepts", async () => {
    const svc = await getJson<Service>(["service", "shop"]);
    assert.equal(svc.spec.type, "LoadBalancer");
    assert.deepEqual(svc.spec.loadBalancerSourceRanges, ["10.0.0.0/8", "fd00::/8"]);
    assert.equal(svc.spec.externalTrafficPolicy, "Local");
    // The API server allocated what a LoadBalancer with the Local policy needs.
    assert.ok(svc.spec.ports[0]!.nodePort, "a node port");
    assert.ok(svc.spec.healthCheckNodePort, "a health check node port");
    assert.equal(svc.metadata.annotations?.["service.beta.kubernetes.io/aws-load-balancer-internal"], "true");
    assert.equal(svc.metadata.labels?.team, "payments");
    // The EndpointSlice controller follows Pod readiness a moment after the cluster converged.
    const endpoints = await eventually("the client Service selects every node", async () => {
      const ready = await readyEndpoints("shop");
      return ready.length === 5 ? ready : undefined;
    });
    assert.deepEqual(endpoints, ["shop-0", "shop-1", "shop-2", "shop-ro-0", "shop-ro-1"]);
  });

  it("selects only the read replicas behind the read Service", async () => {
    const endpoints = await eventually("the read Service selects both read replicas", async () => {
      const ready = await readyEndpoints("shop-ro");
      return ready.length === 2 ? ready : undefined;
    });
    assert.deepEqual(endpoints, ["shop-ro-0", "shop-ro-1"]);
  });

  it("goes back to ClusterIP, dropping the load balancer fields, and spreads reads over every node without read replicas", async () => {
    await env.kubectl([
      "patch",
      "rqc",
      "shop",
      "--type=merge",
      "-p",
      JSON.stringify({ spec: { readReplicas: 0, service: null } }),
    ]);
    const svc = await eventually("the client Service is ClusterIP again", async () => {
      const s = await getJson<Service>(["service", "shop"]);
      return s.spec.type === "ClusterIP" ? s : undefined;
    });
    assert.equal(svc.spec.loadBalancerSourceRanges, undefined);
    assert.equal(svc.spec.externalTrafficPolicy, undefined);
    const endpoints = await eventually("the read Service selects the voters", async () => {
      const ready = await readyEndpoints("shop-ro");
      return ready.join() === "shop-0,shop-1,shop-2" ? ready : undefined;
    });
    assert.deepEqual(endpoints, ["shop-0", "shop-1", "shop-2"]);
  });

  it("refuses a hostile spec.service at admission with field paths", async () => {
    const bad = {
      apiVersion: "rqlite.io/v1alpha1",
      kind: "RqCluster",
      metadata: { name: "hostile" },
      spec: {
        service: {
          type: "ClusterIP",
          labels: { "rqlite.io/cluster": "shop" },
          loadBalancerSourceRanges: ["10.0.0.0/40"],
        },
      },
    };
    const out = await env.cp.kubectl(["apply", "-n", env.ns, "-f", "-"], { input: JSON.stringify(bad) });
    assert.notEqual(out.code, 0);
    assert.match(out.stderr, /spec\.service\.labels\[rqlite\.io\/cluster\]: Forbidden/);
    assert.match(out.stderr, /spec\.service\.loadBalancerSourceRanges\[0\]: Invalid value: "10\.0\.0\.0\/40"/);
    assert.match(
      out.stderr,
      /spec\.service\.loadBalancerSourceRanges: Forbidden: may only be used when `type` is 'LoadBalancer'/,
    );
  });
});
