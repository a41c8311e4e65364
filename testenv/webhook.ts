// The admission webhook on loopback, registered with the test control plane the way deploy/base
// registers it, except that the API server reaches it by `url: https://127.0.0.1:PORT` with the
// local CA as caBundle (the control plane has no Services to route to).
import { execFile } from "node:child_process";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { stringify } from "yaml";
import { parseObjects, type K8sObject } from "../hack/kustomize.js";
import type { ControlPlane } from "./controlplane.js";
import { freePort } from "./ports.js";
import { ProcessGroup } from "./processes.js";

const root = fileURLToPath(new URL("..", import.meta.url));
const run = promisify(execFile);

interface WebhookEntry {
  name: string;
  clientConfig: { service?: { path: string }; url?: string; caBundle?: string };
  namespaceSelector?: unknown;
}

/** deploy/base's webhook configurations, renamed with `prefix` and pointed at 127.0.0.1:port. */
export async function loopbackConfigurations(
  port: number,
  ca: Buffer,
  opts: { prefix: string; namespace?: string },
): Promise<K8sObject[]> {
  const file = join(root, "deploy/base/webhook-configurations.yaml");
  return parseObjects(await readFile(file, "utf8"), file).map((o) => ({
    ...o,
    metadata: { name: `${opts.prefix}${o.metadata.name}` },
    webhooks: (o.webhooks as WebhookEntry[]).map((w) => ({
      ...w,
      clientConfig: {
        url: `https://127.0.0.1:${port}${w.clientConfig.service!.path}`,
        caBundle: ca.toString("base64"),
      },
      ...(opts.namespace
        ? { namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": opts.namespace } } }
        : {}),
    })),
  }));
}

export interface LocalWebhook {
  port: number;
  stop(): Promise<void>;
}

/** Mints certificates, starts webhook/main.ts, registers it, and waits until the API server calls it. */
export async function startLocalWebhook(
  cp: ControlPlane,
  opts: { namespace?: string; args?: string[] } = {},
): Promise<LocalWebhook> {
  const certDir = join(cp.dir, "webhook-certs");
  await run("bash", [join(root, "certs/mint-local.sh"), certDir, "127.0.0.1"]);
  const [port, metricsPort] = [await freePort(), await freePort()];
  const procs = new ProcessGroup();
  let names: string[] = [];
  // A plane shared with other suites must not keep calling a webhook that is gone.
  const stop = async () => {
    if (names.length) await cp.kubectl(["delete", "--ignore-not-found", ...names]);
    await procs.stopAll();
  };
  const proc = procs.start(
    "webhook",
    process.execPath,
    [
      "--import",
      "tsx",
      join(root, "webhook/main.ts"),
      "--host",
      "127.0.0.1",
      `--port=${port}`,
      `--metrics-bind-address=127.0.0.1:${metricsPort}`,
      `--cert-dir=${certDir}`,
      ...(opts.args ?? []),
    ],
    join(cp.dir, "webhook.log"),
  );
  try {
    const configs = await loopbackConfigurations(port, await readFile(join(certDir, "ca.crt")), {
      prefix: `local-${port}-`,
      namespace: opts.namespace,
    });
    names = configs.map((c) => `${c.kind.toLowerCase()}/${c.metadata.name}`);
    await cp.kubectlOk(["apply", "--server-side", "--field-manager=rqlite-local", "-f", "-"], {
      input: configs.map((c) => stringify(c)).join("---\n"),
    });
    // Configurations reach the API server through a watch: probe until a bad spec is refused.
    const probe = stringify({
      apiVersion: "rqlite.io/v1alpha1",
      kind: "RqCluster",
      metadata: { name: "webhook-probe", namespace: opts.namespace ?? "default" },
      spec: { extraArgs: ["-not-an-rqlited-flag"] },
    });
    // The bound covers the webhook's own start too (tsx compiles it first): past 30 s on a
    // loaded 2-core machine (measured 33-45 s at load 30), so a minute and a half.
    const deadline = Date.now() + 90_000;
    for (;;) {
      if (proc.child.exitCode !== null) throw new Error(`webhook exited before serving:\n${proc.tail(20)}`);
      const r = await cp.kubectl(["create", "--dry-run=server", "-f", "-"], { input: probe });
      // Only the validating webhook knows rqlited's flags; the CRD schema lets this one through.
      if (r.code !== 0 && /unknown rqlited .*flag -not-an-rqlited-flag/.test(r.stderr)) break;
      if (Date.now() > deadline)
        throw new Error(`kube-apiserver never called the webhook (log ${proc.logFile}):\n${proc.tail(20)}`);
      await new Promise((res) => setTimeout(res, 250));
    }
  } catch (err) {
    await stop();
    throw err;
  }
  return { port, stop };
}
