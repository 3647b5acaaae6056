import { Actor, ApiKeyView, Scope } from '@pipeline/contracts';
import { Pool } from 'pg';
import { recordAudit } from './audit-log.repository';
import { Batcher } from './batcher';
import { preparedStatement } from './prepared-statement';
import { UTC_TODAY } from './quota-usage';
import { inTransaction } from './transaction';

/**
 * The row that stands for ADMIN_API_KEY: its jobs belong to it, and it cannot
 * be revoked through the API.
 */
export const BOOTSTRAP_ADMIN_KEY_ID = '00000000-0000-4000-8000-000000000000';

/** A live (not revoked) secret of a key, as authentication needs it. */
export interface ApiKeyCredentials {
  id: string;
  name: string;
  scopes: Scope[];
  hash: Buffer;
  limits: KeyLimits;
  /** When this secret stops working; null: never. */
  expiresAt: Date | null;
  /** The secret was replaced by a rotation and works only until `expiresAt`. */
  replaced: boolean;
}

export interface NewApiKey {
  id: string;
  name: string;
  scopes: Scope[];
  lookupId: string;
  hash: Buffer;
  limits: {
    requestsPerWindow?: number;
    jobsInFlight?: number;
    storedBytes?: number;
    jobsPerDay?: number;
  };
  expiresAt: Date | null;
}

/** A key's own limits and quotas; null: the producer's default. */
export interface KeyLimits {
  requestsPerWindow: number | null;
  jobsInFlight: number | null;
  storedBytes: number | null;
  jobsPerDay: number | null;
}

/** What a key holds against its quotas now. */
export interface KeyUsage {
  /** Bytes of its uploaded inputs and outputs not yet expired. */
  storedBytes: number;
  /** Jobs it submitted this UTC day. */
  jobsToday: number;
  /** Its jobs queued or processing. */
  jobsInFlight: number;
}

/** A key's new secret, and how long the one it replaces keeps working. */
export interface ApiKeyRotation {
  lookupId: string;
  hash: Buffer;
  /** The new secret's expiry; null: never. */
  expiresAt: Date | null;
  overlapSeconds: number;
}

interface ApiKeyRow {
  id: string;
  name: string;
  scopes: Scope[];
  lookup_id: string | null;
  requests_per_window: number | null;
  jobs_in_flight: number | null;
  stored_bytes_quota: string | null;
  jobs_per_day_quota: number | null;
  created_at: Date;
  last_used_at: Date | null;
  revoked_at: Date | null;
  expires_at: Date | null;
  rotated_at: Date | null;
  previous_expires_at: Date | null;
}

const VIEW_COLUMNS =
  'id, name, scopes, lookup_id, requests_per_window, jobs_in_flight, stored_bytes_quota, jobs_per_day_quota, created_at, last_used_at, revoked_at, expires_at, rotated_at, previous_expires_at';

function limitsOf(row: ApiKeyRow): KeyLimits {
  return {
    requestsPerWindow: row.requests_per_window,
    jobsInFlight: row.jobs_in_flight,
    storedBytes:
      row.stored_bytes_quota === null ? null : Number(row.stored_bytes_quota),
    jobsPerDay: row.jobs_per_day_quota,
  };
}

function toView(row: ApiKeyRow): ApiKeyView {
  return {
    id: row.id,
    name: row.name,
    scopes: row.scopes,
    prefix: row.lookup_id === null ? null : `ipk_${row.lookup_id}_…`,
    limits: limitsOf(row),
    createdAt: row.created_at.toISOString(),
    lastUsedAt: row.last_used_at?.toISOString() ?? null,
    revokedAt: row.revoked_at?.toISOString() ?? null,
    expiresAt: row.expires_at?.toISOString() ?? null,
    rotatedAt: row.rotated_at?.toISOString() ?? null,
    previousSecretExpiresAt: row.previous_expires_at?.toISOString() ?? null,
  };
}

interface RequestToCount {
  keyId: string;
  windowStart: Date;
  previousStart: Date;
}

/**
 * Adds each key's requests to its window; the first ones of a window stamp the
 * key's last use and drop the windows before the previous one. Answers each
 * window's count with the previous window's.
 */
const COUNT_REQUESTS = preparedStatement(
  'count-requests',
  `WITH input AS (
     SELECT * FROM unnest($1::uuid[], $2::timestamptz[], $3::int[], $4::timestamptz[]) AS t(api_key_id, window_start, n, previous_start)
   ), counted AS (
     INSERT INTO api_key_usage (api_key_id, window_start, requests) SELECT api_key_id, window_start, n FROM input
     ON CONFLICT (api_key_id, window_start) DO UPDATE SET requests = api_key_usage.requests + EXCLUDED.requests
     RETURNING api_key_id, window_start, requests
   ), opened AS (
     SELECT c.api_key_id, c.window_start, i.previous_start FROM counted c JOIN input i USING (api_key_id, window_start) WHERE c.requests = i.n
   ), touched AS (
     UPDATE api_keys k SET last_used_at = o.window_start FROM opened o WHERE k.id = o.api_key_id RETURNING k.id
   ), pruned AS (
     DELETE FROM api_key_usage u USING opened o WHERE u.api_key_id = o.api_key_id AND u.window_start < o.previous_start RETURNING 1
   )
   SELECT c.api_key_id, c.window_start, c.requests, COALESCE(p.requests, 0) AS previous
   FROM counted c JOIN input i USING (api_key_id, window_start)
   LEFT JOIN api_key_usage p ON p.api_key_id = c.api_key_id AND p.window_start = i.previous_start`,
);

/** The bootstrap admin key's row, which the API cannot revoke or rotate. */
export class BootstrapKeyError extends Error {
  constructor(action: 'revoked' | 'rotated') {
    super(
      `the bootstrap admin key cannot be ${action} here: change ADMIN_API_KEY and restart the producers`,
    );
    this.name = 'BootstrapKeyError';
  }
}

/** A revoked key stays revoked: it cannot be given a new secret. */
export class RevokedKeyError extends Error {
  constructor(id: string) {
    super(`API key ${id} is revoked and cannot be rotated; create a new key`);
    this.name = 'RevokedKeyError';
  }
}

/** The live keys whose current or previous secret has one of the lookup ids. */
const FIND_LIVE_KEYS = preparedStatement(
  'find-live-keys',
  `SELECT ${VIEW_COLUMNS}, key_hash, previous_lookup_id, previous_key_hash FROM api_keys
   WHERE revoked_at IS NULL AND (lookup_id = ANY($1::text[]) OR previous_lookup_id = ANY($1::text[]))`,
);

/**
 * API keys and their use: only digests are stored; usage counts are shared by
 * every producer.
 */
export class ApiKeysRepository {
  private readonly requestCounts: Batcher<
    RequestToCount,
    { previous: number; current: number }
  >;
  private readonly lookups: Batcher<string, ApiKeyCredentials | null>;

  constructor(
    private readonly pool: Pool,
    maxBatch = 500,
  ) {
    this.requestCounts = new Batcher(
      (requests) => this.countRequests(requests),
      maxBatch,
    );
    this.lookups = new Batcher(
      (lookupIds) => this.findLiveBatch(lookupIds),
      maxBatch,
    );
  }

  /** Creates a key and its audit entry, together. */
  async create(key: NewApiKey, actor: Actor): Promise<ApiKeyView> {
    return inTransaction(this.pool, async (client) => {
      const { rows } = await client.query<ApiKeyRow>(
        `INSERT INTO api_keys (id, name, scopes, lookup_id, key_hash, requests_per_window, jobs_in_flight, stored_bytes_quota, jobs_per_day_quota, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING ${VIEW_COLUMNS}`,
        [
          key.id,
          key.name,
          key.scopes,
          key.lookupId,
          key.hash,
          key.limits.requestsPerWindow ?? null,
          key.limits.jobsInFlight ?? null,
          key.limits.storedBytes ?? null,
          key.limits.jobsPerDay ?? null,
          key.expiresAt,
        ],
      );
      const view = toView(rows[0]);
      await recordAudit(client, {
        actor,
        action: 'key.created',
        target: key.id,
        detail: {
          name: view.name,
          scopes: view.scopes,
          limits: view.limits,
          expiresAt: view.expiresAt,
        },
      });
      return view;
    });
  }

  /** Every key, the revoked ones too, newest first. */
  async list(): Promise<ApiKeyView[]> {
    const { rows } = await this.pool.query<ApiKeyRow>(
      `SELECT ${VIEW_COLUMNS} FROM api_keys ORDER BY created_at DESC, id`,
    );
    return rows.map(toView);
  }

  /**
   * Revokes a key (a second revocation changes nothing, and is not audited);
   * null when there is no such key.
   */
  async revoke(id: string, actor: Actor): Promise<ApiKeyView | null> {
    if (id === BOOTSTRAP_ADMIN_KEY_ID) throw new BootstrapKeyError('revoked');
    return inTransaction(this.pool, async (client) => {
      // now() is the transaction's start: equal to revoked_at only when this
      // statement set it.
      const { rows } = await client.query<ApiKeyRow & { revoked_now: boolean }>(
        `UPDATE api_keys SET revoked_at = COALESCE(revoked_at, now()) WHERE id = $1 RETURNING ${VIEW_COLUMNS}, revoked_at = now() AS revoked_now`,
        [id],
      );
      if (rows.length === 0) return null;
      if (rows[0].revoked_now)
        await recordAudit(client, {
          actor,
          action: 'key.revoked',
          target: id,
          detail: { name: rows[0].name },
        });
      return toView(rows[0]);
    });
  }

  /**
   * Gives a key a new secret. The secret it had keeps working for
   * `overlapSeconds` (never past its own expiry), so that clients can switch
   * over; a secret replaced before stops at once. The key keeps its id, and
   * with it its jobs, limits and usage. Null when there is no such key.
   */
  async rotate(
    id: string,
    rotation: ApiKeyRotation,
    actor: Actor,
  ): Promise<ApiKeyView | null> {
    if (id === BOOTSTRAP_ADMIN_KEY_ID) throw new BootstrapKeyError('rotated');
    return inTransaction(this.pool, async (client) => {
      const { rows } = await client.query<ApiKeyRow>(
        `UPDATE api_keys SET
           previous_lookup_id = lookup_id,
           previous_key_hash = key_hash,
           previous_expires_at = LEAST(now() + make_interval(secs => $4), COALESCE(expires_at, 'infinity')),
           lookup_id = $2, key_hash = $3, expires_at = $5, rotated_at = now()
         WHERE id = $1 AND revoked_at IS NULL
         RETURNING ${VIEW_COLUMNS}`,
        [
          id,
          rotation.lookupId,
          rotation.hash,
          rotation.overlapSeconds,
          rotation.expiresAt,
        ],
      );
      if (rows.length === 0) {
        const { rows: revoked } = await client.query(
          'SELECT 1 FROM api_keys WHERE id = $1',
          [id],
        );
        if (revoked.length > 0) throw new RevokedKeyError(id);
        return null;
      }
      const view = toView(rows[0]);
      await recordAudit(client, {
        actor,
        action: 'key.rotated',
        target: id,
        detail: {
          name: view.name,
          previousSecretExpiresAt: view.previousSecretExpiresAt,
          expiresAt: view.expiresAt,
        },
      });
      return view;
    });
  }

  /**
   * The live secret with this lookup id: a key's current one or the one its
   * last rotation replaced. Concurrent calls share a statement.
   */
  findLive(lookupId: string): Promise<ApiKeyCredentials | null> {
    return this.lookups.add(lookupId);
  }

  private async findLiveBatch(
    lookupIds: string[],
  ): Promise<Array<ApiKeyCredentials | null>> {
    const wanted = [...new Set(lookupIds)];
    const { rows } = await this.pool.query<
      ApiKeyRow & {
        key_hash: Buffer;
        previous_lookup_id: string | null;
        previous_key_hash: Buffer | null;
      }
    >(FIND_LIVE_KEYS([wanted]));
    const found = new Map<string, ApiKeyCredentials>();
    for (const row of rows) {
      const key = {
        id: row.id,
        name: row.name,
        scopes: row.scopes,
        limits: limitsOf(row),
      };
      if (row.lookup_id !== null)
        found.set(row.lookup_id, {
          ...key,
          hash: row.key_hash,
          expiresAt: row.expires_at,
          replaced: false,
        });
      if (row.previous_lookup_id !== null && row.previous_key_hash !== null) {
        found.set(row.previous_lookup_id, {
          ...key,
          hash: row.previous_key_hash,
          expiresAt: row.previous_expires_at,
          replaced: true,
        });
      }
    }
    return lookupIds.map((lookupId) => found.get(lookupId) ?? null);
  }

  /**
   * Counts a request in the key's current fixed window and answers how many the
   * key has made there, this one included, and in the window before (for a
   * sliding estimate). Concurrent calls share a statement: one row update per
   * key and window however many requests arrive at once, which is what keeps a
   * busy key from queueing on its row's lock.
   */
  countRequest(
    keyId: string,
    windowStart: Date,
    windowMs: number,
  ): Promise<{ previous: number; current: number }> {
    return this.requestCounts.add({
      keyId,
      windowStart,
      previousStart: new Date(windowStart.getTime() - windowMs),
    });
  }

  /**
   * The first requests of a key's window also stamp its last use and drop the
   * windows before the previous one.
   */
  private async countRequests(
    requests: RequestToCount[],
  ): Promise<Array<{ previous: number; current: number }>> {
    const groups = new Map<string, RequestToCount & { count: number }>();
    const groupOf = (request: RequestToCount) =>
      `${request.keyId}/${request.windowStart.getTime()}`;
    for (const request of requests) {
      const group = groups.get(groupOf(request)) ?? { ...request, count: 0 };
      group.count++;
      groups.set(groupOf(request), group);
    }
    const batch = [...groups.values()];
    const { rows } = await this.pool.query<{
      api_key_id: string;
      window_start: Date;
      requests: number;
      previous: number;
    }>(
      COUNT_REQUESTS([
        batch.map((group) => group.keyId),
        batch.map((group) => group.windowStart.toISOString()),
        batch.map((group) => group.count),
        batch.map((group) => group.previousStart.toISOString()),
      ]),
    );
    const totals = new Map(
      rows.map((row) => [
        `${row.api_key_id}/${row.window_start.getTime()}`,
        row,
      ]),
    );
    // Within a group, each request gets the next number of those the statement
    // added.
    const handedOut = new Map<string, number>();
    return requests.map((request) => {
      const key = groupOf(request);
      const position = (handedOut.get(key) ?? 0) + 1;
      handedOut.set(key, position);
      const total = totals.get(key)!;
      return {
        previous: total.previous,
        current: total.requests - groups.get(key)!.count + position,
      };
    });
  }

  /**
   * What the key holds against its quotas, in one statement (it runs before
   * every submission).
   */
  async usage(keyId: string): Promise<KeyUsage> {
    const { rows } = await this.pool.query<{
      in_flight: string;
      stored_bytes: string | null;
      jobs_today: number | null;
    }>(
      `SELECT (SELECT count(*) FROM jobs WHERE api_key_id = $1 AND status IN ('queued', 'processing')) AS in_flight,
              u.stored_bytes, CASE WHEN u.day = ${UTC_TODAY} THEN u.jobs_on_day ELSE 0 END AS jobs_today
       FROM (SELECT 1) one LEFT JOIN api_key_quota_usage u ON u.api_key_id = $1`,
      [keyId],
    );
    return {
      jobsInFlight: Number(rows[0].in_flight),
      storedBytes: Number(rows[0].stored_bytes ?? 0),
      jobsToday: rows[0].jobs_today ?? 0,
    };
  }
}
