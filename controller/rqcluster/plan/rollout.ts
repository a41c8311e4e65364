// RollingUpdate replaces one outdated Pod at a time: read replicas first, then followers, highest
// ordinal first, the leader last (I4) after leadership moved to an updated follower where the
// rqlite version can hand it over (older versions step down as they stop). A step is taken only
// when every desired Pod exists, is Ready and has caught up (`/readyz?sync`) and no voter is
// unavailable (I1), and only when no scale step is in flight (I5).
import type { V1Pod } from "@kubernetes/client-node";
import { isPodReady, ordinalOf, podName, roleOf, settledExcept, type Facts } from "./facts.js";
import { wait, type Step } from "./raftRemoval.js";
import type { Observed } from "./types.js";

/** `held`: desired nodes that wait for this roll to finish (see scale.ts), so it does not wait for them. */
export function planRollout(o: Observed, f: Facts, held: ReadonlySet<string>): Step | undefined {
  if (o.cluster.spec.updateStrategy.type !== "RollingUpdate" || f.outdated.length === 0) return undefined;
  const unsettled = settledExcept(o, f, held);
  if (unsettled) return wait("WaitingToRoll", `rolling update waits: ${unsettled}`);
  const leader = o.raft?.leader ?? o.leaderHint;
  const order = (p: V1Pod) =>
    (roleOf(p) === "voter" ? 1000 : 0) + (podName(p) === leader ? 10_000 : 0) - ordinalOf(o, podName(p));
  const next = [...f.outdated].sort((a, b) => order(a) - order(b))[0]!;
  const name = podName(next);
  if (o.raft && name === leader && o.raft.canTransfer) {
    const updated = (id: string) => !f.outdated.some((p) => podName(p) === id);
    const candidates = o.raft.members.filter(
      (m) => m.voter && m.reachable && m.id !== name && isPodReady(f.pods.get(m.id) ?? {}) && o.synced.has(m.id),
    );
    const target = candidates.find((m) => updated(m.id)) ?? candidates[0];
    if (target) {
      return {
        action: {
          type: "transferLeadership",
          from: name,
          to: target.id,
          reason: "LeadershipTransferred",
          message: `moving rqlite leadership from ${name} to ${target.id} before updating ${name}`,
        },
      };
    }
  }
  const how =
    name !== leader
      ? ""
      : !o.raft
        ? "; the leader's membership cannot be read, so it steps down as it stops"
        : o.raft.canTransfer
          ? "; no other voter could take over leadership, so it steps down as it stops"
          : "; its rqlite version cannot hand leadership over, so it steps down as it stops";
  return {
    action: {
      type: "deletePod",
      name,
      // Voluntary: a drain must not evict another voter while this one is down.
      evict: true,
      reason: "RollingUpdate",
      message: `deleted outdated Pod ${name} to recreate it with the new spec (${f.outdated.length} outdated${how})`,
    },
  };
}
