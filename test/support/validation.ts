import { ValidationFailed } from '@pipeline/contracts';

/** Runs `fn`, expecting a ValidationFailed, and returns its problems. */
export function problemsOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(ValidationFailed);
    return (error as ValidationFailed).problems;
  }
  throw new Error('expected a ValidationFailed, but nothing was thrown');
}
