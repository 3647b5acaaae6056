import { ApiKeySelfView, Scope } from '@pipeline/contracts';

/**
 * Who is calling: the API key a request authenticated with, and the limits that
 * apply to it.
 */
export interface Caller {
  keyId: string;
  name: string;
  scopes: Scope[];
  /** Its own, or the producer's defaults; 0: no limit. As `/v1/keys/me`. */
  limits: ApiKeySelfView['limits'];
  /** When the secret the request used stops working; null: never. */
  expiresAt: string | null;
}

export function isAdmin(caller: Caller): boolean {
  return caller.scopes.includes('admin');
}

/**
 * The key whose jobs the caller may see: its own, or (undefined) every key's
 * for an admin.
 */
export function jobOwnerFilter(caller: Caller): string | undefined {
  return isAdmin(caller) ? undefined : caller.keyId;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by ApiKeyGuard on every `/v1` request it lets through. */
    caller?: Caller;
  }
}
