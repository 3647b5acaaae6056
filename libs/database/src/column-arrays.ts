/**
 * The rows as one array per field, in the order of `fields`: the parameters of
 * a statement that unnests them.
 */
export function columnArrays<T, K extends keyof T>(
  rows: T[],
  fields: K[],
): Array<Array<T[K]>> {
  return fields.map((field) => rows.map((row) => row[field]));
}
