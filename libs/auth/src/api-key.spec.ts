import { bearerToken, grants, hashApiKey, issueApiKey, lookupIdOf, sameDigest } from './api-key';
import { currentWindow, retryAfterSeconds } from './rate-window';

describe('API keys', () => {
  it('issues high-entropy keys in a recognisable format, with their lookup id and digest', () => {
    const first = issueApiKey();
    const second = issueApiKey();
    expect(first.key).toMatch(/^ipk_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/);
    expect(first.key).not.toBe(second.key);
    expect(lookupIdOf(first.key)).toBe(first.lookupId);
    expect(first.hash.equals(hashApiKey(first.key))).toBe(true);
    expect(first.hash.toString('hex')).not.toContain(first.key);
  });

  it('finds no lookup id in anything but a key of its format', () => {
    const { key } = issueApiKey();
    expect(lookupIdOf(`${key}x`)).toBeNull();
    expect(lookupIdOf(key.slice(0, -1))).toBeNull();
    expect(lookupIdOf('an-admin-key-that-someone-chose-of-some-length')).toBeNull();
  });

  it('compares digests of equal and unequal keys, and of a digest of another length', () => {
    const { key, hash } = issueApiKey();
    expect(sameDigest(hash, hashApiKey(key))).toBe(true);
    const last = key.at(-1) === 'A' ? 'E' : 'A';
    expect(sameDigest(hash, hashApiKey(`${key.slice(0, -1)}${last}`))).toBe(false);
    expect(sameDigest(hash, hash.subarray(0, 16))).toBe(false);
  });

  it('reads the token of a Bearer header only', () => {
    expect(bearerToken('Bearer abc.def')).toBe('abc.def');
    expect(bearerToken('bearer   abc')).toBe('abc');
    expect(bearerToken('Basic dXNlcjpwYXNz')).toBeNull();
    expect(bearerToken('Bearer')).toBeNull();
    expect(bearerToken('Bearer a b')).toBeNull();
    expect(bearerToken(undefined)).toBeNull();
  });

  it('grants a scope to keys that have it, and every scope to admin keys', () => {
    expect(grants(['jobs:write'], ['jobs:write'])).toBe(true);
    expect(grants(['jobs:write'], ['jobs:read'])).toBe(false);
    expect(grants(['jobs:read'], ['jobs:write', 'jobs:read'])).toBe(true);
    expect(grants(['jobs:read', 'jobs:write'], ['admin'])).toBe(false);
    expect(grants(['admin'], ['jobs:write'])).toBe(true);
  });
});

describe('rate-limit windows', () => {
  it('puts a moment in its fixed window and tells how long until the next', () => {
    const window = currentWindow(Date.parse('2026-01-01T00:00:42.250Z'), 60_000);
    expect(window.start.toISOString()).toBe('2026-01-01T00:00:00.000Z');
    expect(window.resetInMs).toBe(17_750);
    expect(currentWindow(Date.parse('2026-01-01T00:01:00.000Z'), 60_000).resetInMs).toBe(60_000);
  });

  it('never says to retry after 0 seconds', () => {
    expect(retryAfterSeconds(0)).toBe(1);
    expect(retryAfterSeconds(1)).toBe(1);
    expect(retryAfterSeconds(17_750)).toBe(18);
  });
});
