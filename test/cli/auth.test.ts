// A cluster with spec.auth: kube-apiserver drops the Authorization header once it has
// authenticated the caller, so rqlite's basic auth cannot ride through pods/proxy. The plugin
// says so in one line instead of a bare 401.
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

  it("explains that the pod proxy cannot pass rqlite's credentials, and status still shows the Kubernetes side", async () => {
    const query = expectExit(await kubectlRqlite(s, ["query", LOCKED, "SELECT 1"]), 1);
    assert.match(
      query.stderr,
      /^error: cannot run the query on node locked-0: rqlite asks for credentials, which the API server's pod proxy does not pass on; this cluster runs with spec\.auth, reach it with rqlite's own client instead$/m,
    );
    const status = expectExit(await kubectlRqlite(s, ["status", LOCKED]), 0);
    assert.match(status.stdout, new RegExp(`^RqCluster ${s.namespace}/${LOCKED}: Running`, "m"));
    assert.match(status.stdout, /^ {2}locked-0: cannot read \/status on node locked-0: rqlite asks for credentials/m);
  });
});
