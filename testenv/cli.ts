// `npm run testenv`: a test control plane in the foreground until Ctrl-C.
import { startControlPlane } from "./controlplane.js";

const cp = await startControlPlane().catch((err: Error) => {
  console.error(`testenv: ${err.message}`);
  process.exit(1);
});
console.log(`testenv: kube-apiserver ready at ${cp.url} in ${(cp.startupMs / 1000).toFixed(1)} s`);
console.log(`testenv: kubeconfig ${cp.kubeconfigPath}`);
console.log(`testenv: try: kubectl --kubeconfig ${cp.kubeconfigPath} get --raw /readyz?verbose`);
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
