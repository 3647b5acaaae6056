/**
 * The CLI's short form of an operation: `name` or `name:field=value,field=value`, e.g.
 * `resize:width=320,fit=inside` or `grayscale`. Numbers and booleans are read as such; the
 * producer validates the result like any request.
 */
export function parseOperationFlag(flag: string): Record<string, unknown> {
  const [name, fields = ''] = splitOnce(flag, ':');
  if (!/^[a-z]+$/.test(name)) throw new Error(`--op "${flag}": expected name or name:field=value,… (e.g. resize:width=320)`);
  const operation: Record<string, unknown> = { op: name };
  for (const pair of fields.split(',').filter(Boolean)) {
    const [field, raw] = splitOnce(pair, '=');
    if (!field || raw === undefined) throw new Error(`--op "${flag}": "${pair}" is not field=value`);
    operation[field] = parseValue(raw);
  }
  return operation;
}

function splitOnce(text: string, separator: string): [string, string | undefined] {
  const at = text.indexOf(separator);
  return at < 0 ? [text, undefined] : [text.slice(0, at), text.slice(at + 1)];
}

function parseValue(raw: string): unknown {
  if (raw === 'true' || raw === 'false') return raw === 'true';
  if (/^-?\d+(\.\d+)?$/.test(raw)) return Number(raw);
  return raw;
}

/** A progress bar on one terminal line: `label [#####.....] 12/40`. */
export function progressLine(label: string, done: number, total: number, width = 30): string {
  const filled = total === 0 ? width : Math.round((done / total) * width);
  return `${label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total}`;
}
