// What tests read of a Node, as kubectl shows it: its Ready condition (which the real node
// lifecycle controller turns to Unknown when heartbeats stop) and its taints.
import type { V1Node, V1Taint } from "@kubernetes/client-node";
import type { ControlPlane } from "./controlplane.js";
import { eventually } from "./eventually.js";

export const UNREACHABLE_TAINT = "node.kubernetes.io/unreachable";
export const NOT_READY_TAINT = "node.kubernetes.io/not-ready";

export async function getNode(cp: ControlPlane, name: string): Promise<V1Node> {
  return JSON.parse(await cp.kubectlOk(["get", "node", name, "-o", "json"])) as V1Node;
}

/** "True", "False", "Unknown", or undefined before the node first reported. */
export async function nodeReadyStatus(cp: ControlPlane, name: string): Promise<string | undefined> {
  return (await getNode(cp, name)).status?.conditions?.find((c) => c.type === "Ready")?.status;
}

export async function nodeTaints(cp: ControlPlane, name: string): Promise<Array<Pick<V1Taint, "key" | "effect">>> {
  return ((await getNode(cp, name)).spec?.taints ?? []).map((t) => ({ key: t.key, effect: t.effect }));
}

/** Waits until `check` holds for the Node; fails with the Node's last conditions and taints. */
export async function waitForNode(
  cp: ControlPlane,
  name: string,
  what: string,
  check: (node: V1Node) => boolean,
  timeoutMs = 60_000,
): Promise<V1Node> {
  let last: V1Node | undefined;
  return eventually(
    `Node ${name}: ${what}`,
    async () => {
      last = await getNode(cp, name);
      return check(last) && last;
    },
    timeoutMs,
    {
      intervalMs: 250,
      state: () => ({
        ready: last?.status?.conditions?.find((c) => c.type === "Ready"),
        taints: last?.spec?.taints,
      }),
    },
  );
}

/** The Node's Ready condition has this status. */
export const readyIs =
  (status: "True" | "False" | "Unknown") =>
  (node: V1Node): boolean =>
    node.status?.conditions?.find((c) => c.type === "Ready")?.status === status;

/** The Node carries this taint (any effect unless given). */
export const hasTaint =
  (key: string, effect?: string) =>
  (node: V1Node): boolean =>
    (node.spec?.taints ?? []).some((t) => t.key === key && (!effect || t.effect === effect));
