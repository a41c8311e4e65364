import { strict as assert } from "node:assert";
import { readdirSync, readFileSync } from "node:fs";
import { canTransferLeadership } from "../../../controller/rqlite/adapter.js";
import { readNodes } from "../../../controller/rqlite/shapes.js";
import { parseImageReference } from "../../../shared/image.js";
import {
  bundlesNonOpenSourceExtension,
  compareVersions,
  flagsOf,
  formatVersion,
  joinProblem,
  NEWEST_KNOWN_RQLITE,
  parseRqliteVersion,
  supports,
  TESTED_RQLITE_VERSIONS,
  versionChangeProblem,
  type FlagKind,
} from "../../../shared/rqlite-versions.js";
import { DEFAULT_IMAGE } from "../../../shared/schema.js";

const fixture = (path: string) => new URL(`../../fixtures/rqlite/${path}`, import.meta.url);
const v = (text: string) => parseRqliteVersion(text)!;

interface FlagChanges {
  releases: string[];
  changes: Array<{ version: string; added?: Record<string, FlagKind>; removed?: string[] }>;
}

/** Flags the source parses before they do anything, so the table lists them from later on. */
const INERT_BEFORE: Record<string, string> = { "cdc-config": "9.0.0" };

describe("rqlite versions", () => {
  it("knows every release's flags as rqlite's source at its tag has them", () => {
    const history = JSON.parse(readFileSync(fixture("flags-by-release.json"), "utf8")) as FlagChanges;
    const flags = new Map<string, FlagKind>();
    let checked = 0;
    for (const release of history.releases) {
      const change = history.changes.find((c) => c.version === release);
      for (const [name, kind] of Object.entries(change?.added ?? {})) flags.set(name, kind);
      for (const name of change?.removed ?? []) flags.delete(name);
      const expected = new Map(
        [...flags].filter(
          ([name]) => !(name in INERT_BEFORE) || compareVersions(v(release), v(INERT_BEFORE[name]!)) >= 0,
        ),
      );
      assert.deepEqual(
        [...flagsOf(v(release))].sort(),
        [...expected].sort(),
        `flags of rqlite ${release} differ from its source`,
      );
      checked++;
    }
    assert.equal(checked, 165);
    assert.equal(history.releases.at(-1), NEWEST_KNOWN_RQLITE);
  });

  it("tests what the end-to-end suite runs, and defaults to the newest of it", () => {
    const pinned = readdirSync(new URL("../../../hack/tools/", import.meta.url))
      .filter((d) => d.startsWith("rqlited"))
      .map((d) => {
        const goMod = readFileSync(new URL(`../../../hack/tools/${d}/go.mod`, import.meta.url), "utf8");
        return /^require github\.com\/rqlite\/rqlite\/v\d+ v(\S+)$/m.exec(goMod)![1]!;
      });
    assert.deepEqual([...TESTED_RQLITE_VERSIONS].sort(), pinned.sort());
    const defaultTag = parseImageReference(DEFAULT_IMAGE)!.tag!;
    assert.ok(TESTED_RQLITE_VERSIONS.includes(defaultTag), `${DEFAULT_IMAGE} is not a tested version`);
    const newest = [...TESTED_RQLITE_VERSIONS].sort((a, b) => compareVersions(v(b), v(a)))[0];
    assert.equal(defaultTag, newest);
  });

  it("parses rqlite tags", () => {
    assert.deepEqual(parseRqliteVersion("v9.1"), { major: 9, minor: 1, patch: 0 });
    assert.equal(formatVersion(v("10.2.0-alpine")), "10.2.0");
    assert.deepEqual(parseRqliteVersion("8.36.2-alpine"), { major: 8, minor: 36, patch: 2 });
    for (const t of [undefined, "latest", "10", "main", "x10.2.0"])
      assert.equal(parseRqliteVersion(t), undefined, String(t));
  });

  it("knows when each HTTP API feature arrived", () => {
    assert.equal(canTransferLeadership("v8.41.0"), true);
    assert.equal(canTransferLeadership("v8.40.9"), false); // stepdown, but to no chosen node
    assert.equal(supports(v("8.40.0"), "leaderStepdown"), true);
    assert.equal(canTransferLeadership("v10.2.7"), true);
    assert.equal(canTransferLeadership(undefined), false);
    assert.equal(supports(v("8.20.9"), "readyzSync"), false);
    assert.equal(supports(v("8.21.0"), "readyzSync"), true);
    assert.equal(supports(v("9.2.1"), "licenses"), false);
    assert.equal(supports(v("9.2.2"), "licenses"), true);
  });

  it("reads the leader's version from real /nodes answers where the version has one", () => {
    const leaderVersion = (dir: string) => {
      const nodes = readNodes(JSON.parse(readFileSync(fixture(`${dir}/nodes-v2.json`), "utf8")));
      return nodes.find((n) => n.leader)?.version;
    };
    assert.equal(leaderVersion("v8.43.4"), "v8.43.4");
    assert.equal(canTransferLeadership(leaderVersion("v8.43.4")), true);
    // 8.36.0 reports no versions (8.36.3 added them): the controller then lets the leader step
    // down as it stops instead of naming its successor.
    assert.equal(leaderVersion("v8.36.0"), undefined);
    assert.equal(canTransferLeadership(leaderVersion("v8.36.0")), false);
  });

  it("allows the version changes rqlite supports in place", () => {
    const change = (from: string, to: string) => versionChangeProblem(v(from), v(to));
    for (const [from, to] of [
      ["8.36.0", "8.43.4"],
      ["8.43.4", "8.36.0"],
      ["8.43.4", "9.4.5"],
      ["9.4.5", "8.43.4"], // "You can also downgrade back to an 8.x release" (CHANGELOG v9.0.0)
      ["9.4.5", "10.2.7"],
      ["10.2.7", "10.1.0"],
    ])
      assert.equal(change(from!, to!), undefined, `${from} -> ${to}`);
    assert.match(
      change("10.0.0", "9.4.5")!,
      /does not support downgrading from major version 10 to 9 in place; back up/,
    );
    assert.match(change("10.0.0", "8.43.4")!, /does not support downgrading from major version 10 to 8/);
    assert.equal(change("8.43.4", "10.2.7"), "upgrade to major version 9 first, one major version at a time");
  });

  it("knows that rqlite 10 nodes join no older cluster", () => {
    assert.equal(
      joinProblem(v("10.2.7"), [v("10.2.7"), v("9.4.5")]),
      "a new rqlite 10.2.7 node cannot join a cluster with members on 9.4.5 (rqlite 10.x nodes join only clusters already on 10.x)",
    );
    assert.equal(joinProblem(v("10.2.7"), [v("10.0.0")]), undefined);
    assert.equal(joinProblem(v("9.4.5"), [v("8.43.4")]), undefined);
    assert.equal(joinProblem(v("8.43.4"), [v("9.4.5")]), undefined);
  });

  it("knows which images bundle an extension under a licence that is not open source", () => {
    assert.equal(bundlesNonOpenSourceExtension("rqlite/rqlite", v("9.2.2")), true);
    assert.equal(bundlesNonOpenSourceExtension("ghcr.io/rqlite/rqlite", v("10.2.7")), true);
    assert.equal(bundlesNonOpenSourceExtension("rqlite/rqlite", v("9.2.1")), false);
    assert.equal(bundlesNonOpenSourceExtension("registry.example.com/rqlite", v("10.2.7")), false);
  });
});
