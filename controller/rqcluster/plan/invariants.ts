// The safety invariants every plan keeps, the ones the files of this folder cite. Each is checked
// here against the planner's input and output only: given what one reconcile observed and the
// Plan it returned, is every action allowed? A check is stated from the observation alone (never
// from the planner's own helpers), so a planner bug cannot hide in a shared definition. The
// randomised model test (test/unit/controller/rqcluster/plan.model.test.ts) runs checkPlan on every
// plan it sees.
//
// I1  A disruptive step (a voter's Pod deleted or replaced) starts only when every other desired
//     Pod exists, is Ready, is not terminating and has passed /readyz?sync, no other Pod is
//     terminating, and no other voter is unavailable: one voter down at a time.
// I2  A member leaves the Raft configuration only through the leader, and a voter only when the
//     voters that remain reach quorum among themselves.
// I3  A node scaled away is removed from the Raft configuration before its Pod (and, under
//     scaleDownPolicy Delete, its PVC) goes, highest ordinal first. While no leader answers, a
//     recorded member's Pod whose rqlite crash-loops may be replaced: it comes back on its volume.
// I4  A roll replaces followers first and the leader last, after leadership moved to an updated
//     follower the leader reaches, where its rqlite can move it.
// I5  Scale and roll never overlap: the roll starts only when the Pods and the Raft
//     configuration are exactly the desired nodes, with a leader to say so.
// I6  Only a node whose Kubernetes node is unreachable past the failure timeout, and which the
//     leader cannot reach either, is treated as lost (force-deleted, removed, its PVC dropped).
// I7  A ghost member (in the configuration, no Pod, not desired) is removed like any voter:
//     through the leader, and never below quorum.
// I8  Every node of a cluster is created with the same -bootstrap-expect, and with the role
//     (voter or read-only) its name says.
// E1  A second PodDisruptionBudget over the Pods (a user's) is reported, and no Pod it selects is
//     evicted.
// VS  No roll step toward spec.image while a Pod runs a version rqlite cannot step from to it.
import type { V1Pod } from "@kubernetes/client-node";
import { LABEL_ROLE, parseMemberName } from "../../../shared/names.js";
import {
  formatVersion,
  joinProblem,
  parseRqliteVersion,
  versionChangeProblem,
} from "../../../shared/rqlite-versions.js";
import type { ClusterView } from "../render/cluster.js";
import { desiredMembers } from "../render/members.js";
import { BOOTSTRAP_EXPECT_ANNOTATION, renderPod, SPEC_HASH_ANNOTATION } from "../render/pod.js";
import { planAuth } from "./auth.js";
import { isDisruptive, type Action, type Observed, type Plan } from "./types.js";

export interface Violation {
  invariant: string;
  detail: string;
}

const quorum = (voters: number): number => Math.floor(voters / 2) + 1;
const nameOf = (p: V1Pod): string => p.metadata!.name!;
const terminating = (p: V1Pod): boolean => Boolean(p.metadata?.deletionTimestamp);
const ready = (p: V1Pod): boolean =>
  !terminating(p) && (p.status?.conditions ?? []).some((c) => c.type === "Ready" && c.status === "True");
/** The rqlite container is not running and has restarted (CrashLoopBackOff, or between back-offs). */
const crashLooping = (p: V1Pod): boolean =>
  (p.status?.containerStatuses ?? []).some(
    (c) => c.name === "rqlite" && c.state?.running === undefined && c.restartCount > 0,
  );
const versionOf = (image: string | undefined) => parseRqliteVersion(image?.split(":").pop());
const hashOf = (p: V1Pod | undefined): string | undefined => p?.metadata?.annotations?.[SPEC_HASH_ANNOTATION];

/** Desired spec hashes per cluster view, so the checker renders each desired Pod once per spec. */
const hashCache = new WeakMap<ClusterView, Map<string, string>>();

function desiredHash(o: Observed, name: string, bootstrapExpect: number): string {
  let byKey = hashCache.get(o.cluster);
  if (!byKey) hashCache.set(o.cluster, (byKey = new Map<string, string>()));
  const authHash = planAuth(o.cluster, o.auth).hash;
  const key = `${bootstrapExpect}|${name}|${authHash ?? ""}`;
  let hash = byKey.get(key);
  if (hash === undefined) {
    const member = parseMemberName(o.cluster.name, name)!;
    const pod = renderPod(o.cluster, {
      member,
      bootstrapExpect,
      template: o.template,
      addressing: o.addressing,
      authHash,
    });
    hash = hashOf(pod)!;
    byKey.set(key, hash);
  }
  return hash;
}

export function checkPlan(o: Observed, plan: Plan): Violation[] {
  const out: Violation[] = [];
  const fail = (invariant: string, detail: string) => out.push({ invariant, detail });
  const { spec, name: cluster } = o.cluster;
  const desired = desiredMembers(cluster, spec.replicas, spec.readReplicas);
  const desiredRole = new Map(desired.map((m) => [m.name, m.role]));
  const desiredVoters = desired.filter((m) => m.role === "voter").map((m) => m.name);
  const pods = new Map(o.pods.map((p) => [nameOf(p), p]));
  const raft = o.raft;
  const members = new Map((raft?.members ?? []).map((m) => [m.id, m]));
  const raftVoters = raft?.members.filter((m) => m.voter) ?? [];
  /**
   * The leader's membership no longer lists the node: the leader says so now, or, while none
   * answers, the members the status recorded when one last did (Observed.lastMembers).
   */
  const leftRaft = (name: string) =>
    raft ? !members.has(name) : o.lastMembers !== undefined && !o.lastMembers.includes(name);
  const stillListed = (name: string) =>
    raft
      ? `the leader still lists ${name}`
      : o.lastMembers
        ? `the last recorded members list ${name} (no leader now)`
        : `no leader confirms ${name} left the Raft configuration`;
  const available = (name: string) => {
    const p = pods.get(name);
    return p !== undefined && ready(p);
  };

  // The -bootstrap-expect the existing Pods carry (they must agree: it never changes).
  const expects = new Set(
    o.pods.map((p) => p.metadata?.annotations?.[BOOTSTRAP_EXPECT_ANNOTATION]).filter((v) => v !== undefined),
  );
  if (expects.size > 1)
    fail("I8", `existing Pods disagree on ${BOOTSTRAP_EXPECT_ANNOTATION}: ${[...expects].join(", ")}`);
  const expect = expects.size === 1 ? [...expects][0]! : undefined;
  const outdated = (name: string) => {
    const p = pods.get(name);
    return (
      p !== undefined && desiredRole.has(name) && hashOf(p) !== desiredHash(o, name, Number(expect ?? spec.replicas))
    );
  };

  // rqlite 10 nodes join no cluster with older members: new nodes wait for the roll (scale.ts).
  const older = o.pods.map((p) => versionOf(p.spec?.containers[0]?.image)).filter((v) => v !== undefined);
  const target = versionOf(spec.image);
  const joinHeld = target !== undefined && joinProblem(target, older) !== undefined;
  const held = (name: string) => {
    const m = parseMemberName(cluster, name)!;
    const founder = m.role === "voter" && m.ordinal < Number(expect ?? spec.replicas);
    return joinHeld && !pods.has(name) && !members.has(name) && !founder;
  };

  /** How long the Pod's Kubernetes node has been unreachable, or undefined while it is reachable. */
  const unreachableFor = (p: V1Pod | undefined) => {
    const node = p?.spec?.nodeName;
    const since = node === undefined ? undefined : o.unreachableSince.get(node);
    return since === undefined ? undefined : o.now - since;
  };
  const lostPastTimeout = (p: V1Pod | undefined) => (unreachableFor(p) ?? -1) > o.nodeFailureTimeoutMs;
  /** A healthy rqlite node on an unreachable Kubernetes node: the operator leaves it alone (I6). */
  const partitionedButHealthy = (name: string) =>
    lostPastTimeout(pods.get(name)) && members.get(name)?.reachable === true;

  const disruptive = plan.actions.filter(isDisruptive);
  if (disruptive.length > 1) {
    fail("D1", `at most one disruptive action per plan, got ${disruptive.length}: ${disruptive.map(brief).join("; ")}`);
  }

  const scale: Action[] = [];
  const roll: Action[] = [];
  for (const a of plan.actions) {
    switch (a.type) {
      case "create": {
        if (a.object.kind !== "Pod") break;
        const pod = a.object as V1Pod;
        const name = nameOf(pod);
        scale.push(a);
        // With no leader, a member of the last recorded configuration may come back to restore
        // quorum, so that it can then leave properly; nothing else that is not desired.
        const returning = !raft && (o.lastMembers ?? []).includes(name);
        if (!desiredRole.has(name) && !returning) fail("C1", `creates Pod ${name}, which is not a desired member`);
        if (pods.has(name)) fail("C1", `creates Pod ${name}, which exists`);
        const got = pod.metadata?.annotations?.[BOOTSTRAP_EXPECT_ANNOTATION];
        if (expect !== undefined && got !== expect) {
          fail(
            "I8",
            `creates Pod ${name} with ${BOOTSTRAP_EXPECT_ANNOTATION}=${got}, the existing Pods have ${expect}`,
          );
        }
        if (got === undefined || !(Number(got) > 0)) fail("I8", `creates Pod ${name} without a bootstrap-expect`);
        const role = pod.metadata?.labels?.[LABEL_ROLE];
        if (desiredRole.has(name) && role !== desiredRole.get(name)) {
          fail("I8", `creates Pod ${name} labelled ${LABEL_ROLE}=${role}, it is a ${desiredRole.get(name)}`);
        }
        break;
      }
      case "delete":
        if (a.target.kind === "Pod") fail("D0", `deletes Pod ${a.target.name} with a plain delete, not deletePod`);
        if (a.target.kind === "PersistentVolumeClaim") checkPvcDelete(a.target.name);
        break;
      case "deletePod": {
        const pod = pods.get(a.name);
        if (!pod) {
          fail("D2", `deletePod ${a.name}: no such Pod was observed`);
          break;
        }
        // A scale-down victim the leader no longer lists holds no vote, whatever its label says:
        // its Pod may go while another node is down (I3 below checks that it left).
        const leftForGood = !desiredRole.has(a.name) && raft !== undefined && !members.has(a.name);
        const isVoter =
          (pod.metadata?.labels?.[LABEL_ROLE] === "voter" && !leftForGood) || members.get(a.name)?.voter === true;
        // A desired node the leader does not list holds no vote: restarting it so that it joins
        // again weighs on no quorum; it only must not coincide with another Pod going.
        const rejoin = !a.force && raft !== undefined && desiredRole.has(a.name) && !members.has(a.name) && !ready(pod);
        // A broken Pod (desired, outdated, not Ready) serves nothing: replaced before any scale step.
        const broken = !a.force && !rejoin && desiredRole.has(a.name) && outdated(a.name) && !ready(pod);
        // A leaving member that crash-loops while no leader answers serves nothing and can leave
        // only through a leader: replaced, it comes back (its volume kept) to help elect one.
        const returning =
          !a.force &&
          !raft &&
          !desiredRole.has(a.name) &&
          (o.lastMembers ?? []).includes(a.name) &&
          crashLooping(pod) &&
          !ready(pod);
        // A Pod whose status says crash-looping while the leader reaches its rqlite is up again.
        const down = crashLooping(pod) && members.get(a.name)?.reachable !== true;
        if (a.force) checkLostNode(a.name, pod);
        else if ((broken || returning) && down) {
          // Its rqlite does not run: replacing it takes nothing down, whatever else is down.
          const other = o.pods.find((p) => nameOf(p) !== a.name && terminating(p));
          if (other) fail("I1", `replaces crash-looping ${a.name} while Pod ${nameOf(other)} is terminating`);
        } else if (broken) {
          checkSettled(a.name);
          const other = o.pods.find((p) => nameOf(p) !== a.name && terminating(p));
          if (other) fail("I1", `replaces broken ${a.name} while Pod ${nameOf(other)} is terminating`);
        } else if (rejoin) {
          const other = o.pods.find((p) => nameOf(p) !== a.name && terminating(p));
          if (other) fail("I1", `restarts non-member ${a.name} while Pod ${nameOf(other)} is terminating`);
        } else if (isVoter) checkSettled(a.name);
        if (partitionedButHealthy(a.name)) {
          fail(
            "I6",
            `deletes Pod ${a.name}, whose rqlite the leader still reaches on unreachable node ${pod.spec?.nodeName}`,
          );
        }
        if (!desiredRole.has(a.name) && !returning) {
          scale.push(a);
          if (!leftRaft(a.name)) fail("I3", `deletes scale-down Pod ${a.name} while ${stillListed(a.name)}`);
        } else if (!a.force && !rejoin && !broken && outdated(a.name)) {
          roll.push(a);
          checkRollExact(a.name);
          checkLeaderLast(a.name);
        }
        break;
      }
      case "removeFromRaft": {
        if (!raft) {
          fail("I2", `removes ${a.node} with no leader`);
          break;
        }
        if (a.leader !== raft.leader) fail("I2", `removes ${a.node} through ${a.leader}, the leader is ${raft.leader}`);
        const m = members.get(a.node);
        const pod = pods.get(a.node);
        const ghost = !desiredRole.has(a.node) && !pod;
        if (m?.voter) {
          const remaining = raftVoters.filter((v) => v.id !== a.node);
          const reach = remaining.filter((v) => v.reachable).length;
          if (reach < quorum(remaining.length)) {
            fail(
              ghost ? "I7" : "I2",
              `removes voter ${a.node}: ${reach} of the ${remaining.length} remaining voters reachable, quorum ${quorum(remaining.length)}`,
            );
          }
        }
        if (!desiredRole.has(a.node)) {
          if (pod) scale.push(a);
        } else if (m?.reachable) {
          fail("I6", `removes desired member ${a.node}, which the leader reaches`);
        } else if (pod && !lostPastTimeout(pod)) {
          fail("I6", `removes desired member ${a.node}, whose Kubernetes node is not unreachable past the timeout`);
        }
        break;
      }
      case "transferLeadership": {
        if (!raft || a.from !== raft.leader) {
          fail("I4", `transfers leadership from ${a.from}, the leader is ${raft?.leader ?? "unknown"}`);
          break;
        }
        if (!raft.canTransfer) fail("I4", `transfers leadership though the leader's rqlite cannot (canTransfer false)`);
        const to = members.get(a.to);
        if (a.to === a.from || !to?.voter || !to.reachable) {
          fail("I4", `transfers leadership to ${a.to}, not another voter the leader reaches`);
        }
        break;
      }
      case "patch":
        break;
    }
  }
  if (scale.length > 0 && roll.length > 0) {
    fail("I5", `scale (${scale.map(brief).join("; ")}) and roll (${roll.map(brief).join("; ")}) in one plan`);
  }

  // H1: while a hold stands (a refused template, a Secret owned by another), no Pod, volume or
  // Raft member changes: the Pods keep running as they are until a person fixes what it names.
  if (o.holds?.length) {
    for (const a of plan.actions) {
      const kind = a.type === "create" ? a.object.kind : a.type === "patch" || a.type === "delete" ? a.target.kind : "";
      if (isDisruptive(a) || kind === "Pod" || kind === "PersistentVolumeClaim")
        fail("H1", `${brief(a)} while ${o.holds.map((h) => h.reason).join(", ")} holds every Pod change`);
    }
    if (!o.holds.every((h) => plan.waits.some((w) => w.reason === h.reason)))
      fail("H1", `a hold (${o.holds.map((h) => h.reason).join(", ")}) is not reported`);
  }

  // E1: a second budget over the Pods (a user's) is reported, and no Pod it selects is evicted:
  // the API server answers such an eviction with a 500, every time.
  const second = (p: V1Pod) =>
    (o.otherPdbs ?? []).some((b) =>
      Object.entries(b.spec?.selector?.matchLabels ?? {}).every(([k, v]) => p.metadata?.labels?.[k] === v),
    );
  if (o.pods.some(second) && !plan.waits.some((w) => w.reason === "PodDisruptionBudgetConflict"))
    fail("E1", `another PodDisruptionBudget selects the Pods, and the plan does not say so`);
  for (const a of plan.actions) {
    if (a.type !== "deletePod" || !a.evict) continue;
    const pod = pods.get(a.name);
    if (pod && second(pod)) fail("E1", `evicts ${a.name}, which another PodDisruptionBudget selects too`);
  }
  // VS: no roll step while spec.image is a version step rqlite does not take from a version a Pod
  // runs (a major skipped, a downgrade it cannot do): the Pods still on the old major would jump.
  for (const a of target ? roll : []) {
    for (const p of o.pods.filter((x) => !terminating(x))) {
      const from = versionOf(p.spec?.containers[0]?.image);
      const problem = from && versionChangeProblem(from, target!);
      if (problem)
        fail("VS", `${brief(a)} toward ${spec.image} while ${nameOf(p)} runs ${formatVersion(from)}: ${problem}`);
    }
  }

  // I6: a healthy rqlite node on a Kubernetes node unreachable past the timeout gets a Warning.
  for (const p of o.pods) {
    if (partitionedButHealthy(nameOf(p)) && !plan.waits.some((w) => w.reason === "NodePartitioned")) {
      fail(
        "I6",
        `${nameOf(p)} runs on node ${p.spec?.nodeName}, unreachable for ${unreachableFor(p)} ms, and the leader reaches it: no NodePartitioned wait`,
      );
    }
  }
  // Issue 9 section 3, "Lost node timeout": look again when the timeout expires, not at the next resync.
  for (const p of o.pods) {
    const elapsed = unreachableFor(p);
    // Under a hold nothing is replaced when the timeout expires: there is nothing to look again for.
    if (o.holds?.length) break;
    if (elapsed === undefined || elapsed > o.nodeFailureTimeoutMs || members.get(nameOf(p))?.reachable) continue;
    const due = o.nodeFailureTimeoutMs - elapsed;
    if (plan.requeueAfterMs === undefined || plan.requeueAfterMs > due + 1000) {
      fail(
        "I6-requeue",
        `${nameOf(p)}'s node ${p.spec?.nodeName} times out in ${due} ms; requeueAfterMs=${plan.requeueAfterMs}`,
      );
    }
  }
  return out;

  /**
   * A node's data goes only once the node is out of the cluster (I3 for its volume): a scale-down
   * victim's PVC after the leader no longer lists it; a desired node's PVC only with its lost
   * Pod (I6: its Kubernetes node unreachable past the timeout and the leader cannot reach it).
   */
  function checkPvcDelete(name: string) {
    if (parseMemberName(cluster, name) === undefined) return;
    const member = members.get(name);
    if (!desiredRole.has(name)) {
      if (!leftRaft(name)) fail("I3-pvc", `deletes PVC ${name} while ${stillListed(name)}`);
      return;
    }
    const pod = pods.get(name);
    const forced = plan.actions.some((x) => x.type === "deletePod" && x.name === name && x.force);
    if (pod && !forced) fail("I6-pvc", `deletes PVC ${name} of a desired node whose Pod stays`);
    if (!raft) fail("I6-pvc", `deletes PVC ${name} of a desired node with no leader to confirm it is lost`);
    else if (member?.reachable) fail("I6-pvc", `deletes PVC ${name} of a desired node the leader reaches`);
  }

  /** I1: the next disruptive step waits until nothing else is down and every desired Pod caught up. */
  function checkSettled(victim: string) {
    // A broken voter (outdated, not Ready) while no voter is Ready: nothing serves, so replacing
    // it takes nothing down; it only must not coincide with another Pod going.
    const victimPod = pods.get(victim);
    const serving = o.pods.some((p) => ready(p) && p.metadata?.labels?.[LABEL_ROLE] === "voter");
    if (victimPod && !ready(victimPod) && outdated(victim) && !serving) {
      const other = o.pods.find((p) => nameOf(p) !== victim && terminating(p));
      if (other) fail("I1", `replaces broken ${victim} while Pod ${nameOf(other)} is terminating`);
      return;
    }
    const voters = new Set([...desiredVoters.filter((v) => !held(v)), ...raftVoters.map((v) => v.id)]);
    for (const v of voters) {
      if (v !== victim && !available(v)) fail("I1", `deletes voter ${victim} while voter ${v} is unavailable`);
    }
    for (const m of desired) {
      if (m.name === victim || held(m.name)) continue;
      const p = pods.get(m.name);
      if (!p || !ready(p)) fail("I1", `deletes voter ${victim} while desired Pod ${m.name} is missing or not Ready`);
      else if (!o.synced?.has(m.name))
        fail("I1", `deletes voter ${victim} while ${m.name} has not passed /readyz?sync`);
    }
  }

  /** I6: replaced as lost only when Kubernetes and the leader both lost it, and never below quorum. */
  function checkLostNode(name: string, pod: V1Pod) {
    const elapsed = unreachableFor(pod);
    if (elapsed === undefined || elapsed <= o.nodeFailureTimeoutMs) {
      fail(
        "I6",
        `force-deletes ${name}: node ${pod.spec?.nodeName} unreachable for ${elapsed ?? "0"} ms, timeout ${o.nodeFailureTimeoutMs}`,
      );
    }
    if (!raft) {
      fail("I6", `force-deletes ${name} with no leader to confirm it cannot reach the node`);
      return;
    }
    if (members.get(name)?.reachable) fail("I6", `force-deletes ${name}, which the leader still reaches`);
    // Wiping a voter that is still in the configuration needs a reachable quorum without it; a
    // read replica or a node already removed from Raft holds no vote, so its Pod may go anyway.
    if (members.get(name)?.voter !== true) return;
    const others = raftVoters.filter((v) => v.id !== name && v.reachable).length;
    if (raftVoters.length > 0 && others < quorum(raftVoters.length)) {
      fail("I6", `force-deletes ${name}: ${others} other reachable voters, quorum ${quorum(raftVoters.length)}`);
    }
  }

  /** I5: a roll step only when the Pods and the Raft configuration are exactly the desired members. */
  function checkRollExact(victim: string) {
    const podNames = [...pods.keys()].sort().join(",");
    const wanted = [...desiredRole.keys()]
      .filter((n) => !held(n))
      .sort()
      .join(",");
    if (podNames !== wanted) fail("I5", `rolls ${victim} while the Pods (${podNames}) are not the desired (${wanted})`);
    const stopping = o.pods.filter(terminating).map(nameOf);
    if (stopping.length > 0) fail("I5", `rolls ${victim} while ${stopping.join(",")} terminate`);
    if (!raft) {
      // A broken Pod (outdated, not Ready) may be replaced without the leader's view, the way
      // back from a failed upgrade of a single voter; the last recorded members stand in for it.
      const recorded = (o.lastMembers ?? []).filter((id) => !desiredRole.has(id));
      if (ready(pods.get(victim)!)) return fail("I5", `rolls ${victim} with no leader`);
      if (recorded.length > 0) fail("I5", `rolls ${victim} with no leader while ${recorded.join(",")} was a member`);
      return;
    }
    const config = raft.members
      .map((m) => `${m.id}${m.voter ? "" : "(nv)"}`)
      .sort()
      .join(",");
    const want = desired
      .filter((m) => !held(m.name))
      .map((m) => `${m.name}${m.role === "voter" ? "" : "(nv)"}`)
      .sort()
      .join(",");
    if (config !== want)
      fail("I5", `rolls ${victim} while the Raft configuration (${config}) is not the desired (${want})`);
  }

  /** I4: the leader goes last, and leadership moves first wherever rqlite allows it. */
  function checkLeaderLast(victim: string) {
    if (!raft || victim !== raft.leader) return;
    const others = desiredVoters.filter((v) => v !== victim && outdated(v));
    if (others.length > 0) fail("I4", `rolls the leader ${victim} before outdated voters ${others.join(",")}`);
    const target = raftVoters.some((v) => v.id !== victim && v.reachable);
    if (raft.canTransfer && target) fail("I4", `rolls the leader ${victim} though leadership could move first`);
  }
}

export function brief(a: Action): string {
  switch (a.type) {
    case "create":
    case "apply":
    case "delete":
    case "patch": {
      const kind = a.type === "create" || a.type === "apply" ? a.object.kind : a.target.kind;
      const name = a.type === "create" || a.type === "apply" ? a.object.metadata?.name : a.target.name;
      return `${a.type} ${kind} ${name}`;
    }
    case "deletePod":
      return `deletePod ${a.name}${a.force ? " (force)" : ""}`;
    case "removeFromRaft":
      return `removeFromRaft ${a.node} via ${a.leader}`;
    case "transferLeadership":
      return `transferLeadership ${a.from} -> ${a.to}`;
    case "deleteBackupObject":
      return `deleteBackupObject ${a.key}`;
  }
}

/** The observation in a few lines, for a failure message. */
export function describeObserved(o: Observed): string {
  const spec = o.cluster.spec;
  const lines = [
    `now=${o.now} nodeFailureTimeoutMs=${o.nodeFailureTimeoutMs} spec: replicas=${spec.replicas} readReplicas=${spec.readReplicas} image=${spec.image} template=${JSON.stringify(o.template ?? null)}`,
  ];
  for (const p of o.pods) {
    const node = p.spec?.nodeName;
    const since = node ? o.unreachableSince.get(node) : undefined;
    lines.push(
      `  pod ${nameOf(p)} ${p.metadata?.labels?.[LABEL_ROLE]} hash=${hashOf(p)} be=${p.metadata?.annotations?.[BOOTSTRAP_EXPECT_ANNOTATION]}` +
        ` ${ready(p) ? "Ready" : "NotReady"}${terminating(p) ? " terminating" : ""}${o.synced?.has(nameOf(p)) ? " synced" : ""}` +
        ` node=${node ?? "-"}${since !== undefined ? ` (unreachable ${o.now - since} ms)` : ""}`,
    );
  }
  lines.push(
    o.raft
      ? `  raft: leader=${o.raft.leader} canTransfer=${o.raft.canTransfer} members=${o.raft.members.map((m) => `${m.id}${m.voter ? "" : "(nv)"}${m.reachable ? "" : "!unreachable"}`).join(" ")}`
      : `  raft: none (${o.rqliteProblem})`,
  );
  lines.push(
    `  pvcs=${o.pvcs.map((p) => p.metadata?.name).join(",")} services=${o.services.length} pdbs=${o.pdbs.length}`,
  );
  return lines.join("\n");
}

export function describePlan(plan: Plan): string {
  return [
    ...plan.actions.map((a) => `  action ${brief(a)}: ${a.reason}: ${a.message}`),
    ...plan.waits.map((w) => `  wait ${w.reason}${w.warning ? " (Warning)" : ""}: ${w.message}`),
    `  requeueAfterMs=${plan.requeueAfterMs}`,
  ].join("\n");
}
