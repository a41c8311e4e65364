// Where the operator runs: its namespace and Deployment, as deploy/ installs them.
import type { V1Deployment } from "@kubernetes/client-node";
import { readFileSync } from "node:fs";
import { objectPath } from "../controller/runtime/paths.js";
import type { Kube } from "./kube.js";

export const OPERATOR_NAMESPACE = "rqlite-operator-system";
export const CONTROLLER_DEPLOYMENT = "rqlite-operator-controller";

/** The operator's version from its controller Deployment's image tag, or undefined when absent. */
export async function operatorVersion(kube: Kube, namespace: string): Promise<string | undefined> {
  const d = await kube.find<V1Deployment>(`get Deployment ${namespace}/${CONTROLLER_DEPLOYMENT}`, {
    method: "GET",
    path: objectPath({ apiVersion: "apps/v1", resource: "deployments", namespace, name: CONTROLLER_DEPLOYMENT }),
  });
  const image = d?.spec?.template.spec?.containers[0]?.image;
  if (!image) return undefined;
  return /:([^:/@]+)(@|$)/.exec(image)?.[1] ?? image;
}

/** This plugin's version: stamped into the krew bundle (cli/bundle.ts), else the package's. */
export function pluginVersion(): string {
  const bundled = (globalThis as { RQLITE_PLUGIN_VERSION?: string }).RQLITE_PLUGIN_VERSION;
  if (bundled) return bundled;
  for (let dir = new URL(".", import.meta.url); dir.pathname !== "/"; dir = new URL("..", dir)) {
    try {
      const pkg = JSON.parse(readFileSync(new URL("package.json", dir), "utf8")) as { name?: string; version?: string };
      if (pkg.name === "rqlite-operator" && pkg.version) return pkg.version;
    } catch {
      // No package.json at this level: look one up.
    }
  }
  return "unknown";
}
