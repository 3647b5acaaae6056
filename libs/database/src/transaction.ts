import { Pool, PoolClient } from 'pg';

/**
 * Runs `work` in a transaction on a client of its own: committed if it
 * resolves, rolled back if it throws.
 */
export async function inTransaction<T>(
  pool: Pool,
  work: (client: PoolClient) => Promise<T>,
): Promise<T> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    const result = await work(client);
    await client.query('COMMIT');
    return result;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    client.release();
  }
}

/**
 * Runs `work` while holding the session-level advisory lock `key`, on a client
 * of its own; resolves false without running it when another process holds the
 * lock. For work that only one process of many (several results writers) may do
 * at a time.
 */
export async function whileHoldingAdvisoryLock(
  pool: Pool,
  key: number,
  work: () => Promise<void>,
): Promise<boolean> {
  const client: PoolClient = await pool.connect();
  try {
    const { rows } = await client.query<{ locked: boolean }>(
      'SELECT pg_try_advisory_lock($1) AS locked',
      [key],
    );
    if (!rows[0].locked) return false;
    try {
      await work();
    } finally {
      await client
        .query('SELECT pg_advisory_unlock($1)', [key])
        .catch(() => undefined);
    }
    return true;
  } finally {
    client.release();
  }
}
