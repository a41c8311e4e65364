// Root hooks: the test control plane is started lazily by the first suite that needs it
// (testenv/shared.ts) and stopped once, after every suite has run.
import { stopSharedControlPlane } from "../testenv/shared.js";

export const mochaHooks = {
  async afterAll(this: Mocha.Context) {
    this.timeout(60_000);
    await stopSharedControlPlane();
  },
};
