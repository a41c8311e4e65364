// How the plugin behaves as a kubectl citizen: help with examples, exit codes, completion, the
// kubeconfig's context and namespace, and one-line errors for the usual mistakes.
import { strict as assert } from "node:assert";
import { execFile } from "node:child_process";
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { freePort } from "../../testenv/ports.js";
import { expectExit, kubectlRqlite, pluginEnv, type Run } from "./support/plugin.js";
import { cliStack, DEMO, type CliStack } from "./support/stack.js";

const COMMANDS = [
  "status",
  "query",
  "exec",
  "shell",
  "scale",
  "restart",
  "stepdown",
  "pause",
  "resume",
  "recover",
  "backup",
  "restore",
  "report",
  "version",
  "completion",
];

/** One line, no stack trace. */
const assertOneLineError = (r: Run, pattern: RegExp) => {
  assert.equal(r.stdout, "");
  assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
  assert.doesNotMatch(r.stderr, /\n\s+at /);
  assert.match(r.stderr.trim(), pattern);
};

describe("kubectl rqlite as a kubectl plugin", function () {
  this.timeout(180_000);
  let s: CliStack;
  const run = (args: string[], opts?: Parameters<typeof kubectlRqlite>[2]) => kubectlRqlite(s, args, opts);

  before(async () => {
    s = await cliStack();
  });

  it("--help of every command gives an example, and lists every command", async () => {
    const top = expectExit(await run(["--help"]), 0);
    for (const c of COMMANDS) assert.match(top.stdout, new RegExp(`^  ${c}\\b`, "m"), `${c} listed`);
    assert.doesNotMatch(top.stdout, /__complete/);
    await Promise.all(
      COMMANDS.map(async (c) => {
        const help = expectExit(await run([c, "--help"]), 0);
        assert.match(help.stdout, new RegExp(`^Usage: kubectl rqlite ${c} `, "m"), c);
        assert.match(help.stdout, /^Examples:\n {2}.*kubectl rqlite /m, c);
      }),
    );
  });

  it("exits 2 on usage errors, in one line: an unknown flag, a missing argument, a bad choice, a typo", async () => {
    const usage = async (args: string[], pattern: RegExp) =>
      assertOneLineError(expectExit(await run(args), 2), pattern);
    await usage(["status", DEMO, "--colour"], /^error: unknown option '--colour'; add --help for usage$/);
    await usage(["query", DEMO], /^error: missing required argument 'sql'; add --help for usage$/);
    await usage(
      ["status", DEMO, "-o", "xml"],
      /^error: option '-o, --output <format>' argument 'xml' is invalid\. Allowed choices are json, yaml; add --help for usage$/,
    );
    await usage(["staus"], /^error: unknown command 'staus' \(Did you mean status\?\); add --help for usage$/);
  });

  it("uses the current context's namespace, --context's, or -n's", async () => {
    // The test kubeconfig's current context "test" points at the stack's namespace.
    expectExit(await run(["status", DEMO]), 0);
    const other = expectExit(await run(["status", DEMO, "--context", "other"]), 1);
    assertOneLineError(
      other,
      /^error: RqCluster demo not found in namespace default; list them with kubectl get rqc -n default, or pass -n$/,
    );
    expectExit(await run(["status", DEMO, "--context", "other", "-n", s.namespace]), 0);
    expectExit(await run(["--namespace", s.namespace, "status", DEMO], { kubeconfig: "/nonexistent" }), 1);
    const explicit = expectExit(
      await run(["--kubeconfig", s.kubeconfig, "--context", "other", "status", DEMO, `--namespace=${s.namespace}`], {
        kubeconfig: "/nonexistent",
      }),
      0,
    );
    assert.match(explicit.stdout, new RegExp(`^RqCluster ${s.namespace}/demo: `, "m"));
    assertOneLineError(
      expectExit(await run(["status", DEMO, "--context", "nope"]), 1),
      /^error: context "nope" is not in the kubeconfig; list them with kubectl config get-contexts$/,
    );
  });

  it("says in one line when the API server cannot be reached", async () => {
    const port = await freePort();
    const dir = await mkdtemp(join(tmpdir(), "rqo-cli-unreachable-"));
    const kubeconfig = join(dir, "config");
    await writeFile(
      kubeconfig,
      JSON.stringify({
        apiVersion: "v1",
        kind: "Config",
        clusters: [
          { name: "gone", cluster: { server: `https://127.0.0.1:${port}`, "insecure-skip-tls-verify": true } },
        ],
        users: [{ name: "u", user: { token: "t" } }],
        contexts: [{ name: "gone", context: { cluster: "gone", user: "u" } }],
        "current-context": "gone",
      }),
    );
    const r = expectExit(await run(["status", DEMO], { kubeconfig }), 1);
    assertOneLineError(
      r,
      new RegExp(
        `^error: cannot reach the Kubernetes API server at https://127\\.0\\.0\\.1:${port} \\(.*ECONNREFUSED.*\\); check --kubeconfig and --context, and that the cluster is up$`,
      ),
    );
  });

  it("says in one line what RBAC forbids a user with only the view ClusterRole", async () => {
    // Without kube-controller-manager the aggregated view role has no rules yet: every read is
    // forbidden, and whichever of status's parallel reads is refused first is named.
    await s.stack.cp.kubectlOk([
      "create",
      "rolebinding",
      "viewer-view",
      "-n",
      s.namespace,
      "--clusterrole=view",
      "--user=viewer",
    ]);
    const kubeconfig = await s.stack.cp.userKubeconfig("viewer");
    const r = expectExit(await run(["status", DEMO, "-n", s.namespace], { kubeconfig }), 1);
    assertOneLineError(
      r,
      /^error: cannot (get|list) .+: forbidden by RBAC \(.*User "viewer" cannot (get|list) resource "(rqclusters|pods|persistentvolumeclaims|events)".*\); ask a cluster admin for a Role that allows it$/,
    );
  });

  it("shows rqlite's own message for an SQL error, and a missing cluster, in one line with exit 1", async () => {
    assertOneLineError(
      expectExit(await run(["query", DEMO, "SELEC 1"]), 1),
      /^error: rqlite refused the SQL: near "SELEC": syntax error$/,
    );
    assertOneLineError(
      expectExit(await run(["exec", "nope", "DELETE FROM t"]), 1),
      /^error: RqCluster nope not found in namespace /,
    );
  });

  it("completion bash completes commands, flags, flag values and cluster names in a real bash", async () => {
    const script = expectExit(await run(["completion", "bash"]), 0).stdout;
    const complete = async (line: string) => {
      const words = line.split(" ");
      const { stdout } = await promisify(execFile)(
        "bash",
        [
          "-c",
          `${script}\nCOMP_WORDS=(${words.map((w) => `'${w}'`).join(" ")}); COMP_CWORD=${words.length - 1}; _kubectl_rqlite; printf '%s\\n' "\${COMPREPLY[@]}"`,
        ],
        { env: pluginEnv(s) },
      );
      return stdout.trim().split("\n").filter(Boolean).sort();
    };
    assert.deepEqual(await complete("kubectl-rqlite st"), ["status", "stepdown"]);
    assert.deepEqual(await complete("kubectl-rqlite status "), await clusterNames(s));
    assert.deepEqual(await complete("kubectl-rqlite query demo x --level s"), ["strong"]);
    assert.ok((await complete("kubectl-rqlite status demo --")).includes("--output"));
    assert.deepEqual(await complete(`kubectl-rqlite -n ${s.namespace.slice(0, -1)}`), [s.namespace]);
    const zsh = expectExit(await run(["completion", "zsh"]), 0).stdout;
    assert.match(zsh, /^#compdef kubectl-rqlite$/m);
    assert.match(zsh, /kubectl-rqlite __complete/);
    expectExit(await run(["completion", "fish"]), 2);
  });

  it("kubectl completes `kubectl rqlite` through kubectl_complete-rqlite", async () => {
    const { stdout } = await promisify(execFile)("kubectl", ["__complete", "rqlite", "status", "de"], {
      env: pluginEnv(s),
    });
    assert.deepEqual(stdout.trim().split("\n").slice(0, 2), [DEMO, ":4"]);
  });
});

async function clusterNames(s: CliStack): Promise<string[]> {
  const names = await s.stack.cp.kubectlOk([
    "get",
    "rqc",
    "-n",
    s.namespace,
    "-o",
    "jsonpath={.items[*].metadata.name}",
  ]);
  return names.trim().split(" ").sort();
}
