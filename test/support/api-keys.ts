import { randomBytes } from 'node:crypto';

/** The bootstrap admin key the tests give their producers (ADMIN_API_KEY). */
export const TEST_ADMIN_KEY = `test-admin-${randomBytes(24).toString('base64url')}`;

/** Request options with `Authorization: Bearer <key>` added. */
export function withKey(key: string, init: RequestInit = {}): RequestInit {
  const headers = new Headers(init.headers);
  headers.set('authorization', `Bearer ${key}`);
  return { ...init, headers };
}

/** `fetch` as the holder of `key`. */
export function fetchAs(
  key: string,
): (input: string | URL, init?: RequestInit) => Promise<Response> {
  return (input, init) => fetch(input, withKey(key, init));
}

/** `fetch` with the bootstrap admin key. */
export const adminFetch = fetchAs(TEST_ADMIN_KEY);
