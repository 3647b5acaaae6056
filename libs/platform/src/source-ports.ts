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
