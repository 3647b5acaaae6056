import { Scope } from './api-keys';

const SCOPES_BY_ROUTE = {
  'POST /v1/jobs': ['jobs:write'],
  'GET /v1/jobs': ['jobs:read'],
  'POST /v1/jobs/batch': ['jobs:write'],
  'GET /v1/jobs/{id}': ['jobs:read'],
  'GET /v1/jobs/{id}/events': ['jobs:read'],
  'GET /v1/jobs/{id}/result': ['jobs:read'],
  'GET /v1/jobs/{id}/result/{name}': ['jobs:read'],
  'GET /v1/jobs/{id}/result/{name}/preview': ['jobs:read'],
  'GET /v1/jobs/{id}/input/preview': ['jobs:read'],
  'POST /v1/jobs/{id}/retry': ['admin'],
  'GET /v1/presets': ['jobs:write', 'jobs:read'],
  'GET /v1/stats': ['admin'],
  'GET /v1/dead-letters': ['admin'],
  'POST /v1/dead-letters/jobs/replay': ['admin'],
  'DELETE /v1/dead-letters/jobs': ['admin'],
  'POST /v1/dead-letters/events/replay': ['admin'],
  'DELETE /v1/dead-letters/events': ['admin'],
  'POST /v1/keys': ['admin'],
  'GET /v1/keys': ['admin'],
  'GET /v1/keys/me': ['jobs:write', 'jobs:read'],
  'DELETE /v1/keys/{id}': ['admin'],
  'POST /v1/keys/{id}/rotate': ['admin'],
  'GET /v1/audit': ['admin'],
  'POST /v1/jobs/{id}/cancel': ['jobs:write'],
  'POST /v1/jobs/retry-failed': ['admin'],
} satisfies Record<string, Scope[]>;

/** A route of the HTTP API, as `METHOD /path` with `{name}` parameters. */
export type Route = keyof typeof SCOPES_BY_ROUTE;

/**
 * The scopes each route needs, as the producer's controllers declare them (a
 * test keeps the two in step); the description shows them per operation.
 */
export const ROUTE_SCOPES: Record<string, Scope[]> = SCOPES_BY_ROUTE;
