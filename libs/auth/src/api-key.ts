import { Scope } from '@pipeline/contracts';
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * `ipk_<lookup id>_<secret>`: the lookup id (public, 64 bits) finds the row,
 * the secret (256 bits) is what proves the caller. A recognisable prefix lets
 * secret scanners find leaked keys.
 */
const KEY_FORMAT = /^ipk_([0-9a-f]{16})_[A-Za-z0-9_-]{43}$/;

export interface IssuedApiKey {
  /** Shown to its creator once, never stored. */
  key: string;
  lookupId: string;
  hash: Buffer;
}

export function issueApiKey(): IssuedApiKey {
  const lookupId = randomBytes(8).toString('hex');
  const key = `ipk_${lookupId}_${randomBytes(32).toString('base64url')}`;
  return { key, lookupId, hash: hashApiKey(key) };
}

/**
 * SHA-256, not a password hash: a slow hash protects guessable passwords, while
 * a key's 256 random bits cannot be found from its digest by any amount of
 * guessing.
 */
export function hashApiKey(key: string): Buffer {
  return createHash('sha256').update(key, 'utf8').digest();
}

/**
 * The lookup id of a key in this API's format; null for anything else (such as
 * ADMIN_API_KEY).
 */
export function lookupIdOf(key: string): string | null {
  return KEY_FORMAT.exec(key)?.[1] ?? null;
}

/** Compares two digests in time that does not depend on where they differ. */
export function sameDigest(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

/** Whether keys with `scopes` may do what needs any one of `needed`. */
export function grants(
  scopes: readonly Scope[],
  needed: readonly Scope[],
): boolean {
  return (
    scopes.includes('admin') || needed.some((scope) => scopes.includes(scope))
  );
}

/**
 * The token of an `Authorization: Bearer <token>` header; null when the header
 * is absent or of another scheme.
 */
export function bearerToken(
  header: string | string[] | undefined,
): string | null {
  if (typeof header !== 'string') return null;
  const match = /^Bearer[ ]+([\x21-\x7e]+)\s*$/i.exec(header);
  return match ? match[1] : null;
}
