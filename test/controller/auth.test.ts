import { strict as assert } from "node:assert";
import { mergeUsers } from "../../controller/rqcluster/auth.js";

const op = { username: "rqlite-operator", password: "s3cret" };

describe("auth: the operator's system user", () => {
  it("adds the operator with every permission and lets probes ask /readyz anonymously", () => {
    const merged = JSON.parse(
      mergeUsers(JSON.stringify([{ username: "app", password: "p", perms: ["query"] }]), "users", op),
    );
    assert.deepEqual(merged, [
      { username: "app", password: "p", perms: ["query"] },
      { username: "*", perms: ["ready"] },
      { username: "rqlite-operator", password: "s3cret", perms: ["all"] },
    ]);
  });

  it("keeps an anonymous entry and adds only ready to it", () => {
    const merged = JSON.parse(mergeUsers(JSON.stringify([{ username: "*", perms: ["status", "ready"] }]), "users", op));
    assert.deepEqual(merged[0], { username: "*", perms: ["status", "ready"] });
    assert.equal(merged.length, 2);
  });

  it("rejects what rqlite could not load, naming the Secret and the fix", () => {
    assert.throws(
      () => mergeUsers("{", "Secret ns/u key users.json", op),
      /Secret ns\/u key users\.json is not valid JSON/,
    );
    assert.throws(() => mergeUsers('{"a":1}', "S", op), /S must be a JSON list of users/);
    assert.throws(
      () => mergeUsers('[{"username":"rqlite-operator"}]', "S", op),
      /reserves for itself; rename that user/,
    );
  });
});
