// Renders a kustomization with kubectl's built-in kustomize, as `kubectl apply -k` would, into
// plain objects for the bundle generator and the install tests.
import { execFile } from "node:child_process";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseAllDocuments } from "yaml";

export const REPO_ROOT = fileURLToPath(new URL("..", import.meta.url));

export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [field: string]: unknown;
}

/** `kubectl kustomize <dir>` (relative to the repository root) as YAML text. */
export function kustomizeYaml(dir: string): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile("kubectl", ["kustomize", join(REPO_ROOT, dir)], { maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`kubectl kustomize ${dir} failed: ${stderr.trim() || err.message}`));
      else resolve(stdout);
    });
  });
}

export function parseObjects(yamlText: string, what: string): K8sObject[] {
  return parseAllDocuments(yamlText)
    .map((doc, i) => {
      if (doc.errors.length) throw new Error(`${what}, document ${i + 1}: ${doc.errors[0]!.message}`);
      return doc.toJS() as K8sObject;
    })
    .filter((o) => o !== null);
}

export async function kustomize(dir: string): Promise<K8sObject[]> {
  return parseObjects(await kustomizeYaml(dir), `kubectl kustomize ${dir}`);
}

/** The one object of `kind` named `name`; throws naming what was there instead. */
export function findObject(objects: K8sObject[], kind: string, name: string): K8sObject {
  const found = objects.find((o) => o.kind === kind && o.metadata.name === name);
  if (!found) {
    const have = objects.filter((o) => o.kind === kind).map((o) => o.metadata.name);
    throw new Error(`no ${kind} ${name} (have: ${have.join(", ") || "none"})`);
  }
  return found;
}
