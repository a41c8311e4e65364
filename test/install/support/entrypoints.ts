// Runs the two entry points (controller/main.ts, webhook/main.ts) as real processes on loopback
// ports, for the install tests that talk to them: metrics, admission, certificate rotation.
import { existsSync } from "node:fs";
import { get as httpGet } from "node:http";
import { request as httpsRequest } from "node:https";
import { join } from "node:path";
import { TLSSocket } from "node:tls";
import { REPO_ROOT } from "../../../hack/kustomize.js";
import { freePort } from "../../../testenv/ports.js";
import type { Managed, ProcessGroup } from "../../../testenv/processes.js";

export interface Running {
  proc: Managed;
  /** The HTTPS admission port (webhook) or the health port (controller). */
  port: number;
  metricsPort: number;
}

/** True when the entry point's source exists: other parts of the project may land later. */
export function entryPointExists(component: "controller" | "webhook"): boolean {
  return existsSync(join(REPO_ROOT, component, "main.ts"));
}

function start(group: ProcessGroup, component: "controller" | "webhook", args: string[], logDir: string): Managed {
  return group.start(
    component,
    process.execPath,
    ["--import", "tsx", join(REPO_ROOT, component, "main.ts"), ...args],
    join(logDir, `${component}.log`),
  );
}

async function waitFor(proc: Managed, what: string, check: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let exited: string | undefined;
  void proc.exited.then((e) => (exited = e));
  while (Date.now() < deadline) {
    if (exited !== undefined)
      throw new Error(`${proc.name} exited (${exited}) before ${what}; log ${proc.logFile}:\n${proc.tail(20)}`);
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${proc.name}: no ${what} within ${timeoutMs / 1000} s; log ${proc.logFile}:\n${proc.tail(20)}`);
}

/** GET over plain HTTP on loopback; undefined when nothing answers. */
export function httpText(port: number, path: string): Promise<{ status: number; body: string } | undefined> {
  return new Promise((resolve) => {
    const req = httpGet({ host: "127.0.0.1", port, path, timeout: 2000 }, (res) => {
      let body = "";
      res
        .setEncoding("utf8")
        .on("data", (d: string) => (body += d))
        .on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on("error", () => resolve(undefined));
    req.on("timeout", () => req.destroy());
  });
}

/** The SHA-256 fingerprint of the certificate a TLS server on loopback presents, or undefined. */
export function servedCertFingerprint(port: number, ca?: Buffer): Promise<string | undefined> {
  return new Promise((resolve) => {
    const req = httpsRequest(
      {
        host: "127.0.0.1",
        port,
        path: "/healthz",
        ca,
        rejectUnauthorized: ca !== undefined,
        timeout: 2000,
        agent: false,
      },
      (res) => {
        res.resume();
        resolve((res.socket as TLSSocket).getPeerCertificate().fingerprint256);
      },
    );
    req.on("error", () => resolve(undefined));
    req.on("timeout", () => req.destroy());
    req.end();
  });
}

/**
 * The webhook serving HTTPS from the tls.crt/tls.key in certDir on a loopback port: `port` when
 * the caller registered it with the API server already, else a free one.
 */
export async function startWebhook(
  group: ProcessGroup,
  certDir: string,
  logDir: string,
  port?: number,
): Promise<Running> {
  port ??= await freePort();
  const metricsPort = await freePort();
  const proc = start(
    group,
    "webhook",
    [
      "--host=127.0.0.1",
      `--port=${port}`,
      `--cert-dir=${certDir}`,
      `--metrics-bind-address=127.0.0.1:${metricsPort}`,
      "--cert-poll-interval=1s",
    ],
    logDir,
  );
  await waitFor(proc, "HTTPS on its port", async () => (await servedCertFingerprint(port)) !== undefined);
  return { proc, port, metricsPort };
}

/** The controller with metrics and health on free loopback ports, its Lease in leaseNamespace. */
export async function startController(
  group: ProcessGroup,
  kubeconfig: string,
  leaseNamespace: string,
  logDir: string,
): Promise<Running> {
  const [port, metricsPort] = [await freePort(), await freePort()];
  const proc = start(
    group,
    "controller",
    [
      `--kubeconfig=${kubeconfig}`,
      `--metrics-bind-address=127.0.0.1:${metricsPort}`,
      `--health-probe-bind-address=127.0.0.1:${port}`,
      "--leader-elect",
      `--leader-election-namespace=${leaseNamespace}`,
    ],
    logDir,
  );
  await waitFor(proc, "ready /readyz", async () => (await httpText(port, "/readyz"))?.status === 200);
  return { proc, port, metricsPort };
}
