/**
 * Waits `ms`, or less when `signal` aborts first. Never rejects: loops that sleep between retries
 * check their own stop signal right after, which keeps their shutdown paths free of AbortErrors.
 */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
  });
}
