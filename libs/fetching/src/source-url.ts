import {
  DEFAULT_SOURCE_URL_PORTS,
  parseSourcePorts,
  SOURCE_PORTS_SETTING,
  SourcePorts,
} from '@pipeline/platform';
import { isIP } from 'node:net';

export const MAX_SOURCE_URL_LENGTH = 2048;

// The syntax of SOURCE_URL_PORTS is the configuration's; fetching applies it.
export {
  DEFAULT_SOURCE_URL_PORTS,
  parseSourcePorts,
  SOURCE_PORTS_SETTING,
  sourcePortsProblem,
} from '@pipeline/platform';
export type { SourcePorts } from '@pipeline/platform';

const DEFAULT_PORTS = parseSourcePorts(DEFAULT_SOURCE_URL_PORTS);

/** The port a URL connects to: the one it names, or its scheme's. */
export function portOf(url: URL): number {
  if (url.port !== '') return Number(url.port);
  return url.protocol === 'https:' ? 443 : 80;
}

/** Why `url`'s port may not be used, or null when it may. */
export function portRefusal(url: URL, ports: SourcePorts): string | null {
  const port = portOf(url);
  return ports.ranges.some(([low, high]) => port >= low && port <= high)
    ? null
    : `port ${port} is not one of ${SOURCE_PORTS_SETTING} (${ports.text})`;
}

/**
 * Whether `raw` is a URL a job may name as its source: http(s), a host, no
 * credentials, a port of `ports`, not absurdly long. Where the host leads is
 * judged later, at connect time, by the fetcher. WHATWG parsing already turns
 * `http://2130706433/` and friends into dotted IPv4.
 */
export function checkSourceUrl(
  raw: string,
  ports: SourcePorts = DEFAULT_PORTS,
): { url: URL } | { problem: string } {
  if (raw.length > MAX_SOURCE_URL_LENGTH)
    return {
      problem: `the URL is longer than ${MAX_SOURCE_URL_LENGTH} characters`,
    };
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return { problem: 'it is not a valid absolute URL' };
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    return {
      problem: `only http and https URLs are allowed, not ${url.protocol.slice(0, -1)}`,
    };
  }
  if (url.username !== '' || url.password !== '')
    return { problem: 'the URL must not contain a user name or password' };
  if (url.hostname === '') return { problem: 'the URL has no host' };
  const refusal = portRefusal(url, ports);
  if (refusal) return { problem: refusal };
  return { url };
}

/**
 * The IP address a URL names directly (brackets of IPv6 removed), or null for a
 * host name.
 */
export function literalAddressOf(url: URL): string | null {
  const host =
    url.hostname.startsWith('[') && url.hostname.endsWith(']')
      ? url.hostname.slice(1, -1)
      : url.hostname;
  return isIP(host) === 0 ? null : host;
}

/**
 * Scheme, host and port only: user info, path and query may carry secrets and
 * stay out of messages.
 */
export function describeOrigin(url: URL): string {
  return `${url.protocol}//${url.host}`;
}
