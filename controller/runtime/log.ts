import { pino, type Logger } from "pino";

/**
 * The controller's structured logger: one JSON object per line on stdout, ISO timestamps, level
 * from LOG_LEVEL (default info). Components log through child loggers so every line says where it
 * came from; reconcile lines add the object key the same way.
 */
export const logger: Logger = pino({
  level: process.env.LOG_LEVEL ?? "info",
  timestamp: pino.stdTimeFunctions.isoTime,
  formatters: { level: (label) => ({ level: label }) },
});

export function componentLogger(component: string, bindings: Record<string, unknown> = {}): Logger {
  return logger.child({ component, ...bindings });
}

export type { Logger };
