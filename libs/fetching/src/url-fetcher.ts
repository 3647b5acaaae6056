import { lookup as dnsLookup } from 'node:dns';
import { createWriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import type { LookupFunction } from 'node:net';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Agent, Dispatcher, request } from 'undici';
import { AddressAllowlist, addressRefusal } from './address-policy';
import { errorChain } from './error-chain';
import {
  httpStatusError,
  networkError,
  SourceFetchError,
} from './source-fetch-error';
import {
  checkSourceUrl,
  describeOrigin,
  literalAddressOf,
  SourcePorts,
} from './source-url';

export interface UrlFetcherOptions {
  /**
   * Internal addresses workers may reach all the same (a local test server, an
   * internal CDN).
   */
  allowlist: AddressAllowlist;
  /** Ports the source URL and every redirect may name (SOURCE_URL_PORTS). */
  ports: SourcePorts;
  maxBytes: number;
  /**
   * For the whole download: every redirect, connect and the last byte of the
   * body.
   */
  timeoutMs: number;
  maxRedirects: number;
  userAgent?: string;
}

export interface DownloadResult {
  bytes: number;
  contentType: string | null;
  /**
   * The URL after redirects, query included: keep it out of job errors and
   * logs.
   */
  finalUrl: string;
}

/**
 * Where operators open exceptions; named in refusals so the fix is one read
 * away.
 */
const ALLOWLIST_SETTING = 'SOURCE_URL_ALLOWLIST';
const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);

/**
 * Raised inside the connector's DNS lookup, so it reaches us as the request's
 * error.
 */
class AddressRefusedError extends Error {
  constructor(readonly refusal: string) {
    super(refusal);
    this.name = 'AddressRefusedError';
  }
}

function findAddressRefusal(error: unknown): AddressRefusedError | undefined {
  return errorChain(error).find(
    (link): link is AddressRefusedError => link instanceof AddressRefusedError,
  );
}

function firstHeader(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/**
 * Drops a body we will not keep. undici's `dump` reads a small one to the end
 * (so the connection can be reused) and closes the connection on a large one; a
 * plain `destroy()` would raise an unhandled "Request aborted" error instead.
 */
async function discard(
  response: Dispatcher.ResponseData,
  signal: AbortSignal,
): Promise<void> {
  await response.body.dump({ signal, limit: 64 * 1024 });
}

/**
 * A hop of the download, named for messages:
 * `http://b (redirected from http://a)`.
 */
function hopName(url: URL, redirectedFrom: URL | null): string {
  return redirectedFrom
    ? `${describeOrigin(url)} (redirected from ${describeOrigin(redirectedFrom)})`
    : describeOrigin(url);
}

function refused(where: string, reason: string): SourceFetchError {
  return new SourceFetchError(
    'SOURCE_REFUSED',
    true,
    `refused ${where}: ${reason}`,
  );
}

function addressRefused(where: string, refusal: string): SourceFetchError {
  return refused(
    where,
    `${refusal} (add it to ${ALLOWLIST_SETTING} to allow it)`,
  );
}

function tooLarge(
  where: string,
  detail: string,
  maxBytes: number,
): SourceFetchError {
  return new SourceFetchError(
    'IMAGE_TOO_LARGE',
    true,
    `${where} is larger than the limit of ${maxBytes} bytes (${detail})`,
  );
}

/** The error a download that failed with `error` at `where` ends in. */
function downloadFailure(
  error: unknown,
  where: string,
  timedOut: boolean,
  limitMs: number,
): unknown {
  if (error instanceof SourceFetchError) return error;
  const refusal = findAddressRefusal(error);
  if (refusal) return addressRefused(where, refusal.refusal);
  if (timedOut)
    return new SourceFetchError(
      'SOURCE_UNAVAILABLE',
      false,
      `could not fetch ${where}: timed out after ${limitMs} ms`,
      { cause: error },
    );
  return networkError(error, where);
}

/**
 * Downloads a job's input from a URL its submitter chose, without letting that
 * URL reach the workers' own network. The address check runs inside the
 * connection's DNS lookup, on the very addresses the socket then connects to,
 * so a host name that resolves differently on a second lookup (DNS rebinding)
 * cannot slip through; IP-literal hosts, for which Node skips the lookup, are
 * checked before each request. Redirects are followed here, one checked hop at
 * a time.
 */
export class UrlFetcher {
  private readonly agent: Agent;

  constructor(private readonly options: UrlFetcherOptions) {
    this.agent = new Agent({ connect: { lookup: this.checkedLookup } });
  }

  /**
   * Node's connect calls this with `all: true` when it races address families
   * (its default); any refused address refuses the host, since the socket may
   * try each one.
   */
  private readonly checkedLookup: LookupFunction = (
    hostname,
    lookupOptions,
    callback,
  ) => {
    dnsLookup(hostname, { ...lookupOptions, all: true }, (error, addresses) => {
      if (error) return callback(error, []);
      const refusal = addresses
        .map(({ address }) => addressRefusal(address, this.options.allowlist))
        .find((reason) => reason !== null);
      if (refusal) return callback(new AddressRefusedError(refusal), []);
      if (lookupOptions.all) return callback(null, addresses);
      callback(null, addresses[0].address, addresses[0].family);
    });
  };

  /**
   * Streams the body at `url` into `destinationPath`; on failure no file is
   * left there. `timeoutMs` shortens the fetcher's own time limit (a job's
   * deadline may be nearer).
   */
  async download(
    url: string,
    destinationPath: string,
    { timeoutMs = this.options.timeoutMs }: { timeoutMs?: number } = {},
  ): Promise<DownloadResult> {
    // AbortSignal.timeout takes whole milliseconds.
    const limitMs = Math.max(
      1,
      Math.ceil(Math.min(timeoutMs, this.options.timeoutMs)),
    );
    const signal = AbortSignal.timeout(limitMs);
    let current = this.checkedHop(url, null);
    let where = describeOrigin(current);
    try {
      for (let redirects = 0; ; redirects++) {
        const response = await this.get(current, signal);
        if (!REDIRECT_STATUSES.has(response.statusCode))
          return await this.save(
            response,
            current,
            where,
            destinationPath,
            signal,
          );
        await discard(response, signal);
        const location = this.redirectTarget(response, where, redirects);
        const previous = current;
        current = this.checkedHop(
          URL.canParse(location, previous.href)
            ? new URL(location, previous).href
            : location,
          previous,
        );
        where = hopName(current, previous);
      }
    } catch (error) {
      throw downloadFailure(error, where, signal.aborted, limitMs);
    }
  }

  private get(url: URL, signal: AbortSignal) {
    return request(url, {
      dispatcher: this.agent,
      method: 'GET',
      signal,
      headers: {
        'user-agent': this.options.userAgent ?? 'image-pipeline',
        accept: 'image/*, */*;q=0.5',
        'accept-encoding': 'identity',
      },
    });
  }

  /**
   * Where a redirect points, as its Location header has it; refused without
   * one, or past the most redirects allowed.
   */
  private redirectTarget(
    response: Dispatcher.ResponseData,
    where: string,
    redirects: number,
  ): string {
    const location = firstHeader(response.headers.location);
    if (!location)
      throw new SourceFetchError(
        'SOURCE_UNAVAILABLE',
        true,
        `could not fetch ${where}: HTTP ${response.statusCode} redirect without a Location header`,
      );
    if (redirects >= this.options.maxRedirects) {
      throw new SourceFetchError(
        'SOURCE_UNAVAILABLE',
        true,
        `could not fetch ${where}: too many redirects (more than ${this.options.maxRedirects})`,
      );
    }
    return location;
  }

  /** Lets in-flight downloads finish, then closes pooled connections. */
  async close(): Promise<void> {
    await this.agent.close();
  }

  /**
   * The URL of the next request, refused when its scheme, port or literal IP
   * host is not allowed.
   */
  private checkedHop(raw: string, redirectedFrom: URL | null): URL {
    const checked = checkSourceUrl(raw, this.options.ports);
    if ('problem' in checked) {
      const parsed = URL.canParse(raw) ? new URL(raw) : null;
      const where = parsed
        ? hopName(parsed, redirectedFrom)
        : redirectedFrom
          ? `a redirect from ${describeOrigin(redirectedFrom)}`
          : 'the source URL';
      throw refused(where, checked.problem);
    }
    const literal = literalAddressOf(checked.url);
    const refusal =
      literal === null ? null : addressRefusal(literal, this.options.allowlist);
    if (refusal)
      throw addressRefused(hopName(checked.url, redirectedFrom), refusal);
    return checked.url;
  }

  private async save(
    response: Dispatcher.ResponseData,
    url: URL,
    where: string,
    destinationPath: string,
    signal: AbortSignal,
  ): Promise<DownloadResult> {
    const { maxBytes } = this.options;
    if (response.statusCode < 200 || response.statusCode >= 300) {
      await discard(response, signal);
      throw httpStatusError(response.statusCode, where);
    }
    const declared = Number(firstHeader(response.headers['content-length']));
    if (declared > maxBytes) {
      await discard(response, signal);
      throw tooLarge(where, `it declares ${declared} bytes`, maxBytes);
    }
    let bytes = 0;
    const limit = new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        bytes += chunk.length;
        callback(
          bytes > maxBytes
            ? tooLarge(where, `more than ${maxBytes} bytes arrived`, maxBytes)
            : null,
          chunk,
        );
      },
    });
    try {
      await pipeline(response.body, limit, createWriteStream(destinationPath), {
        signal,
      });
    } catch (error) {
      await rm(destinationPath, { force: true });
      throw error;
    }
    return {
      bytes,
      contentType: firstHeader(response.headers['content-type']) ?? null,
      finalUrl: url.href,
    };
  }
}
