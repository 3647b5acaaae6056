/**
 * An error and its `cause`s, outermost first. Judged by shape rather than
 * `instanceof Error`: errors made by Node's core in another realm (as under
 * Jest) fail that test.
 */
export function errorChain(
  error: unknown,
): { message?: unknown; code?: unknown }[] {
  const chain: { message?: unknown; code?: unknown }[] = [];
  for (
    let current = error;
    typeof current === 'object' && current !== null && chain.length < 5;
    current = (current as { cause?: unknown }).cause
  ) {
    chain.push(current);
  }
  return chain;
}
