import { startControlPlane, type ControlPlane } from "./controlplane.js";

// One control plane per test run, started by the first suite that asks for it.
let shared: Promise<ControlPlane> | undefined;
let counter = 0;

export function sharedControlPlane(): Promise<ControlPlane> {
  shared ??= startControlPlane();
  return shared;
}

export async function stopSharedControlPlane(): Promise<void> {
  if (!shared) return;
  const cp = await shared.catch(() => undefined);
  shared = undefined;
  await cp?.stop();
}

/** A fresh namespace per suite, so suites never see each other's objects. */
export async function createTestNamespace(
  cp: ControlPlane,
  prefix: string,
  labels: Record<string, string> = {},
): Promise<string> {
  const name = `${prefix}-${process.pid}-${++counter}`
    .toLowerCase()
    .replace(/[^a-z0-9-]/g, "-")
    .slice(0, 63);
  const labelArgs = Object.entries(labels).map(([k, v]) => `${k}=${v}`);
  await cp.kubectlOk(["create", "namespace", name]);
  if (labelArgs.length) await cp.kubectlOk(["label", "namespace", name, ...labelArgs]);
  return name;
}
