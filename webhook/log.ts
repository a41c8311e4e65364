import { pino, type DestinationStream, type Logger } from "pino";

export type { Logger };

/**
 * JSON lines on stdout with ISO timestamps and named levels. Writes are asynchronous (buffered
 * by sonic-boom) because the webhook logs every admission at info level, and a synchronous
 * write per request would cost a large share of its throughput; flushLogs() runs at exit.
 */
export function createLogger(level: string, destination?: DestinationStream): Logger {
  const dest = destination ?? pino.destination({ dest: 1, sync: false });
  return pino({
    level,
    base: { component: "webhook" },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
  }, dest);
}

/** Writes out buffered lines; await it before process.exit or they are lost. */
export function flushLogs(logger: Logger): Promise<void> {
  return new Promise((resolve) => {
    try {
      // A closed stdout (the reader went away) must not turn a clean exit into a crash.
      logger.flush(() => resolve());
    } catch {
      resolve();
    }
  });
}
