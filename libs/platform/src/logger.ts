import { ConsoleLogger, LogLevel } from '@nestjs/common';
import { SharedConfig } from './settings';

const LEVELS: LogLevel[] = ['fatal', 'error', 'warn', 'log', 'debug', 'verbose'];

/** Nest's own logger: one JSON object per line in production, readable text on a terminal. */
export function createLogger(config: Pick<SharedConfig, 'LOG_FORMAT' | 'LOG_LEVEL'>, context: string): ConsoleLogger {
  return new ConsoleLogger(context, {
    json: config.LOG_FORMAT === 'json',
    colors: config.LOG_FORMAT === 'text' && process.stdout.isTTY,
    logLevels: LEVELS.slice(0, LEVELS.indexOf(config.LOG_LEVEL) + 1),
  });
}
