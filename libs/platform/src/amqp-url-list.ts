/**
 * `AMQP_URL` names one broker node or several (the nodes of a RabbitMQ
 * cluster), as comma-separated amqp:// or amqps:// URLs, each one complete
 * (nodes may differ in host, port, scheme and even credentials), or as one URL
 * with several hosts, which share its scheme, credentials, vhost and query:
 * `amqp://user:pass@rabbit-1:5672,rabbit-2:5672,rabbit-3/vhost`. The two forms
 * mix. Pure functions, so they can be checked alone.
 */

const SCHEMES = new Set(['amqp:', 'amqps:']);
const HAS_SCHEME = /^[a-zA-Z][a-zA-Z0-9+.-]*:\/\//;
/** scheme://, user[:pass]@, host[:port], then path, query and fragment. */
const URL_PARTS = /^([a-zA-Z][a-zA-Z0-9+.-]*:\/\/)([^@/?#]*@)?([^/?#]*)(.*)$/s;

/**
 * The entries of a comma-separated list, trimmed; empty entries (a trailing
 * comma) are dropped.
 */
function entries(value: string): string[] {
  return value
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '');
}

/**
 * One URL per node: an entry without a scheme that follows a URL is another
 * host of that URL (`host[:port]`, the last one possibly followed by the URL's
 * path and query), and gets its scheme, credentials, path and query. Anything
 * else is left as written, to be judged.
 */
function expand(value: string): string[] {
  const groups: Array<{ first: string; hosts: string[] }> = [];
  for (const entry of entries(value)) {
    const group = groups.at(-1);
    if (
      HAS_SCHEME.test(entry) ||
      !group ||
      entry.includes('@') ||
      !URL_PARTS.test(group.first)
    )
      groups.push({ first: entry, hosts: [] });
    else group.hosts.push(entry);
  }
  return groups.flatMap(({ first, hosts }) => {
    if (hosts.length === 0) return [first];
    const [, scheme, userinfo = '', host, rest] = URL_PARTS.exec(first)!;
    // The path and query, written once: after the first host or after the last.
    const last = hosts.length - 1;
    const split = /[/?#]/.exec(hosts[last]);
    const tail = split ? hosts[last].slice(split.index) : '';
    if (split) hosts[last] = hosts[last].slice(0, split.index);
    const suffix = tail || rest;
    return [host, ...hosts].map(
      (each) => `${scheme}${userinfo}${each}${suffix}`,
    );
  });
}

/**
 * What is wrong with an `AMQP_URL` value, naming the offending entry (its
 * credentials hidden); undefined when it is fine.
 */
export function amqpUrlListProblem(value: unknown): string | undefined {
  if (typeof value !== 'string' || entries(value).length === 0)
    return 'must be one or more amqp:// or amqps:// URLs, comma-separated';
  const list = expand(value);
  for (const [index, entry] of list.entries()) {
    const which =
      list.length === 1
        ? `"${redactUrl(entry)}"`
        : `entry ${index + 1} ("${redactUrl(entry)}")`;
    let url: URL;
    try {
      url = new URL(entry);
    } catch {
      return `must be amqp:// or amqps:// URLs, comma-separated: ${which} is not a URL`;
    }
    if (!SCHEMES.has(url.protocol))
      return `must be amqp:// or amqps:// URLs, comma-separated: ${which} is not amqp:// or amqps://`;
    if (url.hostname === '')
      return `must be amqp:// or amqps:// URLs, comma-separated: ${which} names no host`;
  }
  return undefined;
}

/**
 * The node URLs of an `AMQP_URL` value; throws what `amqpUrlListProblem` says
 * when it is not valid.
 */
export function parseAmqpUrls(value: string): string[] {
  const problem = amqpUrlListProblem(value);
  if (problem) throw new Error(`AMQP_URL ${problem}`);
  return expand(value);
}

/**
 * The URL as given, with its password replaced by `***`: safe for a log line or
 * an error message.
 */
export function redactUrl(url: string): string {
  return url.replace(
    /^((?:[a-zA-Z][a-zA-Z0-9+.-]*:\/\/)?[^/@:]*):[^@/]*@/,
    '$1:***@',
  );
}
