// The setting of the scheduled-backup and restore scenarios on the plane a cluster has
// (scheduledEnv.ts): a real S3-compatible server (versitygw, testenv/s3.ts) with one bucket, a test
// namespace with an operator of its own (two controllers, fast Leases, a resync of 3 s) and the
// local runtime as the kubelet of 3 Nodes, and the credentials Secret the specs name. One per
// test file: `useS3Stack` registers its hooks.
import type { KubeClient } from "../../controller/runtime/kubeClient.js";
import type { LocalStack } from "../../local/stack.js";
import { startS3Server, S3_SERVER, type S3TestServer } from "../../testenv/s3.js";
import { createCredentialsSecret } from "./backupData.js";
import { startScheduledEnv, type ScheduledEnv } from "./scheduledEnv.js";

/** The Secret with the S3 server's keys, in the test namespace. */
export const S3_CREDENTIALS = "s3-credentials";

export interface S3Stack {
  env: ScheduledEnv;
  s3: S3TestServer;
  stack: LocalStack;
  client: KubeClient;
  ns: string;
}

/**
 * Registers the suite's hooks: `before` starts it all and hands it to `started` (the suite keeps
 * the parts in its own variables), `afterEach` prints the controllers' logs after a failed test,
 * and `after` stops it all and prints the suite's figures (the S3 server's version among them).
 */
export function useS3Stack(
  prefix: string,
  bucket: string,
  figures: Record<string, string>,
  started: (env: S3Stack) => void,
): void {
  let env: S3Stack | undefined;
  before(async () => {
    env = await startS3Stack(prefix, bucket);
    started(env);
    figures.s3Server = `${S3_SERVER.name} ${S3_SERVER.version} (${S3_SERVER.source})`;
  });
  afterEach(function () {
    printControllerLogsIfFailed(this.currentTest, env?.stack);
  });
  after(async () => {
    await stopS3Stack(env ?? {});
    console.log(`      figures: ${JSON.stringify(figures)}`);
  });
}

/** Starts it all; what started before a failure is stopped again, so a failed `before` leaks nothing. */
async function startS3Stack(prefix: string, bucket: string): Promise<S3Stack> {
  const s3 = await startS3Server({ buckets: [bucket] });
  try {
    const env = await startScheduledEnv({
      prefix,
      // The S3 server listens on loopback, which the operator refuses unless allowed.
      s3EndpointAllow: "127.0.0.1/32",
      controllerArgs: ["--resync-period=3"],
    });
    try {
      await createCredentialsSecret(env.cp, env.ns, S3_CREDENTIALS, s3.credentials);
      return { env, s3, stack: env.stack, client: env.client, ns: env.ns };
    } catch (err) {
      await env.stop();
      throw err;
    }
  } catch (err) {
    await s3.close();
    throw err;
  }
}

/** Stops what `startS3Stack` started; any part may be missing when `before` failed. */
async function stopS3Stack({ s3, env }: Partial<S3Stack>): Promise<void> {
  // The clusters go while this suite's controllers run (finalizers): left on the shared plane,
  // their retries against this suite's S3 server, gone by then, would write for later suites.
  await env?.cp.kubectl(["delete", "rqb,rqc", "--all", "-n", env.ns, "--wait", "--timeout=120s"]);
  await env?.stop();
  await s3?.close();
}

/** What the controllers logged about a failed step, before their folder goes with the plane. */
function printControllerLogsIfFailed(test: Mocha.Test | undefined, stack: LocalStack | undefined): void {
  if (test?.state !== "failed") return;
  for (const c of stack?.controllers ?? []) console.log(`      ${c.proc.name}:\n${c.proc.tail(60)}`);
}
