// Socket-level failures: the server cannot be reached at all.
const TRANSIENT_SOCKET_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
]);

/**
 * SQLSTATE classes (the code's first two characters) in which every error is
 * about the server's state, never about the statement's data, so the same write
 * succeeds once the state passes:
 */
const TRANSIENT_SQLSTATE_CLASSES = new Set([
  // Connection exceptions: the connection failed or could not be made; a new
  // one may work.
  '08',
  // Insufficient resources: a full disk (53100), out of memory (53200), too
  // many connections (53300), a configuration limit: the server is overloaded,
  // and space or memory frees up.
  '53',
  // Operator intervention: a cancelled statement (57014, a statement timeout
  // under load), an administrator's or a crash shutdown (57P01, 57P02), a
  // server starting or recovering (57P03).
  '57',
  // System errors: the server's disk or operating system failed (58030 I/O
  // error).
  '58',
]);

/**
 * Single codes in classes that otherwise hold errors of the statement or its
 * data.
 */
const TRANSIENT_SQLSTATES = new Set([
  // Class 25 is mostly misuse of transactions; only this one is the server's
  // state: a standby, or a former primary after a failover, until the
  // application reaches the new primary.
  '25006',
  // Class 40 also holds 40002, a constraint violated at commit (the data's
  // fault); these two are concurrency conflicts that the same transaction, run
  // again, resolves.
  '40001', // serialization failure
  '40P01', // deadlock detected
  // Class 55 is mostly objects in the wrong state; this one is another session
  // holding a lock.
  '55P03',
]);

const SQLSTATE = /^[0-9A-Z]{5}$/;

// Errors of the client library that carry no code: a connection lost or never
// made.
const TRANSIENT_MESSAGES = [
  /Connection terminated/i,
  /timeout exceeded when trying to connect/i,
  /Client has encountered a connection error/i,
  /Connection ended/i,
];

/**
 * Whether a database error says nothing about the data: the server is
 * unreachable, restarting, read-only, overloaded or busy with conflicting work.
 * Such a write is retried as it is, and whatever waits for it stays unacked;
 * any other error means the data (or the statement) is at fault, and retrying
 * cannot help.
 */
export function isTransientDatabaseError(error: unknown): boolean {
  const { code, message } = (error ?? {}) as {
    code?: unknown;
    message?: unknown;
  };
  if (typeof code === 'string') {
    if (TRANSIENT_SOCKET_CODES.has(code)) return true;
    if (SQLSTATE.test(code))
      return (
        TRANSIENT_SQLSTATES.has(code) ||
        TRANSIENT_SQLSTATE_CLASSES.has(code.slice(0, 2))
      );
  }
  return (
    typeof message === 'string' &&
    TRANSIENT_MESSAGES.some((pattern) => pattern.test(message))
  );
}
