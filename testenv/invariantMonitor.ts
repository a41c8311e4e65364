// Watches one RqCluster while a test changes it: every 100 ms it reads spec.replicas, the Pods and
// rqlite's membership as the leader reports it, and judges each sample with the safety
// invariants (invariants.ts). Tests the transitions, not only the end state.
import type { V1Pod, V1PodList } from "@kubernetes/client-node";
import type { KubeClient } from "../controller/runtime/kubeClient.js";
import { objectPath } from "../controller/runtime/paths.js";
import { API_VERSION, LABEL_CLUSTER, PLURAL } from "../shared/names.js";
import {
  InvariantChecker,
  type PodState,
  type RaftState,
  type Sample,
  type Snapshot,
  type Violation,
} from "./invariants.js";
import { NodeAccess } from "./nodeAccess.js";

export interface MonitorOptions {
  /** An admin client: the monitor sees what the API server holds, not what a cache holds. */
  client: KubeClient;
  namespace: string;
  cluster: string;
  /** Voters the test itself takes down at most at once (see CheckerOptions.allowance). */
  allowance?: number;
  intervalMs?: number;
  /** How to reach the nodes (HTTPS CA, credentials); plain HTTP without credentials by default. */
  access?: NodeAccess;
}

export interface MonitorReport {
  cluster: string;
  durationMs: number;
  samples: number;
  /** Samples in which no node answered as the leader: recorded, not a violation by itself. */
  samplesWithoutLeader: number;
  samplesWithoutApi: number;
  /** The most voters down (missing, terminating, or not Ready and not alive) at one sample. */
  maxVotersDown: number;
  maxVotersDownAt?: Snapshot;
  /** The most voter Pods missing, terminating or not Ready at one sample, leader elections included. */
  maxPodsNotReady: number;
  /** Voters going down, in order (a roll's order of Pods). */
  wentDown: Array<{ t: number; name: string }>;
  /** Voters leaving the leader's Raft configuration, in order; several ids left within one sample. */
  removals: Array<{ t: number; ids: string[] }>;
  violations: Violation[];
  /** Why V2 or V3 could not be judged (InvariantChecker.unchecked): the scenario proves nothing then. */
  unchecked: string[];
  /** Why the latest sample had no leader's view, when it had none. */
  lastRaftProblem?: string;
}

export interface InvariantMonitor {
  /** Declares that the test takes this Pod's node down now (kill, freeze). */
  fault(pod: string): void;
  /** The leader found by the latest sample, if any. */
  leader(): string | undefined;
  stop(): Promise<MonitorReport>;
}

const API_TIMEOUT_MS = 1500;
/** rqlite waits up to 80% of this for members while answering /nodes: a frozen member costs that much. */
const NODES_TIMEOUT_MS = 500;
const STATUS_TIMEOUT_MS = 400;
const SETTLE_MS = 5000;
const BASELINE_MS = 10_000;

/**
 * Starts sampling; resolves after the first sample with a leader's view (or after BASELINE_MS
 * without one), so a change made afterwards is seen from its start: a Raft removal is judged
 * against the view before it, and none can happen before the first view unseen.
 */
export async function startInvariantMonitor(opts: MonitorOptions): Promise<InvariantMonitor> {
  const { client, namespace, cluster } = opts;
  const interval = opts.intervalMs ?? 100;
  const checker = new InvariantChecker({ cluster, allowance: opts.allowance ?? 0 });
  const started = Date.now();
  // Each node's scheme follows its latest Pod (learnt every sample): mid-roll of tls.http some
  // nodes serve HTTPS and others HTTP.
  const access = opts.access ?? new NodeAccess(namespace);
  const node = (pod: string) => access.client(pod);
  let leaderHint: string | undefined;
  let lastMembers: string[] = [];
  let lastRaftProblem: string | undefined;
  const faulted = new Set<string>();
  let stopped = false;

  async function readLeaderView(candidates: string[]): Promise<{ raft?: RaftState; problem?: string }> {
    const viewFrom = async (pod: string): Promise<RaftState | string> => {
      const nodes = await node(pod).nodes({ timeoutMs: NODES_TIMEOUT_MS });
      const leader = nodes.find((n) => n.leader)?.id;
      if (leader !== pod) return leader ?? "";
      return { leader, members: nodes.map((n) => ({ id: n.id, voter: n.voter, reachable: n.reachable })) };
    };
    let problem = "";
    if (leaderHint) {
      const first = await viewFrom(leaderHint).catch((err: Error) => err.message);
      if (typeof first !== "string") return { raft: first };
      // A node that names another leader points the way.
      if (first && candidates.includes(first)) {
        const second = await viewFrom(first).catch((err: Error) => err.message);
        if (typeof second !== "string") return { raft: second };
      }
      problem = `${leaderHint}: ${first || "no longer leads"}`;
    }
    const statuses = await Promise.all(
      candidates.map((c) =>
        node(c)
          .status({ timeoutMs: STATUS_TIMEOUT_MS })
          .catch(() => undefined),
      ),
    );
    const leaders = statuses.filter((s) => s?.raftState === "Leader").sort((a, b) => b!.term - a!.term);
    for (const s of leaders) {
      const view = await viewFrom(s!.nodeId).catch((err: Error) => err.message);
      if (typeof view !== "string") return { raft: view };
      problem = `${s!.nodeId}: ${view || "did not list itself as leader"}`;
    }
    return { problem: problem || `none of ${candidates.join(", ")} reports itself leader` };
  }

  async function takeSample(): Promise<Sample> {
    const t = Date.now() - started;
    const [rq, list] = await Promise.all([
      client
        .request<{ spec?: { replicas?: number } }>({
          method: "GET",
          path: objectPath({ apiVersion: API_VERSION, resource: PLURAL, namespace, name: cluster }),
          timeoutMs: API_TIMEOUT_MS,
        })
        .catch(() => undefined),
      client
        .request<V1PodList>({
          method: "GET",
          path: objectPath({ apiVersion: "v1", resource: "pods", namespace }),
          query: { labelSelector: `${LABEL_CLUSTER}=${cluster}` },
          timeoutMs: API_TIMEOUT_MS,
        })
        .catch(() => undefined),
    ]);
    if (list) access.learn(list.items);
    const pods = list?.items.map(podState);
    const candidates = [...new Set([...(pods ?? []).map((p) => p.name), ...lastMembers])];
    const answers = async (pod: string) =>
      (await node(pod)
        .readyz({ noleader: true, timeoutMs: STATUS_TIMEOUT_MS })
        .then((r) => r.ready)
        .catch(() => false))
        ? pod
        : undefined;
    const [view, alive, faultedAnswering] = await Promise.all([
      readLeaderView(candidates),
      Promise.all(checker.aliveCandidates(pods ?? []).map(answers)),
      Promise.all([...faulted].map(answers)),
    ]);
    lastRaftProblem = view.problem;
    // A voter the leader reached while answering is alive too: on a busy machine its own
    // /readyz?noleader may miss the short timeout while an election makes every Pod NotReady.
    const reached = new Set(view.raft?.members.filter((m) => m.reachable).map((m) => m.id));
    const aliveNow = new Set(alive.filter((a): a is string => a !== undefined));
    for (const candidate of checker.aliveCandidates(pods ?? [])) if (reached.has(candidate)) aliveNow.add(candidate);
    if (view.raft) {
      leaderHint = view.raft.leader;
      lastMembers = view.raft.members.map((m) => m.id);
    } else leaderHint = undefined;
    return {
      t,
      ...(rq?.spec?.replicas === undefined ? {} : { replicas: rq.spec.replicas }),
      ...(pods ? { pods } : {}),
      ...(view.raft ? { raft: view.raft } : { raftProblem: view.problem ?? "" }),
      alive: [...aliveNow],
      unresponsive: [...faulted].filter((f) => !faultedAnswering.includes(f)),
    };
  }

  const baselineBy = Date.now() + BASELINE_MS;
  do checker.observe(await takeSample());
  while (checker.samples === checker.samplesWithoutLeader && Date.now() < baselineBy);
  const loop = (async () => {
    while (!stopped) {
      const begun = Date.now();
      checker.observe(await takeSample());
      const rest = interval - (Date.now() - begun);
      if (rest > 0 && !stopped) await new Promise((r) => setTimeout(r, rest));
    }
  })();

  return {
    fault: (pod) => {
      faulted.add(pod);
      checker.fault(pod, Date.now() - started);
    },
    leader: () => leaderHint,
    async stop() {
      stopped = true;
      await loop;
      // A voter Pod deleted in the last samples is judged against the next leader's view: a few
      // more samples, bounded, rather than leaving it unchecked.
      const settleBy = Date.now() + SETTLE_MS;
      while (checker.samples > checker.samplesWithoutLeader && checker.pendingDeletions > 0 && Date.now() < settleBy)
        checker.observe(await takeSample());
      return {
        cluster,
        durationMs: Date.now() - started,
        samples: checker.samples,
        samplesWithoutLeader: checker.samplesWithoutLeader,
        samplesWithoutApi: checker.samplesWithoutApi,
        maxVotersDown: checker.maxVotersDown,
        ...(checker.maxVotersDownAt ? { maxVotersDownAt: checker.maxVotersDownAt } : {}),
        maxPodsNotReady: checker.maxPodsNotReady,
        wentDown: checker.wentDown,
        removals: checker.removals,
        violations: checker.violations,
        unchecked: checker.unchecked(),
        ...(lastRaftProblem ? { lastRaftProblem } : {}),
      };
    },
  };
}

function podState(p: V1Pod): PodState {
  return {
    name: p.metadata!.name!,
    uid: p.metadata!.uid!,
    ready: (p.status?.conditions ?? []).some((c) => c.type === "Ready" && c.status === "True"),
    terminating: Boolean(p.metadata?.deletionTimestamp),
    ...(p.spec?.nodeName ? { nodeName: p.spec.nodeName } : {}),
  };
}

/** One line of figures and, below it, every violation with what the monitor saw then. */
export function formatReport(name: string, r: MonitorReport): string {
  const lines = [
    `${name}: ${r.samples} samples over ${(r.durationMs / 1000).toFixed(1)} s ` +
      `(${r.samplesWithoutLeader} without a leader, ${r.samplesWithoutApi} without the API server); ` +
      `most voters down at once: ${r.maxVotersDown}; most voter Pods not Ready at once: ${r.maxPodsNotReady}; ` +
      `violations: ${r.violations.length}`,
  ];
  for (const u of r.unchecked) lines.push(`  unchecked: ${u}`);
  const at = (t: number) => `${(t / 1000).toFixed(1)} s`;
  if (r.wentDown.length > 0) lines.push(`  went down: ${r.wentDown.map((d) => `${d.name} ${at(d.t)}`).join(", ")}`);
  if (r.removals.length > 0)
    lines.push(`  left Raft: ${r.removals.map((d) => `${d.ids.join(" and ")} ${at(d.t)}`).join(", ")}`);
  if (r.maxVotersDown > 0 && r.maxVotersDownAt)
    lines.push(`  most down at ${(r.maxVotersDownAt.t / 1000).toFixed(1)} s: ${r.maxVotersDownAt.down.join(", ")}`);
  for (const v of r.violations) {
    const span = v.count > 1 ? ` (${v.count} samples until ${(v.lastT / 1000).toFixed(1)} s)` : "";
    lines.push(`  ${v.invariant} at ${(v.t / 1000).toFixed(1)} s${span}: ${v.message}`);
    lines.push(`    replicas=${v.snapshot.replicas ?? "?"} leader=${v.snapshot.leader ?? "none"}`);
    lines.push(`    pods: ${v.snapshot.pods.join("; ")}`);
    lines.push(`    members: ${v.snapshot.members.join("; ") || "unknown"}`);
  }
  return lines.join("\n");
}
