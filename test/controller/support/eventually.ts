/** Polls `check` until it holds; fails naming `what` (and the last state, if given) on timeout. */
export async function eventually(what: string, check: () => boolean, timeoutMs = 10_000, state?: () => unknown): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${state ? `; state: ${JSON.stringify(state())}` : ""}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}
