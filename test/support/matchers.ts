// Jest's asymmetric matchers are typed `any`, which spreads through every
// object that holds one; these give them a type, so such expected values stay
// checked.

/** `expect.objectContaining`: an object with at least these fields. */
export function objectContaining<T extends object>(sample: T): unknown {
  return expect.objectContaining(sample);
}

/** `expect.stringMatching`: a string this pattern matches. */
export function stringMatching(pattern: string | RegExp): unknown {
  return expect.stringMatching(pattern);
}

/**
 * `expect.any`: any value made by this constructor (`String`, `Number` for
 * primitives).
 */
export function anyOf(
  type: abstract new (...args: never[]) => unknown,
): unknown {
  return expect.any(type);
}

/** `expect.stringContaining`: a string with this text in it. */
export function stringContaining(text: string): unknown {
  return expect.stringContaining(text);
}

/** `expect.arrayContaining`: an array holding at least these items. */
export function arrayContaining<T>(items: readonly T[]): unknown {
  return expect.arrayContaining(items);
}
