/**
 * One property decorator made of several, applied in the order they would be
 * if written one above the other in this order (the last one first).
 */
export function stacked(...decorators: PropertyDecorator[]): PropertyDecorator {
  return (target, property) => {
    for (const decorator of [...decorators].reverse())
      decorator(target, property);
  };
}
