import { isPlainObject } from './validation';

function arrayLength(value: unknown): number {
  return Array.isArray(value) ? value.length : 0;
}

/**
 * The operations a JSON job asks for, its own and each output's, counted
 * without validating anything: cheap enough to refuse an over-large batch
 * before its items cost anything. What is not an array counts as none;
 * validating the item says what is wrong with it.
 */
export function requestedOperationCount(item: unknown): number {
  if (!isPlainObject(item)) return 0;
  const outputs = Array.isArray(item.outputs) ? item.outputs : [];
  return outputs.reduce(
    (count: number, output: unknown) =>
      count + (isPlainObject(output) ? arrayLength(output.operations) : 0),
    arrayLength(item.operations),
  );
}

/** The operations of every job of a batch together. */
export function batchOperationCount(items: readonly unknown[]): number {
  return items.reduce(
    (count: number, item) => count + requestedOperationCount(item),
    0,
  );
}
