import { strict as assert } from "node:assert";
import {
  configMapKey,
  dns1035Label,
  dns1123Label,
  dns1123Subdomain,
  envVarName,
  labelValue,
  qualifiedName,
} from "../../../shared/k8s-names.js";
import { parseImageReference } from "../../../shared/image.js";

function valid(check: (v: string) => string[], ...values: string[]) {
  for (const v of values) assert.deepEqual(check(v), [], `${JSON.stringify(v)} should be valid`);
}
function invalid(check: (v: string) => string[], ...values: string[]) {
  for (const v of values) assert.notDeepEqual(check(v), [], `${JSON.stringify(v)} should be invalid`);
}

describe("Kubernetes name syntaxes", () => {
  it("DNS labels and subdomains", () => {
    valid(dns1035Label, "a", "demo", "my-db-1", "a".repeat(63));
    invalid(dns1035Label, "", "1abc", "Demo", "a_b", "a-", "a".repeat(64), "a.b");
    valid(dns1123Label, "1abc", "x");
    invalid(dns1123Label, "-a", "A");
    valid(dns1123Subdomain, "example.com", "a-b.c", "1.2");
    invalid(dns1123Subdomain, "", "a..b", ".a", "A.com", `${"a".repeat(250)}.com`);
  });

  it("qualified names, label values, config keys and env names", () => {
    valid(qualifiedName, "kubernetes.io/hostname", "topology.kubernetes.io/zone", "team", "My.Key_1");
    invalid(qualifiedName, "", "/x", "a/", "a/b/c", "-a", "UPPER.com/x", `x/${"a".repeat(64)}`, "a b");
    valid(labelValue, "", "v1.2", "a_b");
    invalid(labelValue, "a b", "-a", "a".repeat(64));
    valid(configMapKey, "pod-template.json", "a_b.c");
    invalid(configMapKey, "a/b", ".", "..", "");
    valid(envVarName, "A", "MY_VAR", "1.x-y");
    invalid(envVarName, "", "A=B", "tab\there");
  });
});

describe("image references", () => {
  it("parses references the way container runtimes do", () => {
    assert.deepEqual(parseImageReference("rqlite/rqlite:10.2.0"), { path: "rqlite/rqlite", tag: "10.2.0" });
    assert.deepEqual(parseImageReference("rqlite"), { path: "rqlite" });
    assert.deepEqual(parseImageReference("localhost:5000/db/rqlite:8.0.0"), {
      domain: "localhost:5000",
      path: "db/rqlite",
      tag: "8.0.0",
    });
    assert.deepEqual(parseImageReference("ghcr.io/x/y@sha256:" + "a".repeat(64)), {
      domain: "ghcr.io",
      path: "x/y",
      digest: "sha256:" + "a".repeat(64),
    });
    assert.equal(parseImageReference("localhost/x:1")?.domain, "localhost");
    assert.equal(
      parseImageReference("Registry/x")?.domain,
      "Registry",
      "an uppercase first component can only be a host",
    );
    for (const bad of [
      "",
      "x/UPPER",
      "rqlite/rqlite:",
      "a b",
      "rqlite:10:2",
      "x@sha256:abc",
      "-x",
      ":1",
      `${"a".repeat(256)}`,
    ]) {
      assert.equal(parseImageReference(bad), undefined, bad);
    }
  });
});
