import { AsyncLocalStorage } from 'node:async_hooks';
import { writeSync } from 'node:fs';
import { redactSecrets } from './redact';

/** The request some work is done for (its X-Request-Id or correlation id). */
export interface RequestContext {
  requestId: string;
}

/**
 * The request being served, for code that has no handle on it: an HTTP app
 * enters it for each request (see `enterRequestContext`), and a crash report
 * names it. It follows the request's handler and whatever that starts
 * (promises, timers), not events a socket or a stream emits on their own.
 */
export const requestContext = new AsyncLocalStorage<RequestContext>();

/**
 * A Fastify hook (`preHandler`) that runs the rest of the request, its handler
 * included, in the request's context.
 */
export function enterRequestContext<R>(
  requestIdOf: (request: R) => string,
): (request: R, reply: unknown, done: () => void) => void {
  return (request, _reply, done) =>
    requestContext.run({ requestId: requestIdOf(request) }, done);
}

export type CrashOrigin = 'uncaughtException' | 'unhandledRejection';

const DESCRIPTIONS: Record<CrashOrigin, string> = {
  uncaughtException: 'Uncaught exception',
  unhandledRejection: 'Unhandled promise rejection',
};

/**
 * One JSON line, with the fields of the apps' JSON logs plus the request id
 * (null outside a request) and the stack, saying what brought the process down;
 * secrets redacted.
 */
export function crashReport(
  error: unknown,
  origin: CrashOrigin,
  requestId: string | undefined,
  now = Date.now(),
): string {
  const summary =
    error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  const stack = error instanceof Error && error.stack ? error.stack : summary;
  return JSON.stringify({
    level: 'fatal',
    pid: process.pid,
    timestamp: now,
    context: 'process',
    message: redactSecrets(`${DESCRIPTIONS[origin]}, exiting: ${summary}`),
    origin,
    requestId: requestId ?? null,
    stack: redactSecrets(stack),
  });
}

let installed = false;

/**
 * After an uncaught exception or an unhandled rejection the process's state is
 * unknown, so it does not carry on: it writes one crash report on stderr
 * (synchronously, so that it is not lost) and exits with 1, for its supervisor
 * to start it again.
 */
export function exitOnUncaughtErrors(): void {
  if (installed) return;
  installed = true;
  const report = (origin: CrashOrigin) => (error: unknown) => {
    try {
      writeSync(
        2,
        `${crashReport(error, origin, requestContext.getStore()?.requestId)}\n`,
      );
    } finally {
      process.exit(1);
    }
  };
  process.on('uncaughtException', report('uncaughtException'));
  process.on('unhandledRejection', report('unhandledRejection'));
}
