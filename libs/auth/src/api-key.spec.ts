import {
  bearerToken,
  grants,
  hashApiKey,
  issueApiKey,
  lookupIdOf,
  sameDigest,
} from './api-key';
import {
  currentWindow,
  msUntilAllowed,
  retryAfterSeconds,
  slidingEstimate,
} from './rate-window';

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
    expect(
      lookupIdOf('an-admin-key-that-someone-chose-of-some-length'),
    ).toBeNull();
  });

  it('compares digests of equal and unequal keys, and of a digest of another length', () => {
    const { key, hash } = issueApiKey();
    expect(sameDigest(hash, hashApiKey(key))).toBe(true);
    const last = key.at(-1) === 'A' ? 'E' : 'A';
    expect(sameDigest(hash, hashApiKey(`${key.slice(0, -1)}${last}`))).toBe(
      false,
    );
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
    const window = currentWindow(
      Date.parse('2026-01-01T00:00:42.250Z'),
      60_000,
    );
    expect(window.start.toISOString()).toBe('2026-01-01T00:00:00.000Z');
    expect(window.resetInMs).toBe(17_750);
    expect(
      currentWindow(Date.parse('2026-01-01T00:01:00.000Z'), 60_000).resetInMs,
    ).toBe(60_000);
  });

  it('estimates a sliding window from the current fixed window and the share of the previous one it still covers', () => {
    expect(slidingEstimate({ previous: 0, current: 7 }, 15_000, 60_000)).toBe(
      7,
    );
    expect(slidingEstimate({ previous: 100, current: 7 }, 0, 60_000)).toBe(107);
    expect(slidingEstimate({ previous: 100, current: 7 }, 15_000, 60_000)).toBe(
      82,
    );
    expect(slidingEstimate({ previous: 100, current: 7 }, 60_000, 60_000)).toBe(
      7,
    );
    // A full burst at the end of one window and another at the start of the
    // next: over the limit.
    expect(
      slidingEstimate({ previous: 100, current: 100 }, 1000, 60_000),
    ).toBeGreaterThan(100);
  });

  it('tells when one more request fits, in this window or the next', () => {
    // Room in this window and nothing before: now.
    expect(msUntilAllowed(10, { previous: 0, current: 9 }, 5000, 60_000)).toBe(
      0,
    );
    // 100 before, 50 now, limit 100: one more fits once half of the previous
    // window has slid out (+1 request's worth).
    expect(
      msUntilAllowed(100, { previous: 100, current: 50 }, 15_000, 60_000),
    ).toBe(60_000 * (1 - 49 / 100) - 15_000);
    expect(
      slidingEstimate(
        { previous: 100, current: 50 },
        15_000 +
          msUntilAllowed(100, { previous: 100, current: 50 }, 15_000, 60_000),
        60_000,
      ) + 1,
    ).toBeCloseTo(100);
    // The current window alone is full: into the next one, until enough of this
    // one has slid out.
    const wait = msUntilAllowed(5, { previous: 0, current: 6 }, 10_000, 60_000);
    expect(wait).toBe(50_000 + 60_000 * (1 - 4 / 6));
    expect(
      slidingEstimate({ previous: 6, current: 0 }, wait - 50_000, 60_000) + 1,
    ).toBeCloseTo(5);
  });

  it('never says to retry after 0 seconds', () => {
    expect(retryAfterSeconds(0)).toBe(1);
    expect(retryAfterSeconds(1)).toBe(1);
    expect(retryAfterSeconds(17_750)).toBe(18);
  });
});
