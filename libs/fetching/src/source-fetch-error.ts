import { errorChain } from './error-chain';

/**
 * The job error codes a download can end with; they match `JobErrorCode` in
 * contracts.
 */
export type SourceFetchErrorCode =
  'SOURCE_REFUSED' | 'SOURCE_UNAVAILABLE' | 'IMAGE_TOO_LARGE';

/**
 * A download that failed for a reason the job's owner should read. `permanent`
 * tells the worker whether a retry could help (a 503 may pass, a 404 or a
 * refused address will not).
 */
export class SourceFetchError extends Error {
  constructor(
    readonly code: SourceFetchErrorCode,
    readonly permanent: boolean,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'SourceFetchError';
  }
}

/** Statuses that say "try again later" rather than "this will never work". */
const TRANSIENT_STATUSES = new Set([408, 429]);

export function httpStatusError(
  status: number,
  origin: string,
): SourceFetchError {
  const permanent = status < 500 && !TRANSIENT_STATUSES.has(status);
  return new SourceFetchError(
    'SOURCE_UNAVAILABLE',
    permanent,
    `could not fetch ${origin}: the server answered HTTP ${status}`,
  );
}

// Network failures worth a retry are the default; these are the ones a retry
// will not fix.
const PERMANENT_NETWORK_CODES: Record<string, string> = {
  ENOTFOUND: 'the host name does not exist',
  CERT_HAS_EXPIRED: 'its TLS certificate has expired',
  DEPTH_ZERO_SELF_SIGNED_CERT: 'its TLS certificate is self-signed',
  SELF_SIGNED_CERT_IN_CHAIN: 'its TLS certificate chain is self-signed',
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'its TLS certificate cannot be verified',
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: 'its TLS certificate cannot be verified',
  ERR_TLS_CERT_ALTNAME_INVALID:
    'its TLS certificate is not valid for this host',
};

const TRANSIENT_NETWORK_CODES: Record<string, string> = {
  EAI_AGAIN: 'the host name could not be resolved for now',
  ECONNREFUSED: 'the connection was refused',
  ECONNRESET: 'the connection was reset',
  EPIPE: 'the connection was closed',
  ETIMEDOUT: 'the connection timed out',
  EHOSTUNREACH: 'the host is unreachable',
  ENETUNREACH: 'the network is unreachable',
  UND_ERR_CONNECT_TIMEOUT: 'the connection timed out',
  UND_ERR_HEADERS_TIMEOUT: 'the server sent no response headers in time',
  UND_ERR_BODY_TIMEOUT: 'the server stopped sending the body',
  UND_ERR_SOCKET: 'the connection failed',
};

/**
 * The `code` of an error or of the first error in its `cause` chain that has
 * one.
 */
function errorCode(error: unknown): string | undefined {
  const code = errorChain(error).find(
    (link) => typeof link.code === 'string',
  )?.code;
  return code as string | undefined;
}

/** A failure to connect or to read the answer, judged by its error code. */
export function networkError(error: unknown, origin: string): SourceFetchError {
  const code = errorCode(error);
  const permanentReason =
    code === undefined ? undefined : PERMANENT_NETWORK_CODES[code];
  const reason =
    permanentReason ??
    (code === undefined ? undefined : TRANSIENT_NETWORK_CODES[code]) ??
    String(errorChain(error)[0]?.message ?? error);
  const suffix = code === undefined ? '' : ` (${code})`;
  return new SourceFetchError(
    'SOURCE_UNAVAILABLE',
    permanentReason !== undefined,
    `could not fetch ${origin}: ${reason}${suffix}`,
    { cause: error },
  );
}
