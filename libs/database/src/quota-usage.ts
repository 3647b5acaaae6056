import { PoolClient } from 'pg';

/**
 * Today's date in UTC, by the database's clock: the day jobs are counted in.
 */
export const UTC_TODAY = "(now() AT TIME ZONE 'UTC')::date";

/**
 * Adds to keys' usage rows (api_key_quota_usage), one per key: a statement
 * selects (api_key_id, stored bytes, day, jobs) between COUNT_USAGE and
 * ADD_USAGE, ordered by key so that two such statements cannot deadlock. A new
 * day starts the day's count again.
 */
export const COUNT_USAGE =
  'INSERT INTO api_key_quota_usage AS u (api_key_id, stored_bytes, day, jobs_on_day)';
export const ADD_USAGE = `ON CONFLICT (api_key_id) DO UPDATE SET
  stored_bytes = u.stored_bytes + EXCLUDED.stored_bytes,
  jobs_on_day = CASE WHEN u.day = EXCLUDED.day THEN u.jobs_on_day + EXCLUDED.jobs_on_day WHEN u.day > EXCLUDED.day THEN u.jobs_on_day ELSE EXCLUDED.jobs_on_day END,
  day = GREATEST(u.day, EXCLUDED.day)`;

/**
 * Takes bytes off keys' stored bytes; the rows are locked in key order first,
 * as COUNT_USAGE takes them.
 */
export async function takeOffStoredBytes(
  client: PoolClient,
  freed: Map<string, number>,
): Promise<void> {
  const keys = [...freed.keys()].sort();
  if (keys.length === 0) return;
  await client.query(
    'SELECT 1 FROM api_key_quota_usage WHERE api_key_id = ANY($1::uuid[]) ORDER BY api_key_id FOR UPDATE',
    [keys],
  );
  await client.query(
    `UPDATE api_key_quota_usage u SET stored_bytes = GREATEST(0, u.stored_bytes - f.bytes)
     FROM unnest($1::uuid[], $2::bigint[]) AS f(api_key_id, bytes) WHERE u.api_key_id = f.api_key_id`,
    [keys, keys.map((key) => freed.get(key))],
  );
}
