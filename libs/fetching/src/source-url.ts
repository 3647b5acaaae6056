import { isIP } from 'node:net';

export const MAX_SOURCE_URL_LENGTH = 2048;

/**
 * The setting that lists the ports URL sources may name; refusals name it so
 * the fix is one read away.
 */
export const SOURCE_PORTS_SETTING = 'SOURCE_URL_PORTS';
export const DEFAULT_SOURCE_URL_PORTS = '80,443';

/**
 * Ports a URL source may name: inclusive ranges, and the list as written
 * (normalised) for messages.
 */
export interface SourcePorts {
  readonly ranges: readonly (readonly [number, number])[];
  readonly text: string;
}

function parsePortEntry(entry: string): readonly [number, number] | null {
  const match = /^(\d{1,5})(?:-(\d{1,5}))?$/.exec(entry);
  if (!match) return null;
  const low = Number(match[1]);
  const high = match[2] === undefined ? low : Number(match[2]);
  return low >= 1 && high <= 65535 && low <= high ? [low, high] : null;
}

/**
 * Why a port list cannot be used (naming the bad entry), or undefined when it
 * can.
 */
export function sourcePortsProblem(text: string): string | undefined {
  const entries = text.split(',').map((entry) => entry.trim());
  if (entries.every((entry) => entry === ''))
    return 'must name at least one port (e.g. 80,443)';
  const bad = entries.find((entry) => parsePortEntry(entry) === null);
  return bad === undefined
    ? undefined
    : `has the invalid entry "${bad}": expected ports 1 to 65535 or ranges such as 8000-8099, comma-separated`;
}

/**
 * Reads a comma-separated list of ports and ranges (`80,443,8000-8099`). Any
 * other port is refused, so that a job's URL cannot probe the services of a
 * host port by port.
 */
export function parseSourcePorts(text: string): SourcePorts {
  const problem = sourcePortsProblem(text);
  if (problem) throw new Error(`${SOURCE_PORTS_SETTING} ${problem}`);
  const entries = text
    .split(',')
    .map((entry) => entry.trim())
    .filter(Boolean);
  return {
    ranges: entries.map((entry) => parsePortEntry(entry)!),
    text: entries.join(','),
  };
}

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
