import { strict as assert } from "node:assert";
import { apiPath, objectPath, PathSegmentError, resourcePath } from "../../../../controller/runtime/paths.js";

// The hostile names of issue 18: each must either be refused or stay one segment, so that
// neither `new URL` nor the API server can read it as a way to another namespace.
describe("API paths", () => {
  it("builds collection, object and subresource paths for core and grouped APIs", () => {
    assert.equal(objectPath({ apiVersion: "v1", resource: "pods", namespace: "db" }), "/api/v1/namespaces/db/pods");
    assert.equal(
      objectPath({ apiVersion: "rqlite.io/v1alpha1", resource: "rqbackups", namespace: "db", name: "b-1" }),
      "/apis/rqlite.io/v1alpha1/namespaces/db/rqbackups/b-1",
    );
    assert.equal(resourcePath("v1", "Pod", "db", "x-0", "eviction"), "/api/v1/namespaces/db/pods/x-0/eviction");
    assert.equal(
      resourcePath("policy/v1", "PodDisruptionBudget", "db"),
      "/apis/policy/v1/namespaces/db/poddisruptionbudgets",
    );
    assert.equal(objectPath({ apiVersion: "v1", resource: "nodes", name: "n1" }), "/api/v1/nodes/n1");
  });

  for (const [name, why] of [
    ["..", 'may not be ".."'],
    [".", 'may not be "."'],
    ["", "is empty"],
    ["../../victim/secrets/s3", 'may not contain "/"'],
    ["victim/s3", 'may not contain "/"'],
    ["%2e%2e", 'may not contain "%"'],
    ["..%2F..%2Fvictim%2Fsecrets%2Fs3", 'may not contain "%"'],
  ]) {
    it(`refuses the Secret name ${JSON.stringify(name)}, saying why`, () => {
      assert.throws(
        () => resourcePath("v1", "Secret", "tenant", name),
        (err: Error) =>
          err instanceof PathSegmentError && err.message === `secrets name ${JSON.stringify(name)} ${why}`,
      );
    });
  }

  it("refuses a hostile namespace or subresource as well", () => {
    assert.throws(() => objectPath({ apiVersion: "v1", resource: "secrets", namespace: "..", name: "s3" }), {
      message: 'namespace ".." may not be ".."',
    });
    assert.throws(
      () => objectPath({ apiVersion: "v1", resource: "pods", namespace: "a", name: "p", subresource: "../x" }),
      {
        message: 'subresource "../x" may not contain "/"',
      },
    );
  });

  it("encodes what a segment may hold, so the URL keeps it as one segment", () => {
    const path = resourcePath("v1", "Pod", "db", "https:x-0:4001", "proxy");
    assert.equal(path, "/api/v1/namespaces/db/pods/https%3Ax-0%3A4001/proxy");
    const odd = apiPath(["a b", "c?d", "e#f"]);
    assert.equal(odd, "/a%20b/c%3Fd/e%23f");
    // new URL neither collapses nor splits what was encoded.
    assert.equal(new URL(`https://127.0.0.1:6443${odd}`).pathname, odd);
  });
});
