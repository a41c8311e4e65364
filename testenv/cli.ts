// `npm run testenv [-- --scheduling]`: a test control plane in the foreground until Ctrl-C.
// --scheduling adds kube-scheduler, kube-controller-manager and the StorageClasses, so Pods are
// scheduled, claims bind and garbage collection runs (Nodes are up to the user, e.g. KWOK).
import { parseArgs } from "node:util";
import { startControlPlane } from "./controlplane.js";

const USAGE = "usage: npm run testenv [-- --scheduling]";
let scheduling = false;
try {
  const { values } = parseArgs({ options: { scheduling: { type: "boolean" }, help: { type: "boolean", short: "h" } } });
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  scheduling = values.scheduling ?? false;
} catch (err) {
  console.error(`testenv: ${(err as Error).message}; ${USAGE}`);
  process.exit(2);
}

const cp = await startControlPlane({ scheduling }).catch((err: Error) => {
  console.error(`testenv: ${err.message}`);
  process.exit(1);
});
console.log(
  `testenv: kube-apiserver${scheduling ? ", kube-scheduler and kube-controller-manager" : ""} ready at ${cp.url} in ${(cp.startupMs / 1000).toFixed(1)} s`,
);
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
    void cp.stop().then(() => process.exit(0));
  });
}
