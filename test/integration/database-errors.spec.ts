import { isTransientDatabaseError } from '@pipeline/database';
import { Client, ClientConfig } from 'pg';
import { createTestDatabase, uniqueName, waitFor } from '../support/resources';

/**
 * The errors the real server gives for each transient condition that can be
 * caused without touching server-wide settings (the server is shared):
 * per-database and per-session settings, concurrent transactions, a terminated
 * backend, a role's connection limit.
 */
describe('Database errors from the real server, classified', () => {
  let database: { url: string; drop: () => Promise<void> };
  let databaseName: string;
  let admin: Client;
  const clients: Client[] = [];

  /**
   * A connected client, ended after the test; `config` adds to the database
   * URL, `user` replaces its user.
   */
  async function connected(
    config: ClientConfig = {},
    user?: string,
  ): Promise<Client> {
    const url = new URL(database.url);
    if (user) url.username = user;
    const client = new Client({ connectionString: url.toString(), ...config });
    // A backend terminated by a test also reports here; the failing query says
    // what matters.
    client.on('error', () => undefined);
    clients.push(client);
    await client.connect();
    return client;
  }

  /** The error `promise` rejects with (failing the test if it resolves). */
  async function failureOf(
    promise: Promise<unknown>,
  ): Promise<Error & { code?: string }> {
    const outcome = await promise.then(
      () => undefined,
      (error: Error & { code?: string }) => error,
    );
    if (!outcome)
      throw new Error('expected the statement to fail, but it succeeded');
    return outcome;
  }

  beforeAll(async () => {
    database = await createTestDatabase();
    databaseName = new URL(database.url).pathname.slice(1);
    admin = new Client({ connectionString: database.url });
    await admin.connect();
    await admin.query(
      'CREATE TABLE counters (id int PRIMARY KEY, value int NOT NULL)',
    );
  });

  beforeEach(async () => {
    await admin.query('TRUNCATE counters');
    await admin.query('INSERT INTO counters VALUES (1, 0), (2, 0)');
  });

  afterEach(async () => {
    await Promise.all(
      clients.splice(0).map((client) => client.end().catch(() => undefined)),
    );
  });

  afterAll(async () => {
    await admin.end();
    await database.drop();
  });

  it('a database made read-only (as after a failover): 25006, transient', async () => {
    await admin.query(
      `ALTER DATABASE "${databaseName}" SET default_transaction_read_only = on`,
    );
    try {
      const client = await connected();
      const error = await failureOf(
        client.query('UPDATE counters SET value = 1 WHERE id = 1'),
      );
      expect(error.code).toBe('25006');
      expect(isTransientDatabaseError(error)).toBe(true);
    } finally {
      await admin.query(
        `ALTER DATABASE "${databaseName}" RESET default_transaction_read_only`,
      );
    }
  });

  it('a statement timeout (a per-connection setting): 57014, transient', async () => {
    const client = await connected({ options: '-c statement_timeout=1' });
    const error = await failureOf(client.query('SELECT pg_sleep(5)'));
    expect(error.code).toBe('57014');
    expect(isTransientDatabaseError(error)).toBe(true);
  });

  it('a serialization failure between two SERIALIZABLE transactions: 40001, transient', async () => {
    const [first, second] = [await connected(), await connected()];
    await first.query('BEGIN ISOLATION LEVEL SERIALIZABLE');
    await first.query('SELECT value FROM counters WHERE id = 1');
    await second.query('BEGIN ISOLATION LEVEL SERIALIZABLE');
    await second.query('UPDATE counters SET value = value + 1 WHERE id = 1');
    await second.query('COMMIT');
    const error = await failureOf(
      first.query('UPDATE counters SET value = value + 1 WHERE id = 1'),
    );
    await first.query('ROLLBACK');
    expect(error.code).toBe('40001');
    expect(isTransientDatabaseError(error)).toBe(true);
  });

  it('a deadlock between two transactions: 40P01, transient', async () => {
    const [first, second] = [await connected(), await connected()];
    await first.query('BEGIN');
    await second.query('BEGIN');
    await first.query('UPDATE counters SET value = 1 WHERE id = 1');
    await second.query('UPDATE counters SET value = 2 WHERE id = 2');
    // Each now waits for the other's row: the server breaks the cycle by
    // failing one of them.
    const outcomes = await Promise.allSettled([
      first.query('UPDATE counters SET value = 1 WHERE id = 2'),
      second.query('UPDATE counters SET value = 2 WHERE id = 1'),
    ]);
    await Promise.all([first.query('ROLLBACK'), second.query('ROLLBACK')]);
    const failures = outcomes.flatMap((outcome) =>
      outcome.status === 'rejected'
        ? [outcome.reason as Error & { code?: string }]
        : [],
    );
    expect(failures.map((error) => error.code)).toEqual(['40P01']);
    expect(isTransientDatabaseError(failures[0])).toBe(true);
  });

  it('a lock not available (NOWAIT): 55P03, transient', async () => {
    const [holder, waiter] = [await connected(), await connected()];
    await holder.query('BEGIN');
    await holder.query('SELECT * FROM counters WHERE id = 1 FOR UPDATE');
    const error = await failureOf(
      waiter.query('SELECT * FROM counters WHERE id = 1 FOR UPDATE NOWAIT'),
    );
    await holder.query('ROLLBACK');
    expect(error.code).toBe('55P03');
    expect(isTransientDatabaseError(error)).toBe(true);
  });

  it('a backend terminated by an administrator: 57P01, transient', async () => {
    const client = await connected();
    const { rows } = await client.query<{ pid: number }>(
      'SELECT pg_backend_pid() AS pid',
    );
    const sleeping = failureOf(client.query('SELECT pg_sleep(30)'));
    await waitFor(
      async () =>
        (
          await admin.query(
            "SELECT 1 FROM pg_stat_activity WHERE pid = $1 AND state = 'active'",
            [rows[0].pid],
          )
        ).rowCount === 1
          ? true
          : undefined,
      10_000,
      'the statement to run',
    );
    await admin.query('SELECT pg_terminate_backend($1)', [rows[0].pid]);
    const error = await sleeping;
    expect(error.code).toBe('57P01');
    expect(isTransientDatabaseError(error)).toBe(true);
  });

  it("too many connections for a role's CONNECTION LIMIT: 53300, transient", async () => {
    const role = uniqueName('role');
    await admin.query(`CREATE ROLE "${role}" LOGIN CONNECTION LIMIT 1`);
    try {
      const first = await connected({}, role);
      expect(
        (await first.query<{ user: string }>('SELECT current_user AS user'))
          .rows,
      ).toEqual([{ user: role }]);
      const error = await failureOf(connected({}, role));
      await first.end();
      expect(error.code).toBe('53300');
      expect(isTransientDatabaseError(error)).toBe(true);
    } finally {
      await Promise.all(
        clients.splice(0).map((client) => client.end().catch(() => undefined)),
      );
      await admin.query(`DROP ROLE "${role}"`);
    }
  });

  it("errors in the data stay the data's fault: a unique violation (23505), invalid text (22P02), an undefined table (42P01)", async () => {
    const client = await connected();
    const duplicate = await failureOf(
      client.query('INSERT INTO counters VALUES (1, 0)'),
    );
    const invalid = await failureOf(client.query("SELECT 'not a number'::int"));
    const undefinedTable = await failureOf(
      client.query('SELECT * FROM no_such_table'),
    );
    expect([duplicate.code, invalid.code, undefinedTable.code]).toEqual([
      '23505',
      '22P02',
      '42P01',
    ]);
    expect(
      [duplicate, invalid, undefinedTable].map(isTransientDatabaseError),
    ).toEqual([false, false, false]);
  });
});
