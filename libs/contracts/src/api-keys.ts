import {
  ArrayNotEmpty,
  ArrayUnique,
  IsArray,
  IsIn,
  IsInt,
  IsISO8601,
  IsOptional,
  IsString,
  Length,
  Max,
  Min,
} from 'class-validator';
import { stacked } from './stacked';

/**
 * What a key may do. `admin` may do everything the others may, on every key's
 * jobs.
 */
export const SCOPES = ['jobs:write', 'jobs:read', 'admin'] as const;
export type Scope = (typeof SCOPES)[number];

/**
 * An optional ISO 8601 date-time at which a secret stops working.
 */
function IsOptionalExpiry(): PropertyDecorator {
  return stacked(
    IsOptional(),
    IsISO8601(
      { strict: true, strictSeparator: true },
      {
        message:
          'expiresAt must be an ISO 8601 date-time, e.g. 2027-01-31T00:00:00Z',
      },
    ),
  );
}

/**
 * `POST /v1/keys`: a new key, its scopes, and optionally limits of its own
 * instead of the producer's defaults.
 */
export class CreateApiKeyRequest {
  @IsString() @Length(1, 100) name: string;

  @IsArray()
  @ArrayNotEmpty()
  @ArrayUnique()
  @IsIn(SCOPES, {
    each: true,
    message: `each of scopes must be one of ${SCOPES.join(', ')}`,
  })
  scopes: Scope[];

  /** Requests per rate-limit window; without it, RATE_LIMIT_REQUESTS. */
  @IsOptional() @IsInt() @Min(1) @Max(10_000_000) requestsPerWindow?: number;

  /**
   * Jobs queued or processing at once; without it, RATE_LIMIT_JOBS_IN_FLIGHT.
   */
  @IsOptional() @IsInt() @Min(1) @Max(10_000_000) jobsInFlight?: number;

  /**
   * Bytes of uploaded inputs and outputs the key may keep stored; without it,
   * QUOTA_STORED_BYTES.
   */
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(Number.MAX_SAFE_INTEGER)
  storedBytes?: number;

  /** Jobs the key may submit per UTC day; without it, QUOTA_JOBS_PER_DAY. */
  @IsOptional() @IsInt() @Min(1) @Max(1_000_000_000) jobsPerDay?: number;

  /**
   * When the key stops working (ISO 8601 date-time, in the future); without it,
   * never.
   */
  @IsOptionalExpiry()
  expiresAt?: string;
}

/**
 * How long a replaced secret keeps working when a rotation does not say: an
 * hour.
 */
export const DEFAULT_ROTATION_OVERLAP_S = 3600;
/** The longest a replaced secret may keep working: a week. */
export const MAX_ROTATION_OVERLAP_S = 7 * 24 * 3600;

/**
 * `POST /v1/keys/:id/rotate`: a new secret for a key, which keeps its id,
 * scopes, limits and jobs.
 */
export class RotateApiKeyRequest {
  /**
   * How long the secret being replaced keeps working, so that clients can
   * switch over; default an hour, 0 stops it at once.
   */
  @IsOptional()
  @IsInt()
  @Min(0)
  @Max(MAX_ROTATION_OVERLAP_S)
  overlapSeconds?: number;

  /**
   * When the new secret stops working (ISO 8601 date-time, in the future);
   * without it, never.
   */
  @IsOptionalExpiry()
  expiresAt?: string;
}

/** A key as `GET /v1/keys` shows it: never the key itself. */
export interface ApiKeyView {
  id: string;
  name: string;
  scopes: Scope[];
  /**
   * The key's first characters, to recognise it; null for the bootstrap admin
   * key (ADMIN_API_KEY).
   */
  prefix: string | null;
  /** The key's own limits and quotas; null: the producer's default. */
  limits: {
    requestsPerWindow: number | null;
    jobsInFlight: number | null;
    storedBytes: number | null;
    jobsPerDay: number | null;
  };
  createdAt: string;
  /** Within one rate-limit window. */
  lastUsedAt: string | null;
  revokedAt: string | null;
  /** When the key stops working; null: never. */
  expiresAt: string | null;
  /** When the key was last given a new secret. */
  rotatedAt: string | null;
  /** Until when the secret the last rotation replaced keeps working. */
  previousSecretExpiresAt: string | null;
}

/**
 * The answer to `POST /v1/keys` and `POST /v1/keys/:id/rotate`: the only time
 * the key is shown.
 */
export interface CreatedApiKey extends ApiKeyView {
  key: string;
}

/**
 * `GET /v1/keys/me`: the calling key, the limits that apply to it (its own or
 * the defaults; 0: none) and what it uses of them.
 */
export interface ApiKeySelfView {
  id: string;
  name: string;
  scopes: Scope[];
  limits: {
    requestsPerWindow: number;
    jobsInFlight: number;
    storedBytes: number;
    jobsPerDay: number;
  };
  usage: { storedBytes: number; jobsToday: number; jobsInFlight: number };
  expiresAt: string | null;
}
