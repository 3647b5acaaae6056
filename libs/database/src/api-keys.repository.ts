import { ApiKeyView, Scope } from '@pipeline/contracts';
import { Pool } from 'pg';
import { Batcher } from './batcher';

/** The row that stands for ADMIN_API_KEY: its jobs belong to it, and it cannot be revoked through the API. */
export const BOOTSTRAP_ADMIN_KEY_ID = '00000000-0000-4000-8000-000000000000';

/** A live key as authentication needs it. */
export interface ApiKeyCredentials {
  id: string;
  name: string;
  scopes: Scope[];
  hash: Buffer;
  limits: { requestsPerWindow: number | null; jobsInFlight: number | null };
}

export interface NewApiKey {
  id: string;
  name: string;
  scopes: Scope[];
  lookupId: string;
  hash: Buffer;
  limits: { requestsPerWindow?: number; jobsInFlight?: number };
}

interface ApiKeyRow {
  id: string;
  name: string;
  scopes: Scope[];
  lookup_id: string | null;
  requests_per_window: number | null;
  jobs_in_flight: number | null;
  created_at: Date;
  last_used_at: Date | null;
  revoked_at: Date | null;
}

const VIEW_COLUMNS = 'id, name, scopes, lookup_id, requests_per_window, jobs_in_flight, created_at, last_used_at, revoked_at';

function toView(row: ApiKeyRow): ApiKeyView {
  return {
    id: row.id,
    name: row.name,
    scopes: row.scopes,
    prefix: row.lookup_id === null ? null : `ipk_${row.lookup_id}_…`,
    limits: { requestsPerWindow: row.requests_per_window, jobsInFlight: row.jobs_in_flight },
    createdAt: row.created_at.toISOString(),
    lastUsedAt: row.last_used_at?.toISOString() ?? null,
    revokedAt: row.revoked_at?.toISOString() ?? null,
  };
}

/** The bootstrap admin key's row, which the API cannot revoke. */
export class BootstrapKeyError extends Error {
  constructor() {
    super('the bootstrap admin key cannot be revoked here: change ADMIN_API_KEY and restart the producers');
    this.name = 'BootstrapKeyError';
  }
}

/** API keys and their use: only digests are stored; usage counts are shared by every producer. */
export class ApiKeysRepository {
  private readonly requestCounts: Batcher<{ keyId: string; windowStart: Date }, number>;
  private readonly lookups: Batcher<string, ApiKeyCredentials | null>;

  constructor(
    private readonly pool: Pool,
    maxBatch = 500,
  ) {
    this.requestCounts = new Batcher((requests) => this.countRequests(requests), maxBatch);
    this.lookups = new Batcher((lookupIds) => this.findLiveBatch(lookupIds), maxBatch);
  }

  async create(key: NewApiKey): Promise<ApiKeyView> {
    const { rows } = await this.pool.query<ApiKeyRow>(
      `INSERT INTO api_keys (id, name, scopes, lookup_id, key_hash, requests_per_window, jobs_in_flight)
       VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING ${VIEW_COLUMNS}`,
      [key.id, key.name, key.scopes, key.lookupId, key.hash, key.limits.requestsPerWindow ?? null, key.limits.jobsInFlight ?? null],
    );
    return toView(rows[0]);
  }

  /** Every key, the revoked ones too, newest first. */
  async list(): Promise<ApiKeyView[]> {
    const { rows } = await this.pool.query<ApiKeyRow>(`SELECT ${VIEW_COLUMNS} FROM api_keys ORDER BY created_at DESC, id`);
    return rows.map(toView);
  }

  /** Revokes a key (a second revocation changes nothing); null when there is no such key. */
  async revoke(id: string): Promise<ApiKeyView | null> {
    if (id === BOOTSTRAP_ADMIN_KEY_ID) throw new BootstrapKeyError();
    const { rows } = await this.pool.query<ApiKeyRow>(
      `UPDATE api_keys SET revoked_at = COALESCE(revoked_at, now()) WHERE id = $1 RETURNING ${VIEW_COLUMNS}`,
      [id],
    );
    return rows.length > 0 ? toView(rows[0]) : null;
  }

  /** The live (not revoked) key with this lookup id; concurrent calls share a statement. */
  findLive(lookupId: string): Promise<ApiKeyCredentials | null> {
    return this.lookups.add(lookupId);
  }

  private async findLiveBatch(lookupIds: string[]): Promise<Array<ApiKeyCredentials | null>> {
    const { rows } = await this.pool.query<ApiKeyRow & { key_hash: Buffer }>(
      `SELECT ${VIEW_COLUMNS}, key_hash FROM api_keys WHERE revoked_at IS NULL AND lookup_id = ANY($1::text[])`,
      [[...new Set(lookupIds)]],
    );
    const found = new Map(
      rows.map((row) => [
        row.lookup_id,
        { id: row.id, name: row.name, scopes: row.scopes, hash: row.key_hash, limits: { requestsPerWindow: row.requests_per_window, jobsInFlight: row.jobs_in_flight } },
      ]),
    );
    return lookupIds.map((lookupId) => found.get(lookupId) ?? null);
  }

  /**
   * Counts a request in the key's current window and answers how many the key has made there,
   * this one included. Concurrent calls share a statement: one row update per key and window
   * however many requests arrive at once, which is what keeps a busy key from queueing on its
   * row's lock.
   */
  countRequest(keyId: string, windowStart: Date): Promise<number> {
    return this.requestCounts.add({ keyId, windowStart });
  }

  /** The first requests of a key's window also stamp its last use and drop its older windows. */
  private async countRequests(requests: Array<{ keyId: string; windowStart: Date }>): Promise<number[]> {
    const groups = new Map<string, { keyId: string; windowStart: Date; count: number }>();
    const groupOf = (request: { keyId: string; windowStart: Date }) => `${request.keyId}/${request.windowStart.getTime()}`;
    for (const request of requests) {
      const group = groups.get(groupOf(request)) ?? { ...request, count: 0 };
      group.count++;
      groups.set(groupOf(request), group);
    }
    const batch = [...groups.values()];
    const { rows } = await this.pool.query<{ api_key_id: string; window_start: Date; requests: number }>(
      `WITH input AS (
         SELECT * FROM unnest($1::uuid[], $2::timestamptz[], $3::int[]) AS t(api_key_id, window_start, n)
       ), counted AS (
         INSERT INTO api_key_usage (api_key_id, window_start, requests) SELECT api_key_id, window_start, n FROM input
         ON CONFLICT (api_key_id, window_start) DO UPDATE SET requests = api_key_usage.requests + EXCLUDED.requests
         RETURNING api_key_id, window_start, requests
       ), opened AS (
         SELECT c.api_key_id, c.window_start FROM counted c JOIN input i USING (api_key_id, window_start) WHERE c.requests = i.n
       ), touched AS (
         UPDATE api_keys k SET last_used_at = o.window_start FROM opened o WHERE k.id = o.api_key_id RETURNING k.id
       ), pruned AS (
         DELETE FROM api_key_usage u USING opened o WHERE u.api_key_id = o.api_key_id AND u.window_start < o.window_start RETURNING 1
       )
       SELECT api_key_id, window_start, requests FROM counted`,
      [batch.map((group) => group.keyId), batch.map((group) => group.windowStart.toISOString()), batch.map((group) => group.count)],
    );
    const totals = new Map(rows.map((row) => [`${row.api_key_id}/${row.window_start.getTime()}`, row.requests]));
    // Within a group, each request gets the next number of those the statement added.
    const handedOut = new Map<string, number>();
    return requests.map((request) => {
      const key = groupOf(request);
      const position = (handedOut.get(key) ?? 0) + 1;
      handedOut.set(key, position);
      return totals.get(key)! - groups.get(key)!.count + position;
    });
  }

  /** Jobs of this key that are queued or processing. */
  async jobsInFlight(keyId: string): Promise<number> {
    const { rows } = await this.pool.query<{ count: string }>(
      "SELECT count(*) FROM jobs WHERE api_key_id = $1 AND status IN ('queued', 'processing')",
      [keyId],
    );
    return Number(rows[0].count);
  }
}
