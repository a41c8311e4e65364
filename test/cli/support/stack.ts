// One stack for every CLI test: a control plane whose Pods are reachable through pods/proxy
// (testenv/podNetwork.ts), the controller, the local runtime, and the 5-voter cluster "demo"
// with one read replica, started by the first suite that asks and stopped after the last.
import { execFile } from "node:child_process";
import { mkdtemp, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { buildPlugin, hostTargets } from "../../../cli/bundle.js";
import { startLocalStack, type LocalStack } from "../../../local/stack.js";
import { FAST_LEASE_ARGS } from "../../../testenv/controller.js";
import { startControlPlane } from "../../../testenv/controlplane.js";
import { eventually } from "../../../testenv/eventually.js";
import { startS3Server, type S3TestServer } from "../../../testenv/s3.js";
import { createTestNamespace } from "../../../testenv/shared.js";

const cliDir = fileURLToPath(new URL("../../../cli/", import.meta.url));
export const IMAGE = "rqlite/rqlite:8.43.4";
export const DEMO = "demo";

export interface CliStack {
  stack: LocalStack;
  namespace: string;
  /** Holds kubectl-rqlite (the krew build) and kubectl_complete-rqlite, as an install puts them on PATH. */
  binDir: string;
  /** The admin kubeconfig with two contexts: "test" (current, namespace = namespace) and "other" (default). */
  kubeconfig: string;
}

let started: Promise<CliStack> | undefined;

export function cliStack(): Promise<CliStack> {
  started ??= start();
  return started;
}

// A root hook (registered by the first suite that imports this module): after every suite.
after(async function () {
  this.timeout(60_000);
  const s = await started?.catch(() => undefined);
  await s?.stack.stop();
  await s?.stack.cp.stop();
});

async function start(): Promise<CliStack> {
  const cp = await startControlPlane({ podNetwork: true });
  const namespace = await createTestNamespace(cp, "cli");
  // The plugin needs no admission webhook: the controller defaults the spec itself.
  const stack = await startLocalStack({
    controlPlane: cp,
    namespaces: [namespace],
    replicas: 1,
    webhook: false,
    // The backup tests' S3 server listens on loopback, which the operator refuses unless allowed.
    s3EndpointAllow: "127.0.0.1/32",
    controllerArgs: [...FAST_LEASE_ARGS, "--resync-period=3"],
  });
  await applyCluster(stack, namespace, DEMO, { replicas: 5, readReplicas: 1 });
  await waitConverged(stack, namespace, DEMO, 5, 1);
  // The plugin as users get it: the single executable that krew ships (npm run build:plugin).
  const binDir = await mkdtemp(join(tmpdir(), "rqo-cli-bin-"));
  const plugin = await buildPlugin(binDir, hostTargets());
  if (!plugin.executable) throw new Error(`no krew target for ${process.platform}-${process.arch}`);
  await symlink(join(cliDir, "kubectl_complete-rqlite"), join(binDir, "kubectl_complete-rqlite"));
  return { stack, namespace, binDir, kubeconfig: await testKubeconfig(cp.kubeconfigPath, namespace) };
}

export async function applyCluster(
  stack: LocalStack,
  namespace: string,
  name: string,
  spec: Record<string, unknown>,
): Promise<void> {
  await stack.cp.kubectlOk(["apply", "-n", namespace, "-f", "-"], {
    input: JSON.stringify({
      apiVersion: "rqlite.io/v1alpha1",
      kind: "RqCluster",
      metadata: { name },
      spec: { image: IMAGE, ...spec },
    }),
  });
}

/** Applies an RqCluster and waits until it runs with spec.replicas and spec.readReplicas ready. */
export async function startCluster(s: CliStack, name: string, spec: Record<string, unknown>): Promise<void> {
  await applyCluster(s.stack, s.namespace, name, spec);
  await waitConverged(s.stack, s.namespace, name, Number(spec.replicas ?? 3), Number(spec.readReplicas ?? 0));
}

interface Status {
  metadata: { generation: number };
  status?: {
    observedGeneration?: number;
    phase?: string;
    readyReplicas?: number;
    readReplicasReady?: number;
    leader?: string;
  };
}

/** Waits until the operator reports the cluster Running with these ready counts and a leader. */
export async function waitConverged(
  stack: LocalStack,
  namespace: string,
  name: string,
  voters: number,
  readers: number,
  timeoutMs = 180_000,
): Promise<void> {
  await eventually(
    `RqCluster ${name} Running with ${voters} voters and ${readers} read replicas ready`,
    async () => {
      const rq = JSON.parse(await stack.cp.kubectlOk(["get", "rqc", name, "-n", namespace, "-o", "json"])) as Status;
      const s = rq.status;
      return (
        s?.observedGeneration === rq.metadata.generation &&
        s.phase === "Running" &&
        s.readyReplicas === voters &&
        (s.readReplicasReady ?? 0) === readers &&
        Boolean(s.leader)
      );
    },
    timeoutMs,
    { intervalMs: 500 },
  );
}

/** A copy of the admin kubeconfig whose current context "test" defaults to `namespace`. */
async function testKubeconfig(admin: string, namespace: string): Promise<string> {
  const path = join(await mkdtemp(join(tmpdir(), "rqo-cli-kc-")), "config");
  const kubectl = (args: string[]) => promisify(execFile)("kubectl", ["--kubeconfig", path, ...args]);
  const view = await promisify(execFile)("kubectl", ["--kubeconfig", admin, "config", "view", "--raw", "--flatten"]);
  await writeFile(path, view.stdout, { mode: 0o600 });
  const user = (await kubectl(["config", "view", "-o", "jsonpath={.users[0].name}"])).stdout;
  const cluster = (await kubectl(["config", "view", "-o", "jsonpath={.clusters[0].name}"])).stdout;
  await kubectl([
    "config",
    "set-context",
    "test",
    `--cluster=${cluster}`,
    `--user=${user}`,
    `--namespace=${namespace}`,
  ]);
  await kubectl(["config", "set-context", "other", `--cluster=${cluster}`, `--user=${user}`, "--namespace=default"]);
  await kubectl(["config", "use-context", "test"]);
  return path;
}

/**
 * A plugin stack beside a loopback S3 server with `bucket`, and a Secret `secret` in the test's
 * namespace holding that server's credentials under the default keys.
 */
export async function cliStackWithS3(bucket: string, secret: string): Promise<[CliStack, S3TestServer]> {
  const [s, s3] = await Promise.all([cliStack(), startS3Server({ buckets: [bucket] })]);
  await s.stack.cp.kubectlOk(["apply", "-n", s.namespace, "-f", "-"], {
    input: JSON.stringify({
      apiVersion: "v1",
      kind: "Secret",
      metadata: { name: secret },
      stringData: {
        AWS_ACCESS_KEY_ID: s3.credentials.accessKeyId,
        AWS_SECRET_ACCESS_KEY: s3.credentials.secretAccessKey,
      },
    }),
  });
  return [s, s3];
}
