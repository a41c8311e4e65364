// A cluster on rqlite 8.36, older than POST /leader (8.41): stepdown says what to do instead.
import { strict as assert } from "node:assert";
import { expectExit, kubectlRqlite } from "./support/plugin.js";
import { cliStack, startCluster, type CliStack } from "./support/stack.js";

const OLD = "old";

describe("kubectl rqlite on an older rqlite", function () {
  this.timeout(240_000);
  let s: CliStack;

  before(async () => {
    s = await cliStack();
    await startCluster(s, OLD, { replicas: 1, image: "rqlite/rqlite:8.36.0" });
  });

  it("stepdown refuses with the version and what to do instead; version shows the nodes' rqlite", async () => {
    const r = expectExit(await kubectlRqlite(s, ["stepdown", OLD]), 1);
    assert.equal(
      r.stderr.trim(),
      "error: rqlite v8.36.0 cannot move leadership on request (POST /leader came in v8.41); upgrade the cluster's image, or delete the leader's Pod old-0 to force an election",
    );
    const v = expectExit(await kubectlRqlite(s, ["version", OLD, "-o", "yaml"]), 0);
    assert.match(v.stdout, /^nodes:\n {2}- name: old-0\n {4}version: v8\.36\.0$/m);
  });
});
