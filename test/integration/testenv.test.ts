import { strict as assert } from "node:assert";
import { execFile, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { buildBinaries, cacheAssetsDir, RQLITED_TOOLS, resolveAssets } from "../../testenv/assets.js";
import { startControlPlane, type ControlPlane } from "../../testenv/controlplane.js";
import { installCRDs } from "../../testenv/crds.js";
import { eventually } from "../../testenv/eventually.js";
import { isAlive } from "../../testenv/processes.js";
import { createTestNamespace, sharedControlPlane } from "../../testenv/shared.js";

const run = promisify(execFile);
const root = fileURLToPath(new URL("../..", import.meta.url));
const widgetsCrd = join(root, "test/fixtures/widgets-crd.yaml");

describe("test control plane", () => {
  let cp: ControlPlane;
  let ns: string;

  before(async () => {
    cp = await sharedControlPlane();
    ns = await createTestNamespace(cp, "testenv");
  });

  it("serves /readyz to the admin kubeconfig", async () => {
    const out = await cp.kubectlOk(["get", "--raw", "/readyz"]);
    assert.equal(out.trim(), "ok");
    const version = JSON.parse(await cp.kubectlOk(["get", "--raw", "/version"])) as { gitVersion: string };
    assert.match(version.gitVersion, /^v1\.34\./);
    console.log(`      control plane started in ${(cp.startupMs / 1000).toFixed(1)} s`);
  });

  it("installs a CRD and waits until it is Established", async () => {
    const names = await installCRDs(cp, [widgetsCrd]);
    assert.deepEqual(names, ["widgets.testenv.rqlite.io"]);
    const crd = JSON.parse(await cp.kubectlOk(["get", "crd", "widgets.testenv.rqlite.io", "-o", "json"])) as {
      status: { conditions: { type: string; status: string }[] };
    };
    const established = crd.status.conditions.find((c) => c.type === "Established");
    assert.equal(established?.status, "True");
  });

  it("round-trips a custom resource through kubectl apply", async () => {
    await installCRDs(cp, [widgetsCrd]);
    const manifest = JSON.stringify({
      apiVersion: "testenv.rqlite.io/v1",
      kind: "Widget",
      metadata: { name: "w1", namespace: ns },
      spec: { size: 3, colour: "teal" },
    });
    await cp.kubectlOk(["apply", "-f", "-"], { input: manifest });
    const got = JSON.parse(await cp.kubectlOk(["get", "widget", "w1", "-n", ns, "-o", "json"])) as { spec: unknown };
    assert.deepEqual(got.spec, { size: 3, colour: "teal" });
    const bad = await cp.kubectl(["apply", "-f", "-"], { input: manifest.replace('"size":3', '"size":0') });
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /spec\.size/);
  });

  it("enforces RBAC: an unprivileged user is denied until a Role grants access", async () => {
    const jane = await cp.userKubeconfig("jane");
    const denied = await cp.kubectl(["get", "configmaps", "-n", ns], { kubeconfig: jane });
    assert.notEqual(denied.code, 0);
    assert.match(denied.stderr, /forbidden: User "jane" cannot list resource "configmaps"/);
    await cp.kubectlOk(["create", "role", "cm-reader", "-n", ns, "--verb=list", "--resource=configmaps"]);
    await cp.kubectlOk(["create", "rolebinding", "jane-cm", "-n", ns, "--role=cm-reader", "--user=jane"]);
    // RBAC is evaluated from an informer cache; give it a moment to see the binding.
    const deadline = Date.now() + 10_000;
    let allowed = await cp.kubectl(["get", "configmaps", "-n", ns], { kubeconfig: jane });
    while (allowed.code !== 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 200));
      allowed = await cp.kubectl(["get", "configmaps", "-n", ns], { kubeconfig: jane });
    }
    assert.equal(allowed.code, 0, allowed.stderr);
    const stillDenied = await cp.kubectl(["get", "secrets", "-n", ns], { kubeconfig: jane });
    assert.match(stillDenied.stderr, /forbidden/);
  });

  it("authenticates a ServiceAccount with a TokenRequest token", async () => {
    await cp.kubectlOk(["create", "serviceaccount", "robot", "-n", ns]);
    const kc = await cp.serviceAccountKubeconfig(ns, "robot");
    const who = await cp.kubectl(["auth", "whoami", "-o", "jsonpath={.status.userInfo.username}"], { kubeconfig: kc });
    assert.equal(who.stdout, `system:serviceaccount:${ns}:robot`);
  });
});

describe("test control plane lifecycle", () => {
  it("stops every process and removes its folder on stop()", async () => {
    const cp = await startControlPlane();
    const { pids, dir } = cp;
    assert.equal(pids.length, 2);
    assert.ok(pids.every(isAlive) && existsSync(dir));
    await cp.stop();
    assert.deepEqual(pids.filter(isAlive), []);
    assert.equal(existsSync(dir), false);
  });

  for (const signal of ["SIGINT", "SIGKILL"] as const) {
    it(`leaves no process or folder behind when its owner gets ${signal}`, async function () {
      const child = spawn(process.execPath, ["--import", "tsx", join(root, "testenv/cli.ts")], {
        cwd: root,
        stdio: ["ignore", "pipe", "pipe"],
        env: { ...process.env, TESTENV_QUIET: "1" },
      });
      let out = "";
      child.stdout.on("data", (d: Buffer) => (out += d.toString()));
      const exited = new Promise((r) => child.once("exit", r));
      await eventually("testenv to print its pids", () => /pids [\d ]+ dir \S+/.test(out), 60_000);
      const [, pidList, dir] = /pids ([\d ]+) dir (\S+)/.exec(out)!;
      const pids = pidList!.trim().split(" ").map(Number);
      assert.ok(pids.every(isAlive) && existsSync(dir!));
      child.kill(signal);
      await exited;
      await eventually("every control-plane process to exit", () => pids.every((p) => !isAlive(p)));
      await eventually("the temp folder to be removed", () => !existsSync(dir!));
    });
  }
});

describe("test control plane: bad input gets a one-line cause and fix", () => {
  let held: Server;
  let scratch: string;

  before(async () => {
    scratch = await mkdtemp(join(tmpdir(), "rqo-badinput-"));
  });
  after(async () => {
    held?.close();
    await rm(scratch, { recursive: true, force: true });
  });

  function oneLine(err: unknown): string {
    assert.ok(err instanceof Error);
    assert.equal(err.message.includes("\n"), false, `not one line: ${err.message}`);
    assert.doesNotMatch(err.message, /\bat .*\.(ts|js):\d+/);
    return err.message;
  }

  it("a port clash names the port and what to do", async () => {
    held = createServer().listen(0, "127.0.0.1");
    await new Promise((r) => held.once("listening", r));
    const port = (held.address() as { port: number }).port;
    const err = await startControlPlane({ apiPort: port }).then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.match(oneLine(err), new RegExp(`port 127\\.0\\.0\\.1:${port} is already in use.*leave the port unset`));
  });

  it("a missing Go toolchain says to install Go or set KUBEBUILDER_ASSETS", async () => {
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      PATH: "/usr/bin:/bin",
      RQLITE_OPERATOR_CACHE: scratch,
      TESTENV_QUIET: "1",
    };
    delete env.KUBEBUILDER_ASSETS;
    const err = await resolveAssets(env).then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.match(oneLine(err), /Go toolchain is not on PATH; install Go .* or set KUBEBUILDER_ASSETS/);
  });

  it("a failed module download names the proxy to check", async () => {
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      RQLITE_OPERATOR_CACHE: scratch,
      TESTENV_QUIET: "1",
      // A closed loopback port: the download fails at once, and nothing leaves the machine.
      GOPROXY: "http://127.0.0.1:9",
      GOMODCACHE: join(scratch, "modcache"),
      GOFLAGS: "",
    };
    delete env.KUBEBUILDER_ASSETS;
    const err = await resolveAssets(env).then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.match(oneLine(err), /a Go module download failed .*check network access to GOPROXY=http:\/\/127\.0\.0\.1:9/);
  });

  it("KUBEBUILDER_ASSETS without the binaries says what is missing", async () => {
    const env = { ...process.env, KUBEBUILDER_ASSETS: scratch, TESTENV_QUIET: "1" };
    const err = await resolveAssets(env).then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.match(oneLine(err), /KUBEBUILDER_ASSETS=.* has no executable kube-apiserver/);
  });

  it("KUBEBUILDER_ASSETS with the binaries is used as is, and a warm cache never rebuilds", async () => {
    const assets = await resolveAssets({ ...process.env, TESTENV_QUIET: "1" });
    const started = Date.now();
    assert.equal(await resolveAssets({ ...process.env, TESTENV_QUIET: "1" }), assets);
    assert.ok(Date.now() - started < 5000, "a warm cache must answer in seconds");
    assert.equal(await resolveAssets({ ...process.env, KUBEBUILDER_ASSETS: assets, TESTENV_QUIET: "1" }), assets);
  });

  it("builds both pinned rqlited versions, found by version for the local runtime", async function () {
    // Warm after `npm test`'s up-front build; a cold cache builds both here (minutes on 2 cores).
    this.timeout(900_000);
    await buildBinaries(RQLITED_TOOLS, { ...process.env, TESTENV_QUIET: "1" });
    for (const version of ["8.43.4", "8.36.0"]) {
      const { stdout, stderr } = await run(join(cacheAssetsDir(), `rqlited-${version}`), ["-version"]);
      assert.match(stdout + stderr, new RegExp(`^rqlited v${version.replace(/\./g, "\\.")} `));
    }
  });
});
