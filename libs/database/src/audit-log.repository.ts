import {
  Actor,
  AuditAction,
  AuditEntryView,
  AuditQuery,
} from '@pipeline/contracts';
import { Pool, PoolClient } from 'pg';

export interface AuditEntry {
  actor: Actor;
  action: AuditAction;
  target: string;
  detail?: Record<string, unknown>;
}

/**
 * Writes an audit entry with `on`: the pool, or the client of the transaction
 * that makes the change, so that the change and its entry are committed
 * together or not at all.
 */
export async function recordAudit(
  on: Pool | PoolClient,
  entry: AuditEntry,
): Promise<string> {
  const { rows } = await on.query<{ id: string }>(
    'INSERT INTO audit_log (api_key_id, action, target, detail, request_id) VALUES ($1, $2, $3, $4, $5) RETURNING id',
    [
      entry.actor.apiKeyId,
      entry.action,
      entry.target,
      JSON.stringify(entry.detail ?? {}),
      entry.actor.requestId,
    ],
  );
  return rows[0].id;
}

interface AuditRow {
  id: string;
  at: Date;
  api_key_id: string;
  api_key_name: string;
  action: AuditAction;
  target: string;
  detail: Record<string, unknown>;
  request_id: string;
}

/**
 * The audit log: who changed what through the API, and when. Entries are only
 * ever added to.
 */
export class AuditLogRepository {
  constructor(private readonly pool: Pool) {}

  record(entry: AuditEntry): Promise<string> {
    return recordAudit(this.pool, entry);
  }

  /**
   * Adds what an operation came to (counts, say) to the entry written when it
   * began.
   */
  async complete(id: string, outcome: Record<string, unknown>): Promise<void> {
    await this.pool.query(
      'UPDATE audit_log SET detail = detail || $2::jsonb WHERE id = $1',
      [id, JSON.stringify(outcome)],
    );
  }

  /** Newest first. */
  async list(
    query: Pick<AuditQuery, 'action' | 'apiKeyId' | 'before' | 'limit'>,
  ): Promise<AuditEntryView[]> {
    const { rows } = await this.pool.query<AuditRow>(
      `SELECT a.id, a.at, a.api_key_id, k.name AS api_key_name, a.action, a.target, a.detail, a.request_id
       FROM audit_log a JOIN api_keys k ON k.id = a.api_key_id
       WHERE ($1::text IS NULL OR a.action = $1) AND ($2::uuid IS NULL OR a.api_key_id = $2) AND ($3::bigint IS NULL OR a.id < $3)
       ORDER BY a.id DESC LIMIT $4`,
      [
        query.action ?? null,
        query.apiKeyId ?? null,
        query.before ?? null,
        query.limit,
      ],
    );
    return rows.map((row) => ({
      id: row.id,
      at: row.at.toISOString(),
      apiKeyId: row.api_key_id,
      apiKeyName: row.api_key_name,
      action: row.action,
      target: row.target,
      detail: row.detail,
      requestId: row.request_id,
    }));
  }
}
