/** A flag's value the CLI cannot read; the message names the flag. */
export class FlagError extends Error {}

/**
 * The CLI's short form of an operation: `name` or
 * `name:field=value,field=value`, e.g. `resize:width=320,fit=inside` or
 * `grayscale`. Numbers and booleans are read as such; the producer validates
 * the result like any request.
 */
export function parseOperationFlag(flag: string): Record<string, unknown> {
  const [name, fields = ''] = splitOnce(flag, ':');
  if (!/^[a-z]+$/.test(name))
    throw new FlagError(
      `--op "${flag}": expected name or name:field=value,… (e.g. resize:width=320)`,
    );
  const operation: Record<string, unknown> = { op: name };
  for (const pair of fields.split(',').filter(Boolean)) {
    const [field, raw] = splitOnce(pair, '=');
    if (!field || raw === undefined)
      throw new FlagError(`--op "${flag}": "${pair}" is not field=value`);
    operation[field] = parseValue(raw);
  }
  return operation;
}

function splitOnce(
  text: string,
  separator: string,
): [string, string | undefined] {
  const at = text.indexOf(separator);
  return at < 0 ? [text, undefined] : [text.slice(0, at), text.slice(at + 1)];
}

function parseValue(raw: string): unknown {
  if (raw === 'true' || raw === 'false') return raw === 'true';
  if (/^-?\d+(\.\d+)?$/.test(raw)) return Number(raw);
  return raw;
}

/** A progress bar on one terminal line: `label [#####.....] 12/40`. */
export function progressLine(
  label: string,
  done: number,
  total: number,
  width = 30,
): string {
  const filled = total === 0 ? width : Math.round((done / total) * width);
  return `${label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total}`;
}

const DURATION_UNITS: Record<string, number> = {
  s: 1,
  m: 60,
  h: 3600,
  d: 86_400,
};

/**
 * A duration flag such as `--overlap 90m` or `--expires-in 30d` (s, m, h or d),
 * in seconds.
 */
export function parseDurationFlag(flag: string, value: string): number {
  const match = /^(\d+)([smhd])$/.exec(value.trim());
  if (!match)
    throw new FlagError(
      `--${flag} "${value}": expected a whole number and a unit, s, m, h or d (e.g. 90m, 30d)`,
    );
  return Number(match[1]) * DURATION_UNITS[match[2]];
}
