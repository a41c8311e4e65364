// `npm run testenv [-- --scheduling | --real [--nodes N]]`: a test control plane in the foreground until
// Ctrl-C. --scheduling adds kube-scheduler, kube-controller-manager and the StorageClasses, so Pods
// are scheduled, claims bind and garbage collection runs (Nodes are up to the user, e.g. KWOK).
// --real adds N (--nodes, default 3) real nodes with CoreDNS (testenv/realCluster.ts; root, Debian packages).
import { parseArgs } from "node:util";
import { startControlPlane } from "./controlplane.js";
import { startRealCluster } from "./realCluster.js";

const USAGE = "usage: npm run testenv [-- --scheduling | --real [--nodes N]]";
let scheduling = false;
let real: number | undefined;
try {
  const { values } = parseArgs({
    options: {
      scheduling: { type: "boolean" },
      real: { type: "boolean" },
      nodes: { type: "string", default: "3" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  scheduling = values.scheduling ?? false;
  if (values.real) real = Number(values.nodes);
} catch (err) {
  console.error(`testenv: ${(err as Error).message}; ${USAGE}`);
  process.exit(2);
}

const fail = (err: Error): never => {
  console.error(`testenv: ${err.message}`);
  process.exit(1);
};
const cluster = real === undefined ? undefined : await startRealCluster({ nodes: real }).catch(fail);
const cp = cluster?.cp ?? (await startControlPlane({ scheduling }).catch(fail));
if (cluster) {
  console.log(
    `testenv: ${cluster.nodes.length} nodes and CoreDNS ready at ${cp.url} in ${(cluster.readyMs / 1000).toFixed(1)} s`,
  );
} else {
  console.log(
    `testenv: kube-apiserver${scheduling ? ", kube-scheduler and kube-controller-manager" : ""} ready at ${cp.url} in ${(cp.startupMs / 1000).toFixed(1)} s`,
  );
}
console.log(`testenv: kubeconfig ${cp.kubeconfigPath}`);
console.log(`testenv: try: kubectl --kubeconfig ${cp.kubeconfigPath} get --raw /readyz?verbose`);
if (scheduling) console.log(`testenv: try: kubectl --kubeconfig ${cp.kubeconfigPath} get storageclass`);
console.log(`testenv: pids ${cp.pids.join(" ")} dir ${cp.dir}`);
console.log("testenv: Ctrl-C stops everything and removes the folder");

// The control plane's processes are unref'd so tests can exit; this CLI stays until a signal.
const keepAlive = setInterval(() => {}, 1 << 30);
let stopping = false;
for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
  process.on(sig, () => {
    if (stopping) return;
    stopping = true;
    console.log(`testenv: ${sig}, stopping`);
    clearInterval(keepAlive);
    void (cluster ?? cp).stop().then(() => process.exit(0));
  });
}
