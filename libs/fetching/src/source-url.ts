import { isIP } from 'node:net';

export const MAX_SOURCE_URL_LENGTH = 2048;

/**
 * Whether `raw` is a URL a job may name as its source: http(s), a host, no credentials, not
 * absurdly long. Where the host leads is judged later, at connect time, by the fetcher.
 * WHATWG parsing already turns `http://2130706433/` and friends into dotted IPv4.
 */
export function checkSourceUrl(raw: string): { url: URL } | { problem: string } {
  if (raw.length > MAX_SOURCE_URL_LENGTH) return { problem: `the URL is longer than ${MAX_SOURCE_URL_LENGTH} characters` };
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return { problem: 'it is not a valid absolute URL' };
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    return { problem: `only http and https URLs are allowed, not ${url.protocol.slice(0, -1)}` };
  }
  if (url.username !== '' || url.password !== '') return { problem: 'the URL must not contain a user name or password' };
  if (url.hostname === '') return { problem: 'the URL has no host' };
  return { url };
}

/** The IP address a URL names directly (brackets of IPv6 removed), or null for a host name. */
export function literalAddressOf(url: URL): string | null {
  const host = url.hostname.startsWith('[') && url.hostname.endsWith(']') ? url.hostname.slice(1, -1) : url.hostname;
  return isIP(host) === 0 ? null : host;
}

/** Scheme, host and port only: user info, path and query may carry secrets and stay out of messages. */
export function describeOrigin(url: URL): string {
  return `${url.protocol}//${url.host}`;
}
