import { strict as assert } from "node:assert";
import { readFileSync } from "node:fs";
import { generatedFiles, repoPath } from "../../../hack/generate.js";

describe("generated files", () => {
  for (const [path, expected] of Object.entries(generatedFiles())) {
    it(`${path} matches shared/schema.ts`, () => {
      let committed: string | undefined;
      try {
        committed = readFileSync(repoPath(path), "utf8");
      } catch {
        committed = undefined;
      }
      assert.ok(committed === expected, `${path} is stale or missing: run \`npm run generate\` and commit the result`);
    });
  }
});
