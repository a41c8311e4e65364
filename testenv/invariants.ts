// The safety invariants of a lifecycle change, judged over consecutive samples of one cluster.
// Pure: the monitor (invariantMonitor.ts) does the sampling and feeds each sample in order, so
// the rules can be read, and reasoned about, apart from the I/O.

/** One Pod of the cluster as the API server showed it. */
export interface PodState {
  name: string;
  uid: string;
  ready: boolean;
  terminating: boolean;
  nodeName?: string;
}

/** One server of the Raft configuration, as the leader reported it. */
export interface RaftMemberState {
  id: string;
  voter: boolean;
  /** The leader reached it while answering. */
  reachable: boolean;
}

export interface RaftState {
  leader: string;
  members: RaftMemberState[];
}

export interface Sample {
  /** Milliseconds since the monitor started. */
  t: number;
  /** spec.replicas; undefined when the API server did not answer. */
  replicas?: number;
  /** undefined when the API server did not answer. */
  pods?: PodState[];
  /** The leader's view, read after the Pods; undefined when no leader answered. */
  raft?: RaftState;
  /** Why no leader's view, when there is none. */
  raftProblem?: string;
  /**
   * Not-Ready Pods, once Ready during the run, whose rqlited answered /readyz?noleader or that the
   * leader reached: alive and able to vote, only without a leader for the moment (an election
   * after the leader went).
   */
  alive: string[];
  /**
   * Pods the test took down whose rqlited did not answer: down from the moment of the fault, not
   * only once a failed readiness probe shows it.
   */
  unresponsive?: string[];
}

export type Invariant = "V1" | "V2" | "V3";

/** What the monitor saw at the moment of a violation, small enough to print. */
export interface Snapshot {
  t: number;
  replicas?: number;
  /** name: Ready | NotReady | NotReady(alive) | (Not)Ready(unresponsive) | Terminating, with a short uid. */
  pods: string[];
  leader?: string;
  /** id(voter|nonvoter, reachable|unreachable) as the leader reported it. */
  members: string[];
  down: string[];
}

export interface Violation {
  invariant: Invariant;
  /** ms since the monitor started, first and last time the same violation was seen. */
  t: number;
  lastT: number;
  /** How many samples showed it. */
  count: number;
  message: string;
  snapshot: Snapshot;
}

export interface CheckerOptions {
  cluster: string;
  /**
   * Voters the test itself takes down (kills or freezes); they may be down on top of the one the
   * operator may take. The operator still must not take a voter down while another is down.
   */
  allowance?: number;
}

/** How long a declared test fault may take to show as a voter down before it no longer excuses one. */
const FAULT_SHOWS_WITHIN_MS = 15_000;

const quorum = (voters: number) => Math.floor(voters / 2) + 1;

/**
 * V1: at most one voter down at a sample (plus the test's own allowance), and no voter newly
 * down while another is already down unless the test declared it (the operator's next step must
 * wait until every voter is back). A voter is a voter of the leader's configuration or a desired
 * voter Pod (ordinal < spec.replicas) that has existed during the run; down means its Pod is
 * missing, terminating, or not Ready and not alive.
 * V2: a voter leaves the Raft configuration only while the voters left that the leader reached
 * make a quorum of the new configuration.
 * V3: a voter Pod beyond spec.replicas is deleted only after the leader no longer lists it.
 */
export class InvariantChecker {
  readonly violations: Violation[] = [];
  samples = 0;
  samplesWithoutLeader = 0;
  samplesWithoutApi = 0;
  maxVotersDown = 0;
  maxVotersDownAt?: Snapshot;
  maxPodsNotReady = 0;
  /** Each time a voter went down (up or new before), in order: shows the order of a roll. */
  readonly wentDown: Array<{ t: number; name: string }> = [];
  /** Voters that left the leader's configuration, in order; those seen leaving in one sample together. */
  readonly removals: Array<{ t: number; ids: string[] }> = [];

  private readonly allowance: number;
  private readonly ordinalOf: (name: string) => number | undefined;
  /** Names that have been a Pod or a Raft member during the run. */
  private readonly seen = new Set<string>();
  /**
   * Members that joined the leader's configuration during the run before their Pod was ever
   * listed: the Pods are listed before the leader is asked, so a Pod made and joined in between
   * is missing from that sample only. Running rqlited joined, so its Pod exists.
   */
  private readonly joinedUnlisted = new Set<string>();
  /** Pod uids seen Ready: only these count as alive when not Ready (a new Pod must become Ready). */
  private readonly readyUids = new Set<string>();
  private readonly faults = new Map<string, number>();
  private lastRaft?: RaftState;
  private lastPods?: PodState[];
  private lastDown = new Set<string>();
  /** Voter Pods deleted or terminating beyond spec.replicas, to check against the next leader's view. */
  private readonly pendingV3 = new Map<string, Snapshot>();
  private readonly ongoing = new Map<string, Violation>();

  constructor(opts: CheckerOptions) {
    this.allowance = opts.allowance ?? 0;
    const pattern = new RegExp(`^${opts.cluster.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}-(\\d+)$`);
    this.ordinalOf = (name) => {
      const m = pattern.exec(name);
      return m ? Number(m[1]) : undefined;
    };
  }

  /** The test takes `pod` down now: its next going down is the test's, not the operator's. */
  fault(pod: string, t: number): void {
    this.faults.set(pod, t);
  }

  /** Not-Ready Pods worth asking whether their rqlited is alive (see Sample.alive). */
  aliveCandidates(pods: PodState[]): string[] {
    return pods.filter((p) => !p.ready && !p.terminating && this.readyUids.has(p.uid)).map((p) => p.name);
  }

  observe(s: Sample): void {
    this.samples++;
    if (!s.raft) this.samplesWithoutLeader++;
    if (!s.pods || s.replicas === undefined) {
      this.samplesWithoutApi++;
      return;
    }
    for (const p of s.pods) {
      this.seen.add(p.name);
      this.joinedUnlisted.delete(p.name);
      if (p.ready && !p.terminating) this.readyUids.add(p.uid);
    }
    for (const m of s.raft?.members ?? []) {
      if (this.lastRaft && !this.seen.has(m.id)) this.joinedUnlisted.add(m.id);
      this.seen.add(m.id);
    }
    const raft = s.raft ?? this.lastRaft;
    const pods = new Map(s.pods.map((p) => [p.name, p]));

    const voters = new Set(raft?.members.filter((m) => m.voter).map((m) => m.id));
    for (const name of this.seen) {
      const ordinal = this.ordinalOf(name);
      if (ordinal !== undefined && ordinal < s.replicas) voters.add(name);
    }
    const alive = new Set(s.alive);
    const unresponsive = new Set(s.unresponsive);
    const isDown = (name: string) => {
      const p = pods.get(name);
      if (!p && this.joinedUnlisted.has(name)) return false;
      return (
        !p || p.terminating || unresponsive.has(name) || (!p.ready && !(alive.has(name) && this.readyUids.has(p.uid)))
      );
    };
    const down = new Set([...voters].filter(isDown));
    const snapshot = this.snapshot(s, down);
    this.maxPodsNotReady = Math.max(
      this.maxPodsNotReady,
      [...voters].filter((v) => !pods.get(v)?.ready || pods.get(v)!.terminating).length,
    );
    if (!this.maxVotersDownAt || down.size > this.maxVotersDown) {
      this.maxVotersDown = down.size;
      this.maxVotersDownAt = snapshot;
    }

    this.checkVotersDown(s.t, down, snapshot);
    if (s.raft) this.checkRemovals(s.raft, snapshot);
    this.checkScaleDownDeletions(s, pods, snapshot);

    if (s.raft) this.lastRaft = s.raft;
    this.lastPods = s.pods;
    this.lastDown = down;
  }

  private checkVotersDown(t: number, down: Set<string>, snapshot: Snapshot): void {
    const limit = 1 + this.allowance;
    if (down.size > limit) {
      this.violate(
        "V1",
        `v1:${[...down].sort().join()}`,
        `${down.size} voters down at once (${[...down].sort().join(", ")}); at most ${limit} may be`,
        snapshot,
      );
    }
    const newlyDown: string[] = [];
    for (const name of down) {
      if (this.lastDown.has(name)) continue;
      this.wentDown.push({ t, name });
      const faultAt = this.faults.get(name);
      if (faultAt !== undefined && t - faultAt <= FAULT_SHOWS_WITHIN_MS) {
        this.faults.delete(name);
        continue;
      }
      newlyDown.push(name);
    }
    // Down already at the previous sample: certainly before the newly down ones. A test fault that
    // shows in the same sample as the operator's step may have come after it, so it does not count.
    const already = [...down].filter((d) => this.lastDown.has(d)).sort();
    if (newlyDown.length > 1 || (newlyDown.length > 0 && already.length > 0)) {
      newlyDown.sort();
      this.violate(
        "V1",
        `v1-added:${newlyDown.join()}`,
        already.length > 0
          ? `${newlyDown.join(", ")} went down while ${already.join(", ")} ${already.length === 1 ? "was" : "were"} down`
          : `${newlyDown.join(", ")} went down together`,
        snapshot,
      );
    }
  }

  private checkRemovals(raft: RaftState, snapshot: Snapshot): void {
    const before = this.lastRaft;
    if (!before) return;
    const nowVoters = new Set(raft.members.filter((m) => m.voter).map((m) => m.id));
    const beforeVoters = before.members.filter((m) => m.voter).map((m) => m.id);
    const removed = beforeVoters.filter((id) => !nowVoters.has(id));
    if (removed.length === 0) return;
    this.removals.push({ t: snapshot.t, ids: [...removed].sort() });
    // Reachability as the leader reported it just before the removal: what the operator could know.
    const reached = new Set(before.members.filter((m) => m.reachable).map((m) => m.id));
    // Removals between two samples happened in some order; each configuration on the way must hold.
    const configs = [
      beforeVoters.filter((id) => !removed.includes(id)),
      ...(removed.length > 1 ? removed.map((r) => beforeVoters.filter((id) => id !== r)) : []),
    ];
    for (const config of configs) {
      const reachable = config.filter((id) => reached.has(id));
      if (reachable.length >= quorum(config.length)) continue;
      this.violate(
        "V2",
        `v2:${removed.sort().join()}`,
        `${removed.join(", ")} left the Raft configuration while the leader reached only ${reachable.length} ` +
          `(${reachable.join(", ")}) of the ${config.length} voters left (${config.join(", ")}); ` +
          `their quorum is ${quorum(config.length)}`,
        snapshot,
      );
      return;
    }
  }

  private checkScaleDownDeletions(s: Sample, pods: Map<string, PodState>, snapshot: Snapshot): void {
    const beyond = (name: string) => (this.ordinalOf(name) ?? -1) >= s.replicas!;
    for (const p of s.pods!) if (p.terminating && beyond(p.name)) this.pendingV3.set(p.name, snapshot);
    for (const p of this.lastPods ?? []) if (!pods.has(p.name) && beyond(p.name)) this.pendingV3.set(p.name, snapshot);
    // The leader is asked after the Pods are listed: still listed then means listed at the deletion.
    if (!s.raft) return;
    for (const [name, at] of this.pendingV3) {
      this.pendingV3.delete(name);
      if (!s.raft.members.some((m) => m.id === name)) continue;
      this.violate(
        "V3",
        `v3:${name}`,
        `${name} (beyond spec.replicas ${s.replicas}) was deleted while the leader ${s.raft.leader} still listed it`,
        at,
      );
    }
  }

  /** Voter Pods deleted beyond spec.replicas that no leader's view has been read since. */
  get pendingDeletions(): number {
    return this.pendingV3.size;
  }

  /**
   * Why V2 or V3 could not be judged over the run, empty when they were: no leader's view was read
   * at all, or a voter Pod deleted beyond spec.replicas was never checked against a view read after
   * its deletion. A scenario with such a gap proves nothing about removals, so it must fail rather
   * than pass silently.
   */
  unchecked(): string[] {
    const gaps: string[] = [];
    if (!this.lastRaft)
      gaps.push(`no leader's Raft view was read in ${this.samples} samples: V2 and V3 went unchecked`);
    for (const [name, at] of this.pendingV3)
      gaps.push(
        `${name} was deleted at ${(at.t / 1000).toFixed(1)} s and no leader's view was read afterwards: V3 unchecked`,
      );
    return gaps;
  }

  private violate(invariant: Invariant, key: string, message: string, snapshot: Snapshot): void {
    // One entry per stretch of the same violation, not one per sample.
    const same = this.ongoing.get(key);
    if (same && snapshot.t - same.lastT <= 1000) {
      same.count++;
      same.lastT = snapshot.t;
      return;
    }
    const v: Violation = { invariant, t: snapshot.t, lastT: snapshot.t, count: 1, message, snapshot };
    this.ongoing.set(key, v);
    this.violations.push(v);
  }

  private snapshot(s: Sample, down: Set<string>): Snapshot {
    const alive = new Set(s.alive);
    const unresponsive = new Set(s.unresponsive);
    const raft = s.raft;
    return {
      t: s.t,
      ...(s.replicas === undefined ? {} : { replicas: s.replicas }),
      pods: (s.pods ?? []).map((p) => {
        const state = p.terminating
          ? "Terminating"
          : unresponsive.has(p.name)
            ? `${p.ready ? "Ready" : "NotReady"}(unresponsive)`
            : p.ready
              ? "Ready"
              : alive.has(p.name)
                ? "NotReady(alive)"
                : "NotReady";
        return `${p.name}/${p.uid.slice(0, 6)}: ${state}${p.nodeName ? ` on ${p.nodeName}` : ""}`;
      }),
      ...(raft ? { leader: raft.leader } : {}),
      members: (raft?.members ?? []).map(
        (m) => `${m.id}(${m.voter ? "voter" : "nonvoter"}, ${m.reachable ? "reachable" : "unreachable"})`,
      ),
      down: [...down].sort(),
    };
  }
}
