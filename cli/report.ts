// `report`: everything support asks for, in one tar.gz: the cluster, its RqBackups, children and
// Events, the operator's Deployment, Pods, logs and Leases, each node's /status and /nodes, and
// what `kubectl rqlite status` shows. What
// cannot be read (no RBAC, no logs) is listed in ERRORS.txt instead of failing the bundle.
import { createWriteStream } from "node:fs";
import { pipeline } from "node:stream/promises";
import { createGzip } from "node:zlib";
import type { V1Pod, V1Secret } from "@kubernetes/client-node";
import { pack } from "tar-stream";
import { stringify } from "yaml";
import { LABEL_CLUSTER, operatorAuthSecretName } from "../shared/names.js";
import type { RqBackup, RqCluster, S3CredentialsSecretRef } from "../shared/types.generated.js";
import { clusterBackups, getBackup } from "./backups.js";
import { clusterEvents, clusterPods, getCluster } from "./cluster.js";
import { objectPath } from "../controller/runtime/paths.js";
import type { Kube } from "./kube.js";
import { redactFields, redactSecret, scrub, secretValues } from "./redact.js";
import { NodeProxy } from "./rqlite.js";
import { clusterStatus } from "./status.js";

interface Entry {
  name: string;
  content: string;
}

const LOG_TAIL_LINES = 5000;

export interface ReportOptions {
  cluster: string;
  operatorNamespace: string;
  file: string;
}

/** Writes the bundle; resolves with the files it holds and what could not be collected. */
export async function writeReport(kube: Kube, opts: ReportOptions): Promise<{ files: string[]; errors: string[] }> {
  const errors: string[] = [];
  const entries: Entry[] = [];
  const attempt = async (what: string, get: () => Promise<unknown>) => {
    try {
      await get();
    } catch (err) {
      errors.push(`${what}: ${(err as Error).message}`);
    }
  };
  const ns = kube.namespace;
  const rq = await getCluster(kube, opts.cluster);
  // The RqBackups name credential Secrets too: read them first, so that their Secrets are scrubbed.
  const backups = await clusterBackups(kube, opts.cluster);
  if (backups.error) errors.push(`RqBackups: ${backups.error}`);
  const restoreFrom = rq.spec?.restore?.backup;
  const restoreSource = restoreFrom
    ? await getBackup(kube, restoreFrom).catch((err: Error) => {
        errors.push(`RqBackup ${ns}/${restoreFrom} (spec.restore.backup): ${err.message}`);
        return undefined;
      })
    : undefined;
  const refs = credentialRefs(rq, [...backups.items, ...(restoreSource ? [restoreSource] : [])]);
  const named = new Set(refs.flatMap((r) => [r.accessKeyIdKey, r.secretAccessKeyKey].filter((k) => k !== undefined)));
  const yaml = (name: string, value: unknown) => entries.push({ name, content: stringify(redactFields(value, named)) });
  yaml("cluster.yaml", rq);
  yaml("backups.yaml", [...backups.items, ...(restoreSource ? [restoreSource] : [])]);

  let pods: V1Pod[] = [];
  const secrets: V1Secret[] = [];
  const byCluster = { labelSelector: `${LABEL_CLUSTER}=${opts.cluster}` };
  await Promise.all([
    attempt("Pods", async () => {
      pods = await clusterPods(kube, rq);
      yaml("children/pods.yaml", pods);
    }),
    ...(
      [
        ["v1", "persistentvolumeclaims"],
        ["v1", "services"],
        ["policy/v1", "poddisruptionbudgets"],
      ] as const
    ).map(([apiVersion, kind]) =>
      attempt(kind, async () => {
        const path = objectPath({ apiVersion, resource: kind, namespace: ns });
        yaml(`children/${kind}.yaml`, await list(kube, kind, path, byCluster));
      }),
    ),
    attempt("Events", async () => yaml("events.yaml", await clusterEvents(kube, opts.cluster))),
    ...referencedSecrets(rq, refs).map((name) =>
      attempt(`Secret ${ns}/${name}`, async () => {
        const s = await kube.find<V1Secret>(`get Secret ${ns}/${name}`, {
          method: "GET",
          path: objectPath({ apiVersion: "v1", resource: "secrets", namespace: ns, name }),
        });
        if (s) secrets.push(s);
      }),
    ),
    operatorFiles(kube, opts.operatorNamespace, entries, attempt, named),
  ]);
  yaml("children/secrets.yaml", secrets.map(redactSecret));
  await Promise.all(
    pods.map((p) => {
      const node = new NodeProxy(kube, p, 5000);
      return Promise.all([
        attempt(`${node.name} /status`, async () =>
          entries.push({ name: `nodes/${node.name}/status.json`, content: json(await node.raw("/status")) }),
        ),
        attempt(`${node.name} /nodes`, async () =>
          entries.push({
            name: `nodes/${node.name}/nodes.json`,
            content: json(await node.raw("/nodes", { ver: "2", nonvoters: true })),
          }),
        ),
      ]);
    }),
  );
  await attempt("status", async () => yaml("status.yaml", await clusterStatus(kube, opts.cluster)));
  entries.push({ name: "ERRORS.txt", content: errors.length ? `${errors.join("\n")}\n` : "none\n" });

  const values = secretValues(secrets);
  const top = `rqlite-report-${ns}-${opts.cluster}`;
  const tar = pack();
  for (const e of entries) tar.entry({ name: `${top}/${e.name}`, mode: 0o644 }, scrub(e.content, values));
  tar.finalize();
  await pipeline(tar, createGzip(), createWriteStream(opts.file, { mode: 0o600 }));
  return { files: entries.map((e) => e.name), errors };
}

/** The operator's Deployment, Pods (with their logs) and Leases in its namespace. */
async function operatorFiles(
  kube: Kube,
  namespace: string,
  entries: Entry[],
  attempt: (what: string, get: () => Promise<unknown>) => Promise<void>,
  named: ReadonlySet<string>,
): Promise<void> {
  const yaml = (name: string, value: unknown) => entries.push({ name, content: stringify(redactFields(value, named)) });
  const selector = { labelSelector: "app.kubernetes.io/name=rqlite-operator" };
  await attempt("operator Leases", async () =>
    yaml(
      "operator/leases.yaml",
      await list(kube, "Leases", objectPath({ apiVersion: "coordination.k8s.io/v1", resource: "leases", namespace })),
    ),
  );
  await attempt("operator Deployments", async () =>
    yaml(
      "operator/deployments.yaml",
      await list(
        kube,
        "Deployments",
        objectPath({ apiVersion: "apps/v1", resource: "deployments", namespace }),
        selector,
      ),
    ),
  );
  await attempt("operator Pods", async () => {
    const pods = await list<V1Pod>(
      kube,
      "Pods",
      objectPath({ apiVersion: "v1", resource: "pods", namespace }),
      selector,
    );
    yaml("operator/pods.yaml", pods);
    if (pods.length === 0)
      entries.push({ name: "operator/logs/NONE.txt", content: `no operator Pods in ${namespace}\n` });
    await Promise.all(
      pods.map((p) =>
        attempt(`logs of Pod ${namespace}/${p.metadata!.name}`, async () => {
          const log = await kube.podLog(namespace, p.metadata!.name!, LOG_TAIL_LINES);
          entries.push({ name: `operator/logs/${p.metadata!.name}.log`, content: log });
        }),
      ),
    );
  });
}

async function list<T = unknown>(kube: Kube, kind: string, path: string, query?: Record<string, string>): Promise<T[]> {
  const l = await kube.request<{ items: T[] }>(`list ${kind}`, { method: "GET", path, ...(query ? { query } : {}) });
  return l.items;
}

/** Every credentialsSecret the cluster and its RqBackups name: spec.backup, spec.restore, destinations. */
function credentialRefs(rq: RqCluster, backups: RqBackup[]): S3CredentialsSecretRef[] {
  const refs = [
    rq.spec?.backup?.s3?.credentialsSecret,
    rq.spec?.restore?.s3?.credentialsSecret,
    ...backups.map((b) => b.spec?.destination?.s3?.credentialsSecret),
  ];
  return refs.filter((r): r is S3CredentialsSecretRef => Boolean(r?.name));
}

/** The Secrets whose values must never reach the bundle: those the cluster and its backups use. */
function referencedSecrets(rq: RqCluster, refs: S3CredentialsSecretRef[]): string[] {
  const s = rq.spec ?? {};
  const names = [
    s.auth?.secretName,
    s.tls?.http?.secretName,
    s.tls?.node?.secretName,
    operatorAuthSecretName(rq.metadata!.name!),
    ...refs.map((r) => r.name),
  ];
  return [...new Set(names.filter((n): n is string => Boolean(n)))];
}

const json = (v: unknown) => `${JSON.stringify(redactFields(v), null, 2)}\n`;
