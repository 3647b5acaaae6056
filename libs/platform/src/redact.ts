const REDACTED = '[redacted]';

/**
 * Shapes of secrets that may turn up in a message: bearer tokens, our API keys,
 * passwords in URLs.
 */
const SECRET_SHAPES: Array<[RegExp, string]> = [
  [/\b(Bearer\s+)[\x21-\x7e]+/gi, `$1${REDACTED}`],
  [/\bipk_[0-9a-f]{16}_[A-Za-z0-9_-]{43}/g, `ipk_${REDACTED}`],
  [/(\b[a-z][a-z0-9+.-]*:\/\/[^\s:@/]*:)[^\s@/]+@/gi, `$1${REDACTED}@`],
];

/**
 * Replaces what looks like a secret, and each of `known` (exact values, such as
 * ADMIN_API_KEY), in a text.
 */
export function redactSecrets(
  text: string,
  known: readonly string[] = [],
): string {
  let result = text;
  for (const secret of known)
    if (secret.length > 0) result = result.split(secret).join(REDACTED);
  for (const [shape, replacement] of SECRET_SHAPES)
    result = result.replace(shape, replacement);
  return result;
}

/**
 * `redactSecrets` over every string in a value (a log message may be an
 * object).
 */
export function redactValue(
  value: unknown,
  known: readonly string[] = [],
  seen = new WeakSet<object>(),
): unknown {
  if (typeof value === 'string') return redactSecrets(value, known);
  if (value instanceof Error) {
    const copy = new Error(redactSecrets(value.message, known));
    copy.name = value.name;
    copy.stack =
      value.stack === undefined ? undefined : redactSecrets(value.stack, known);
    return copy;
  }
  if (value === null || typeof value !== 'object' || seen.has(value))
    return value;
  seen.add(value);
  if (Array.isArray(value))
    return value.map((item) => redactValue(item, known, seen));
  return Object.fromEntries(
    Object.entries(value).map(([key, item]) => [
      key,
      redactValue(item, known, seen),
    ]),
  );
}

/**
 * Whether a setting holds a secret: its name says KEY, SECRET, PASSWORD or
 * TOKEN.
 */
export function isSecretSetting(name: string): boolean {
  return /KEY|SECRET|PASSWORD|TOKEN/.test(name);
}

/** The values of a configuration's secret settings (see isSecretSetting). */
export function secretValuesOf(config: object): string[] {
  return Object.entries(config)
    .filter(
      ([name, value]) =>
        isSecretSetting(name) && typeof value === 'string' && value.length >= 8,
    )
    .map(([, value]) => value as string);
}
