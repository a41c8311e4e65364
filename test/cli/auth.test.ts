// A cluster with spec.auth: kube-apiserver drops the Authorization header once it has
// authenticated the caller, so rqlite's basic auth cannot ride through pods/proxy, and the plugin
// takes a port-forward instead, which needs the kubelet of the Pod's node. The local runtime
// runs none, so here both ways fail, each said in one line instead of a bare 401 or a hang;
// test/real/local.test.ts shows the port-forward working under real kubelets.
import { strict as assert } from "node:assert";
import { expectExit, kubectlRqlite } from "./support/plugin.js";
import { cliStack, startCluster, type CliStack } from "./support/stack.js";

const LOCKED = "locked";

describe("kubectl rqlite on a cluster with spec.auth", function () {
  this.timeout(240_000);
  let s: CliStack;

  before(async () => {
    s = await cliStack();
    const users = [{ username: "app", password: "app-password-1", perms: ["all"] }];
    await s.stack.cp.kubectlOk([
      "create",
      "secret",
      "generic",
      "locked-users",
      "-n",
      s.namespace,
      `--from-literal=users.json=${JSON.stringify(users)}`,
    ]);
    await startCluster(s, LOCKED, { replicas: 1, auth: { secretName: "locked-users" } });
  });

  it("takes a port-forward for it, and says that a simulated runtime has no kubelet to open one; status still shows the Kubernetes side", async () => {
    const query = expectExit(await kubectlRqlite(s, ["query", LOCKED, "SELECT 1"]), 1);
    assert.match(
      query.stderr,
      /^error: cannot run the query on node locked-0: no port-forward to Pod locked-0 \(the Pod is on no node, so no kubelet can open a port-forward to it\); a port-forward goes through the kubelet of the Pod's node, which a simulated runtime \(npm run local without --real\) does not run$/m,
    );
    const status = expectExit(await kubectlRqlite(s, ["status", LOCKED]), 0);
    assert.match(status.stdout, new RegExp(`^RqCluster ${s.namespace}/${LOCKED}: Running`, "m"));
    assert.match(
      status.stdout,
      /^ {2}locked-0: cannot read \/status on node locked-0: no port-forward to Pod locked-0 /m,
    );
  });

  it("explains that the pod proxy cannot pass rqlite's credentials when it is asked for", async () => {
    const query = expectExit(await kubectlRqlite(s, ["query", LOCKED, "SELECT 1", "--transport", "proxy"]), 1);
    assert.match(
      query.stderr,
      /^error: cannot run the query on node locked-0: rqlite asks for credentials, which the API server's pod proxy does not pass on; this cluster runs with spec\.auth: use --transport port-forward$/m,
    );
  });

  it("refuses --rqlite-user without RQLITE_PASSWORD, and a --transport it does not know", async () => {
    const user = expectExit(
      await kubectlRqlite(s, ["query", LOCKED, "SELECT 1", "--rqlite-user", "app"], { env: { RQLITE_PASSWORD: "" } }),
      1,
    );
    assert.match(
      user.stderr,
      /^error: --rqlite-user app needs the password in the environment variable RQLITE_PASSWORD$/m,
    );
    const transport = expectExit(await kubectlRqlite(s, ["query", LOCKED, "SELECT 1", "--transport", "ssh"]), 2);
    assert.match(transport.stderr, /--transport.*ssh.*proxy, port-forward/);
  });
});
