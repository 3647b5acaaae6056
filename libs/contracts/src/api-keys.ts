import { ArrayNotEmpty, ArrayUnique, IsArray, IsIn, IsInt, IsOptional, IsString, Length, Max, Min } from 'class-validator';

/** What a key may do. `admin` may do everything the others may, on every key's jobs. */
export const SCOPES = ['jobs:write', 'jobs:read', 'admin'] as const;
export type Scope = (typeof SCOPES)[number];

/** `POST /v1/keys`: a new key, its scopes, and optionally limits of its own instead of the producer's defaults. */
export class CreateApiKeyRequest {
  @IsString() @Length(1, 100) name: string;

  @IsArray() @ArrayNotEmpty() @ArrayUnique() @IsIn(SCOPES, { each: true, message: `each of scopes must be one of ${SCOPES.join(', ')}` })
  scopes: Scope[];

  /** Requests per rate-limit window; without it, RATE_LIMIT_REQUESTS. */
  @IsOptional() @IsInt() @Min(1) @Max(10_000_000) requestsPerWindow?: number;

  /** Jobs queued or processing at once; without it, RATE_LIMIT_JOBS_IN_FLIGHT. */
  @IsOptional() @IsInt() @Min(1) @Max(10_000_000) jobsInFlight?: number;
}

/** A key as `GET /v1/keys` shows it: never the key itself. */
export interface ApiKeyView {
  id: string;
  name: string;
  scopes: Scope[];
  /** The key's first characters, to recognise it; null for the bootstrap admin key (ADMIN_API_KEY). */
  prefix: string | null;
  limits: { requestsPerWindow: number | null; jobsInFlight: number | null };
  createdAt: string;
  /** Within one rate-limit window. */
  lastUsedAt: string | null;
  revokedAt: string | null;
}

/** The answer to `POST /v1/keys`: the only time the key is shown. */
export interface CreatedApiKey extends ApiKeyView {
  key: string;
}
