// What kube-scheduler and kube-controller-manager have in common here: each signs in with its own
// client certificate (the identity kube-apiserver's RBAC bootstrap roles are written for), serves
// its health endpoints on a loopback port only, and counts as started once /healthz (or /readyz)
// answers 200.
import { existsSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { cacheAssetsDir } from "./assets.js";
import { httpsOk } from "./httpsProbe.js";
import { renderKubeconfig } from "./kubeconfig.js";
import { issueCert, type Pki } from "./pki.js";
import { freePort } from "./ports.js";
import type { Managed, ProcessGroup } from "./processes.js";

export interface ComponentContext {
  /** The control plane's folder (certs, logs). */
  dir: string;
  /** kube-apiserver's URL. */
  url: string;
  pki: Pki;
  procs: ProcessGroup;
  assets: string;
}

export interface StartedComponent {
  proc: Managed;
  /** Its HTTPS port on 127.0.0.1 (health and metrics). */
  port: number;
}

/**
 * One certificate at a time: openssl keeps the CA's serial in ca.srl, and two signings at once
 * (the scheduler and the controller-manager start together) would read it half-written.
 */
let signing: Promise<unknown> = Promise.resolve();

/** A kubeconfig for a client certificate with CN=`user` (no groups), in the plane's folder. */
export async function componentKubeconfig(ctx: ComponentContext, name: string, user: string): Promise<string> {
  const issued = signing.then(() => issueCert(ctx.dir, name, `/CN=${user}`, "extendedKeyUsage=clientAuth\n"));
  signing = issued.catch(() => {});
  const cert = await issued;
  const path = join(ctx.dir, `${name}.kubeconfig`);
  await writeFile(
    path,
    renderKubeconfig(ctx.url, ctx.pki.caCert, user, { clientCert: cert.cert, clientKey: cert.key }),
  );
  return path;
}

/**
 * Starts one component with the flags every such component shares here, then waits until its
 * health endpoint answers: no leader election (one replica per test plane), delegated
 * authentication and authorization through the same kubeconfig, HTTPS on loopback only.
 */
export async function startComponent(
  ctx: ComponentContext,
  name: string,
  user: string,
  args: string[],
  healthPath: string,
  timeoutMs = 60_000,
): Promise<StartedComponent> {
  const kubeconfig = await componentKubeconfig(ctx, name, user);
  const certDir = join(ctx.dir, `${name}-certs`);
  await mkdir(certDir, { recursive: true });
  const port = await freePort();
  // KUBEBUILDER_ASSETS (envtest's folder) holds kube-apiserver and etcd only; the build script
  // puts the other components in its own cache either way.
  const bin = existsSync(join(ctx.assets, name)) ? join(ctx.assets, name) : join(cacheAssetsDir(), name);
  const proc = ctx.procs.start(
    name,
    bin,
    [
      `--kubeconfig=${kubeconfig}`,
      `--authentication-kubeconfig=${kubeconfig}`,
      `--authorization-kubeconfig=${kubeconfig}`,
      // The plane's CA given directly: looking it up in kube-system/extension-apiserver-
      // authentication logs an error a second, as this kube-apiserver has no front-proxy CA.
      "--authentication-skip-lookup=true",
      `--client-ca-file=${ctx.pki.caCert}`,
      "--leader-elect=false",
      "--bind-address=127.0.0.1",
      `--secure-port=${port}`,
      `--cert-dir=${certDir}`,
      "--profiling=false",
      ...args,
    ],
    join(ctx.dir, `${name}.log`),
  );
  await waitHealthy(proc, name, `https://127.0.0.1:${port}${healthPath}`, ctx.pki, timeoutMs);
  return { proc, port };
}

async function waitHealthy(proc: Managed, what: string, url: string, pki: Pki, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let exit: string | undefined;
  void proc.exited.then((e) => (exit = e));
  while (Date.now() < deadline) {
    if (exit !== undefined)
      throw new Error(`${what} exited (${exit}) before it was healthy; log ${proc.logFile}:\n${proc.tail(20)}`);
    if (await httpsOk(url, pki, { verify: false })) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(
    `${what} was not healthy (${url}) within ${timeoutMs / 1000} s; log ${proc.logFile}:\n${proc.tail(20)}`,
  );
}
