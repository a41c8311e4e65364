import { strict as assert } from "node:assert";
import { formatErrors, formatFieldError, type FieldError } from "../../../shared/field-errors.js";

const replicas: FieldError = { field: "spec.replicas", type: "Invalid", value: 12, message: "must be between 1 and 9" };
const pullPolicy: FieldError = {
  field: "spec.imagePullPolicy",
  type: "Unsupported",
  value: "Sometimes",
  message: 'supported values: "Always", "IfNotPresent", "Never"',
};

describe("field error rendering", () => {
  it("renders like Kubernetes' field.Error", () => {
    assert.equal(formatFieldError(replicas), "spec.replicas: Invalid value: 12: must be between 1 and 9");
    assert.equal(
      formatFieldError(pullPolicy),
      'spec.imagePullPolicy: Unsupported value: "Sometimes": supported values: "Always", "IfNotPresent", "Never"',
    );
    assert.equal(
      formatFieldError({ field: "spec.auth.secretName", type: "Required", message: "" }),
      "spec.auth.secretName: Required value",
    );
    assert.equal(
      formatFieldError({ field: "spec.x", type: "Forbidden", value: 1, message: "set by the operator" }),
      "spec.x: Forbidden: set by the operator",
    );
    assert.equal(
      formatFieldError({
        field: "metadata.name",
        type: "TooLong",
        value: "a",
        message: "may not be more than 54 characters",
      }),
      "metadata.name: Too long: may not be more than 54 characters",
    );
    assert.equal(
      formatFieldError({ field: "a[1].name", type: "Duplicate", value: "x", message: "" }),
      'a[1].name: Duplicate value: "x"',
    );
    assert.equal(
      formatFieldError({ field: "spec", type: "TypeInvalid", value: null, message: "must be of type object" }),
      "spec: Invalid value: null: must be of type object",
    );
    assert.equal(
      formatFieldError({ field: "spec", type: "TypeInvalid", value: { a: [1] }, message: "m" }),
      'spec: Invalid value: {"a":[1]}: m',
    );
  });

  it("aggregates like the apiserver's Invalid status", () => {
    const kind = "RqCluster.rqlite.io";
    assert.equal(
      formatErrors(kind, "demo", [replicas]),
      'RqCluster.rqlite.io "demo" is invalid: spec.replicas: Invalid value: 12: must be between 1 and 9',
    );
    assert.equal(
      formatErrors(kind, "demo", [replicas, pullPolicy, replicas]),
      `RqCluster.rqlite.io "demo" is invalid: [${formatFieldError(replicas)}, ${formatFieldError(pullPolicy)}]`,
    );
    assert.equal(formatErrors(kind, "demo", []), 'RqCluster.rqlite.io "demo" is invalid');
  });
});
