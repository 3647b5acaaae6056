import { Type } from 'class-transformer';
import { IsIn, IsInt, IsOptional, IsUUID, Max, Min } from 'class-validator';

/**
 * What the audit log records: every change an admin makes through the API, and
 * every cancellation.
 */
export const AUDIT_ACTIONS = [
  'key.created',
  'key.rotated',
  'key.revoked',
  'job.retried',
  'job.cancelled',
  'dead-letters.jobs.replayed',
  'dead-letters.jobs.purged',
  'dead-letters.events.replayed',
  'dead-letters.events.purged',
] as const;
export type AuditAction = (typeof AUDIT_ACTIONS)[number];

/**
 * Who made a change: the API key of the request, and the request's id
 * (X-Request-Id) to find it in the logs.
 */
export interface Actor {
  apiKeyId: string;
  requestId: string;
}

/** An entry of `GET /v1/audit`. */
export interface AuditEntryView {
  /** Increasing: newer entries have larger ids. */
  id: string;
  at: string;
  apiKeyId: string;
  /** The key's name as it is now. */
  apiKeyName: string;
  action: AuditAction;
  /** What was changed: a key's or a job's id, or a queue's name. */
  target: string;
  detail: Record<string, unknown>;
  requestId: string;
}

/**
 * `GET /v1/audit`: newest first, a page at a time (`before` the last id of the
 * previous page).
 */
export class AuditQuery {
  @IsOptional()
  @IsIn(AUDIT_ACTIONS, {
    message: `action must be one of ${AUDIT_ACTIONS.join(', ')}`,
  })
  action?: AuditAction;
  @IsOptional() @IsUUID() apiKeyId?: string;
  @IsOptional() @Type(() => Number) @IsInt() @Min(1) before?: number;
  @IsOptional() @Type(() => Number) @IsInt() @Min(1) @Max(500) limit = 100;
}
