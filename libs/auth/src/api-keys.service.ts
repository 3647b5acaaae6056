import {
  BadRequestException,
  Injectable,
  NotFoundException,
  ServiceUnavailableException,
  UnauthorizedException,
} from '@nestjs/common';
import {
  Actor,
  ApiKeySelfView,
  ApiKeyView,
  CreateApiKeyRequest,
  CreatedApiKey,
  DEFAULT_ROTATION_OVERLAP_S,
  RotateApiKeyRequest,
} from '@pipeline/contracts';
import {
  ApiKeyCredentials,
  ApiKeysRepository,
  BOOTSTRAP_ADMIN_KEY_ID,
} from '@pipeline/database';
import { randomUUID } from 'node:crypto';
import { hashApiKey, issueApiKey, lookupIdOf, sameDigest } from './api-key';
import { Caller } from './caller';
import { judgeSubmission } from './quotas';
import { RateLimitExceededError } from './rate-limit-exceeded.error';
import { StorageQuotaExceededError } from './storage-quota-exceeded.error';
import {
  currentWindow,
  msUntilAllowed,
  retryAfterSeconds,
  slidingEstimate,
} from './rate-window';

/** How keys are checked and limited; from the producer's configuration. */
export class ApiKeyOptions {
  /** ADMIN_API_KEY. */
  adminKey: string;
  windowMs: number;
  /** Defaults for keys without limits of their own; 0 means no limit. */
  requestsPerWindow: number;
  jobsInFlight: number;
  /**
   * QUOTA_STORED_BYTES and QUOTA_JOBS_PER_DAY: defaults for keys without quotas
   * of their own; 0 means no limit.
   */
  storedBytes: number;
  jobsPerDay: number;
}

/**
 * API keys: who a bearer token belongs to, whether the key is within its
 * limits, and the keys admins create and revoke. Nothing is cached, so a
 * revocation holds on every producer at once.
 */
@Injectable()
export class ApiKeysService {
  private readonly adminKeyHash: Buffer;

  constructor(
    private readonly keys: ApiKeysRepository,
    private readonly options: ApiKeyOptions,
  ) {
    this.adminKeyHash = hashApiKey(options.adminKey);
  }

  /**
   * The caller a token stands for; 401 for an unknown, revoked or expired key,
   * 503 if that cannot be told.
   */
  async authenticate(token: string, now = Date.now()): Promise<Caller> {
    const hash = hashApiKey(token);
    if (sameDigest(hash, this.adminKeyHash)) {
      return this.caller({
        id: BOOTSTRAP_ADMIN_KEY_ID,
        name: 'bootstrap admin (ADMIN_API_KEY)',
        scopes: ['admin'],
        limits: {
          requestsPerWindow: null,
          jobsInFlight: null,
          storedBytes: null,
          jobsPerDay: null,
        },
        expiresAt: null,
      });
    }
    const lookupId = lookupIdOf(token);
    if (lookupId === null)
      throw new UnauthorizedException('the API key is not valid');
    const key = await this.keys.findLive(lookupId).catch(databaseUnavailable);
    if (!key || !sameDigest(hash, key.hash))
      throw new UnauthorizedException(
        'the API key is not valid (unknown or revoked)',
      );
    // Said only to a caller who holds the secret: the digest matched.
    if (key.expiresAt !== null && key.expiresAt.getTime() <= now) {
      const when = key.expiresAt.toISOString();
      throw new UnauthorizedException(
        key.replaced
          ? `the API key was rotated and its old secret stopped working at ${when}; use the new one`
          : `the API key expired at ${when}`,
      );
    }
    return this.caller(key);
  }

  /**
   * Counts a request against the caller's sliding window (shared by every
   * producer through the database; refused requests count too). Resolves with
   * the figures for the RateLimit headers; past the limit, 429 with how long
   * until one more request fits.
   */
  async countRequest(
    caller: Caller,
    now = Date.now(),
  ): Promise<{
    limit: number;
    remaining: number;
    resetSeconds: number;
  } | null> {
    const limit = caller.limits.requestsPerWindow;
    if (limit === 0) return null;
    const { windowMs } = this.options;
    const window = currentWindow(now, windowMs);
    const counts = await this.keys
      .countRequest(caller.keyId, window.start, windowMs)
      .catch(databaseUnavailable);
    const elapsedMs = windowMs - window.resetInMs;
    const estimate = slidingEstimate(counts, elapsedMs, windowMs);
    if (estimate > limit) {
      // The counts hold this refused request: the next one comes on top of it.
      const wait = retryAfterSeconds(
        msUntilAllowed(limit, counts, elapsedMs, windowMs),
      );
      throw new RateLimitExceededError(
        `this API key made more than ${limit} requests in the last ${windowMs / 1000} s; try again in ${wait} s`,
        wait,
      );
    }
    return {
      limit,
      remaining: Math.max(0, Math.floor(limit - estimate)),
      resetSeconds: retryAfterSeconds(window.resetInMs),
    };
  }

  /**
   * Refuses `adding` more jobs when the caller is at its stored-bytes quota
   * (413), or would pass its jobs per day (429 until midnight UTC) or its jobs
   * queued or processing (429). One read of the key's usage; concurrent
   * submissions of one key are judged before either is recorded, so a burst can
   * pass a limit by as many requests as run at that moment.
   */
  async admitJobs(
    caller: Caller,
    adding: number,
    now = new Date(),
  ): Promise<void> {
    const { limits } = caller;
    if (
      limits.jobsInFlight === 0 &&
      limits.storedBytes === 0 &&
      limits.jobsPerDay === 0
    )
      return;
    const usage = await this.keys
      .usage(caller.keyId)
      .catch(databaseUnavailable);
    const refusal = judgeSubmission(limits, usage, adding, now);
    if (!refusal) return;
    if (refusal.status === 413)
      throw new StorageQuotaExceededError(refusal.message);
    throw new RateLimitExceededError(
      refusal.message,
      refusal.retryAfterSeconds ?? 5,
    );
  }

  /**
   * The caller's own description: its limits, and what it holds against them.
   */
  async describe(caller: Caller): Promise<ApiKeySelfView> {
    const usage = await this.keys
      .usage(caller.keyId)
      .catch(databaseUnavailable);
    return {
      id: caller.keyId,
      name: caller.name,
      scopes: caller.scopes,
      limits: caller.limits,
      usage,
      expiresAt: caller.expiresAt,
    };
  }

  async create(
    request: CreateApiKeyRequest,
    actor: Actor,
  ): Promise<CreatedApiKey> {
    const issued = issueApiKey();
    const view = await this.keys.create(
      {
        id: randomUUID(),
        name: request.name,
        scopes: request.scopes,
        lookupId: issued.lookupId,
        hash: issued.hash,
        limits: {
          requestsPerWindow: request.requestsPerWindow,
          jobsInFlight: request.jobsInFlight,
          storedBytes: request.storedBytes,
          jobsPerDay: request.jobsPerDay,
        },
        expiresAt: futureExpiry(request.expiresAt),
      },
      actor,
    );
    return { ...view, key: issued.key };
  }

  /**
   * A new secret for the key (shown this once); the one it replaces works on
   * for the overlap.
   */
  async rotate(
    id: string,
    request: RotateApiKeyRequest,
    actor: Actor,
  ): Promise<CreatedApiKey> {
    const issued = issueApiKey();
    const view = await this.keys.rotate(
      id,
      {
        lookupId: issued.lookupId,
        hash: issued.hash,
        expiresAt: futureExpiry(request.expiresAt),
        overlapSeconds: request.overlapSeconds ?? DEFAULT_ROTATION_OVERLAP_S,
      },
      actor,
    );
    if (!view) throw new NotFoundException(`API key ${id} does not exist`);
    return { ...view, key: issued.key };
  }

  list(): Promise<ApiKeyView[]> {
    return this.keys.list();
  }

  async revoke(id: string, actor: Actor): Promise<ApiKeyView> {
    const revoked = await this.keys.revoke(id, actor);
    if (!revoked) throw new NotFoundException(`API key ${id} does not exist`);
    return revoked;
  }

  private caller(key: Omit<ApiKeyCredentials, 'hash' | 'replaced'>): Caller {
    return {
      keyId: key.id,
      name: key.name,
      scopes: key.scopes,
      limits: {
        requestsPerWindow:
          key.limits.requestsPerWindow ?? this.options.requestsPerWindow,
        jobsInFlight: key.limits.jobsInFlight ?? this.options.jobsInFlight,
        storedBytes: key.limits.storedBytes ?? this.options.storedBytes,
        jobsPerDay: key.limits.jobsPerDay ?? this.options.jobsPerDay,
      },
      expiresAt: key.expiresAt?.toISOString() ?? null,
    };
  }
}

/**
 * The expiry a request asks for; a key that would be born expired is a mistake
 * worth a 400.
 */
function futureExpiry(expiresAt: string | undefined): Date | null {
  if (expiresAt === undefined) return null;
  const at = new Date(expiresAt);
  if (at.getTime() <= Date.now())
    throw new BadRequestException([
      `expiresAt must be in the future (it is ${at.toISOString()})`,
    ]);
  return at;
}

function databaseUnavailable(error: Error): never {
  throw new ServiceUnavailableException(
    `the database is unavailable, so the API key cannot be checked (${error.message}); try again`,
  );
}
