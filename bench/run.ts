// How a bench script runs its main: the test harness's processes and their reaper do not hold
// the event loop open (mocha keeps a test run alive); this does, so a failure while they stop is
// reported instead of Node exiting quietly with nothing awaited, and the exit code says how it went.
export function runBench(name: string, main: () => Promise<void>): void {
  const keepAlive = setInterval(() => {}, 60_000);
  main().then(
    () => {
      clearInterval(keepAlive);
      process.exit(0);
    },
    (err: Error) => {
      console.error(`bench:${name} failed: ${err.stack ?? err.message}`);
      process.exit(1);
    },
  );
}
