/**
 * A count given on a bench's command line (`--jobs 2000`): a whole number from
 * 1 to `max`, or an error naming the option and what it got.
 */
export function positiveInteger(
  option: string,
  value: string | undefined,
  max = Number.MAX_SAFE_INTEGER,
): number {
  const number = Number(value);
  if (!Number.isInteger(number) || number < 1 || number > max)
    throw new Error(
      `--${option} must be an integer from 1 to ${max}, got ${value}`,
    );
  return number;
}
