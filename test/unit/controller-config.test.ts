// The controller's bounds flags (controller/config.ts): defaults, values, and bad input refused
// with the flag named.
import { strict as assert } from "node:assert";
import { parseControllerConfig } from "../../controller/config.js";

describe("controller flags: backup bounds", () => {
  it("defaults to 2 workers, 1 per namespace and a one-hour deadline", () => {
    const cfg = parseControllerConfig([], {});
    assert.equal(cfg.backupWorkers, 2);
    assert.equal(cfg.backupMaxPerNamespace, 1);
    assert.equal(cfg.backupDeadlineMs, 3_600_000);
  });

  it("takes the values given", () => {
    const cfg = parseControllerConfig(
      ["--backup-workers=6", "--backup-max-per-namespace=2", "--backup-deadline=90"],
      {},
    );
    assert.deepEqual([cfg.backupWorkers, cfg.backupMaxPerNamespace, cfg.backupDeadlineMs], [6, 2, 90_000]);
  });

  for (const bad of ["--backup-deadline=0", "--backup-deadline=soon", "--backup-max-per-namespace=0"]) {
    it(`refuses ${bad}, naming the flag`, () => {
      assert.throws(() => parseControllerConfig([bad], {}), new RegExp(`^Error: ${bad}: expected a number >= 1$`));
    });
  }
});
