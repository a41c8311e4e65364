// Root hooks: the shared test control planes are started lazily by the first suite that needs
// each (testenv/shared.ts) and stopped once, after every suite has run.
import { stopSharedControlPlane } from "../testenv/shared.js";

export const mochaHooks = {
  async afterAll(this: Mocha.Context) {
    this.timeout(60_000);
    await stopSharedControlPlane();
  },
};
