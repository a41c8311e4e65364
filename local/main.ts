// `npm run local [-- --real]`: the operator running end to end on this machine, until Ctrl-C.
// By default on the embedded control plane with the local runtime playing the kubelet (seconds
// to start, no root); with --real on a real Kubernetes (local/real.ts), installed with Helm from
// its image. Both print the same lines, and each works.
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { parse, stringify } from "yaml";
import { loopbackAddress } from "../shared/loopback-address.js";
import type { ControlPlane } from "../testenv/controlplane.js";
import type { S3Credentials } from "../testenv/s3.js";
import { startRealDemo } from "./real.js";
import { OPERATOR_NAMESPACE, startLocalStack } from "./stack.js";

const root = fileURLToPath(new URL("..", import.meta.url));
const say = (msg: string) => console.log(`local: ${msg}`);
const sample = join(root, "deploy/samples/rqcluster.yaml");
const NAMESPACE = "default";
const NODES = 3;
// Backups of the demo go to this bucket of the local S3 server, with the credentials in this Secret.
const BUCKET = "backups";
const CREDENTIALS_SECRET = "s3-credentials";
const USAGE = "usage: npm run local [-- --real]";

let real = false;
try {
  const { values } = parseArgs({ options: { real: { type: "boolean" }, help: { type: "boolean", short: "h" } } });
  if (values.help) {
    console.log(
      `${USAGE}\n  --real  a real Kubernetes (kubelets, containerd, CoreDNS; root and Debian packages, see README) with the operator installed by its Helm chart from its image`,
    );
    process.exit(0);
  }
  real = values.real ?? false;
} catch (err) {
  console.error(`local: ${(err as Error).message}; ${USAGE}`);
  process.exit(2);
}

/** What the demo needs of either world. */
interface World {
  cp: ControlPlane;
  /** The S3 server as the operator's Pods or processes reach it. */
  s3: { endpoint: string; credentials: S3Credentials };
  /** The address on this machine at which a Pod's rqlite answers. */
  address(pod: string): string;
  stop(): Promise<void>;
}

const started = Date.now();
const fail = (err: Error): never => {
  console.error(`local: ${err.message}`);
  process.exit(1);
};
const world: World = real ? await realWorld().catch(fail) : await simulatedWorld().catch(fail);
const { cp, s3 } = world;
const kubectl = `kubectl --kubeconfig ${cp.kubeconfigPath}`;
let stopping = false;
const stop = async (why: string) => {
  if (stopping) return;
  stopping = true;
  say(`${why}: stopping everything`);
  await world.stop();
  process.exit(0);
};
process.on("SIGINT", () => void stop("SIGINT"));
process.on("SIGTERM", () => void stop("SIGTERM"));

async function simulatedWorld(): Promise<World> {
  say(
    "starting the control plane (a first run builds kube-apiserver, etcd, kube-scheduler, kube-controller-manager and rqlited: several minutes)",
  );
  // Three Nodes in three zones, so the scheduler places the Pods by the cluster's anti-affinity and
  // the PV controller binds their claims, as in a cluster.
  // The operator refuses loopback S3 endpoints unless an administrator allows them: this one is
  // the stack's own S3 server, allowed by exactly its address.
  const stack = await startLocalStack({
    log: say,
    podNetwork: true,
    nodes: NODES,
    s3: { buckets: [BUCKET] },
    s3EndpointAllow: "127.0.0.1/32",
  });
  say(
    `control plane with kube-scheduler and kube-controller-manager ready in ${(stack.cp.startupMs / 1000).toFixed(1)} s; nodes: ${stack.runtime.nodeNames().join(", ")}`,
  );
  return {
    cp: stack.cp,
    s3: stack.s3!,
    address: (pod) => stack.runtime.address(NAMESPACE, pod),
    stop: () => stack.stop(),
  };
}

async function realWorld(): Promise<World> {
  say(
    "starting a real cluster: control plane, 3 nodes (kubelet, containerd, kube-proxy), CoreDNS (a first run builds the Kubernetes parts and the images: many minutes)",
  );
  const demo = await startRealDemo({
    operatorNamespace: OPERATOR_NAMESPACE,
    namespace: NAMESPACE,
    buckets: [BUCKET],
    log: say,
  });
  say(`nodes: ${demo.nodeNames.join(", ")}; the Pods' port 4001 is tunnelled to this machine's loopback`);
  // The pod tunnels listen on the address the local runtime would give each Pod.
  return { cp: demo.cp, s3: demo.s3, address: (pod) => loopbackAddress(NAMESPACE, pod), stop: () => demo.stop() };
}

try {
  const name = (parse(readFileSync(sample, "utf8")) as { metadata: { name: string } }).metadata.name;
  const applied = Date.now();
  await cp.kubectlOk(["apply", "-n", NAMESPACE, "-f", sample]);
  say(`applied ${sample}; waiting until RqCluster ${name} is Available`);
  // A real node unpacks the rqlite image and local-path-provisioner makes each volume first.
  const waitS = real ? 600 : 180;
  await cp.kubectlOk(["wait", "-n", NAMESPACE, `rqc/${name}`, "--for=condition=Available", `--timeout=${waitS}s`], {
    timeoutMs: (waitS + 20) * 1000,
  });
  say(
    `RqCluster ${name} is Available ${((Date.now() - applied) / 1000).toFixed(1)} s after kubectl apply (${((Date.now() - started) / 1000).toFixed(0)} s since start)`,
  );
  const node = world.address(`${name}-0`);
  const backup = await prepareBackupAndRestore(name);
  say("try:");
  console.log(`  ${kubectl} get rqc,pods,pvc,svc -n ${NAMESPACE}`);
  console.log(`  ${kubectl} get pods -o wide -n ${NAMESPACE}`);
  console.log(`  ${kubectl} get nodes -L topology.kubernetes.io/zone`);
  console.log(`  ${kubectl} get lease -n ${OPERATOR_NAMESPACE}`);
  // The plugin goes through the API server's pod proxy, which reaches the Pods over the pod
  // network (or through a port-forward, for clusters with auth: real mode only).
  // kubectl takes no flags before a plugin's name: the plugin reads --kubeconfig itself.
  console.log(
    `  PATH="${join(root, "cli")}:$PATH" kubectl rqlite status ${name} -n ${NAMESPACE} --kubeconfig ${cp.kubeconfigPath}`,
  );
  console.log(
    `  curl -s -XPOST 'http://${node}:4001/db/execute' -H 'Content-Type: application/json' -d '["CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, v TEXT)", "INSERT INTO t(v) VALUES(\\"hello\\")"]'`,
  );
  console.log(`  curl -s 'http://${node}:4001/db/query?level=strong&q=SELECT+*+FROM+t'`);
  console.log(`  ${kubectl} scale rqc ${name} -n ${NAMESPACE} --replicas=5`);
  say(
    `backup and restore, to and from bucket ${BUCKET} of the S3 server at ${s3.endpoint} (credentials in Secret ${NAMESPACE}/${CREDENTIALS_SECRET}); after the curl lines, so there is a table t to back up:`,
  );
  for (const line of backup) console.log(`  ${line}`);
  say("Ctrl-C stops everything and removes every file it made");
  setInterval(() => {}, 1 << 30);
} catch (err) {
  console.error(`local: ${(err as Error).message}`);
  await stop("error");
}

/**
 * The credentials Secret the backup and the restore name, and the two manifests (written into the
 * run's folder, so Ctrl-C removes them); returns the lines that take a backup of `cluster` and
 * restore it into a new cluster, with how to check each.
 */
async function prepareBackupAndRestore(cluster: string): Promise<string[]> {
  await cp.kubectlOk(["apply", "-f", "-"], {
    input: JSON.stringify({
      apiVersion: "v1",
      kind: "Secret",
      metadata: { name: CREDENTIALS_SECRET, namespace: NAMESPACE },
      stringData: {
        AWS_ACCESS_KEY_ID: s3.credentials.accessKeyId,
        AWS_SECRET_ACCESS_KEY: s3.credentials.secretAccessKey,
      },
    }),
  });
  const backupName = `${cluster}-backup`;
  const restored = `${cluster}-restored`;
  const backupFile = join(cp.dir, "backup.yaml");
  const restoreFile = join(cp.dir, "restore.yaml");
  writeFileSync(
    backupFile,
    stringify({
      apiVersion: "rqlite.io/v1alpha1",
      kind: "RqBackup",
      metadata: { name: backupName },
      spec: {
        cluster,
        destination: {
          s3: {
            bucket: BUCKET,
            path: cluster,
            endpoint: s3.endpoint,
            forcePathStyle: true,
            credentialsSecret: { name: CREDENTIALS_SECRET },
          },
        },
      },
    }),
  );
  // The sample's spec (image, storage) with the backup as its founding data.
  const sampleSpec = (parse(readFileSync(sample, "utf8")) as { spec: Record<string, unknown> }).spec;
  writeFileSync(
    restoreFile,
    stringify({
      apiVersion: "rqlite.io/v1alpha1",
      kind: "RqCluster",
      metadata: { name: restored },
      spec: { ...sampleSpec, restore: { backup: backupName } },
    }),
  );
  const plugin = `PATH="${join(root, "cli")}:$PATH" kubectl rqlite`;
  const flags = `-n ${NAMESPACE} --kubeconfig ${cp.kubeconfigPath}`;
  return [
    `${plugin} backup ${cluster} --name ${backupName} --s3-bucket ${BUCKET} --s3-path ${cluster} --s3-endpoint ${s3.endpoint} --s3-force-path-style --s3-credentials-secret ${CREDENTIALS_SECRET} --wait ${flags}`,
    `${kubectl} apply -n ${NAMESPACE} -f ${backupFile}   # the same RqBackup without the plugin: run one of the two`,
    `${kubectl} get rqb -n ${NAMESPACE}`,
    `${kubectl} apply -n ${NAMESPACE} -f ${restoreFile}`,
    `${kubectl} wait -n ${NAMESPACE} rqc/${restored} --for=condition=Available --timeout=300s`,
    `${plugin} status ${restored} ${flags}`,
    `${plugin} query ${restored} 'SELECT * FROM t' ${flags}`,
  ];
}
