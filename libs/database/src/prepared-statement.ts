import { QueryConfig } from 'pg';

const texts = new Map<string, string>();

/**
 * A statement of the hot path (every submission, every recorded batch), run as
 * a named prepared statement: a connection parses and plans it the first time
 * it runs there and reuses both after, instead of redoing them on every call:
 * a quarter of what PostgreSQL spends on a job's statements (`npm run
 * bench:statements`). Only for statements whose text never changes
 * and whose plan does not hinge on the values (arrays of ids and columns).
 * Behind PgBouncer in transaction mode, it needs PgBouncer 1.21 or later with
 * `max_prepared_statements` set.
 */
export function preparedStatement(
  name: string,
  text: string,
): (values: unknown[]) => QueryConfig {
  const known = texts.get(name);
  // A connection holds one statement per name: two texts under one name
  // would make the second fail on every connection the first ran on.
  if (known !== undefined && known !== text)
    throw new Error(`Two statements are prepared as "${name}"`);
  texts.set(name, text);
  return (values) => ({ name, text, values });
}
