import { ConsoleLogger, LogLevel } from '@nestjs/common';
import { redactValue, secretValuesOf } from './redact';
import { SharedConfig } from './settings';

const LEVELS: LogLevel[] = [
  'fatal',
  'error',
  'warn',
  'log',
  'debug',
  'verbose',
];

/**
 * Nest's logger, with anything that looks like a secret (or is one of the
 * config's) blanked out before it is written.
 */
class RedactingLogger extends ConsoleLogger {
  constructor(
    context: string,
    options: ConstructorParameters<typeof ConsoleLogger>[1],
    private readonly secrets: string[],
  ) {
    super(context, options);
  }

  protected override printMessages(
    messages: unknown[],
    context?: string,
    logLevel?: LogLevel,
    writeStreamType?: 'stdout' | 'stderr',
    errorStack?: unknown,
  ): void {
    super.printMessages(
      messages.map((message) => redactValue(message, this.secrets)),
      context,
      logLevel,
      writeStreamType,
      errorStack === undefined
        ? undefined
        : redactValue(errorStack, this.secrets),
    );
  }

  protected override printStackTrace(stack: string): void {
    super.printStackTrace(redactValue(stack, this.secrets) as string);
  }
}

/**
 * Nest's own logger: one JSON object per line in production, readable text on a
 * terminal; secrets redacted.
 */
export function createLogger(
  config: Pick<SharedConfig, 'LOG_FORMAT' | 'LOG_LEVEL'>,
  context: string,
): ConsoleLogger {
  return new RedactingLogger(
    context,
    {
      json: config.LOG_FORMAT === 'json',
      colors: config.LOG_FORMAT === 'text' && process.stdout.isTTY,
      logLevels: LEVELS.slice(0, LEVELS.indexOf(config.LOG_LEVEL) + 1),
    },
    secretValuesOf(config),
  );
}
