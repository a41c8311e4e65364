import { strict as assert } from "node:assert";
import { compareQuantities, parseQuantity, type Quantity } from "../../../shared/quantity.js";

const q = (s: string | number): Quantity => {
  const parsed = parseQuantity(s);
  assert.ok(parsed, `${String(s)} should parse`);
  return parsed;
};
const same = (a: string | number, b: string | number) => assert.equal(compareQuantities(q(a), q(b)), 0, `${a} == ${b}`);
const less = (a: string | number, b: string | number) => assert.equal(compareQuantities(q(a), q(b)), -1, `${a} < ${b}`);

describe("quantities", () => {
  it("parses binary suffixes", () => {
    same("1Ki", 1024);
    same("1Mi", "1024Ki");
    same("1Gi", 1073741824);
    same("1Ti", "1024Gi");
    same("1Pi", "1024Ti");
    same("1Ei", "1024Pi");
    same("1.5Gi", "1536Mi");
  });

  it("parses decimal suffixes, millis and exponents", () => {
    same("1k", 1000);
    same("1M", "1000k");
    same("1G", "1e9");
    same("1T", "1E12");
    same("1P", "1e15");
    same("1E", "1e18");
    same("500m", 0.5);
    same("100m", "0.1");
    same("1n", "1e-9");
    same("1u", "1000n");
    same("12e+3", "12k");
    same(".5", "500m");
    same("5.", 5);
    same("+2", 2);
  });

  it("orders across notations", () => {
    less("64M", "64Mi");
    less("63Mi", "64Mi");
    less("999m", 1);
    less("-1", "0");
    less("1e-3", "2m");
  });

  it("rejects what Kubernetes rejects", () => {
    for (const bad of [
      "",
      "Gi",
      "1.5.5Gi",
      "1gi",
      "1 Gi",
      "1KiB",
      "1e",
      "1e3Gi",
      "--1",
      "1e1.5",
      "0x10",
      "Infinity",
      "1e1001",
    ]) {
      assert.equal(parseQuantity(bad), undefined, bad);
    }
    for (const bad of [NaN, Infinity, null, undefined, {}, [], true])
      assert.equal(parseQuantity(bad), undefined, JSON.stringify(bad) ?? "undefined");
  });

  it("answers the same from its cache, past its bound, and for texts too long to cache", () => {
    const first = q("1536Mi");
    assert.ok(Object.isFrozen(first), "a cached quantity is shared, so it must not be changeable");
    for (let i = 0; i < 2000; i++) same(`${i}Ki`, i * 1024);
    assert.deepEqual(q("1536Mi"), first);
    assert.equal(parseQuantity("1.5.5Gi"), undefined);
    assert.equal(parseQuantity("1.5.5Gi"), undefined);
    const long = `${"0".repeat(100)}1Gi`;
    same(long, "1Gi");
    same(long, 2 ** 30);
  });
});
