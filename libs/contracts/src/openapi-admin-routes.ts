import { SCOPES } from './api-keys';
import { AUDIT_ACTIONS } from './audit';
import type { Route } from './openapi-scopes';
import {
  apiKeyView,
  createdApiKey,
  deadLetterReport,
  json,
  limit,
  nullableTime,
  problem,
  ref,
  Schema,
  uuidParameter,
} from './openapi-schemas';

/**
 * How the presets, stats, dead-letter, audit and key routes are described, in
 * the order the description lists them.
 */
export const ADMIN_OPERATIONS = {
  'GET /v1/presets': {
    summary: 'The named presets',
    responses: {
      200: { description: 'Presets', ...json({ type: 'array' }) },
    },
  },
  'GET /v1/stats': {
    summary: 'Queues, jobs by status, throughput and workers',
    responses: {
      200: { description: 'A snapshot', ...json({ type: 'object' }) },
    },
  },
  'GET /v1/dead-letters': {
    summary: 'Messages parked in each dead-letter queue',
    responses: {
      200: {
        description: 'Counts',
        ...json({
          type: 'object',
          properties: {
            jobs: { type: 'integer' },
            events: { type: 'integer' },
          },
        }),
      },
    },
  },
  'POST /v1/dead-letters/jobs/replay': {
    summary: 'Run the jobs of parked messages again',
    description:
      "Each parked message of a job's current attempt starts its next attempt; one of an attempt the job has moved past is dropped (`dropped`), one naming no job or a succeeded one stays (`kept`).",
    parameters: [limit],
    responses: { 200: deadLetterReport },
  },
  'DELETE /v1/dead-letters/jobs': {
    summary: 'Drop parked job messages',
    description:
      "A message of a job's current attempt fails the job with PURGED if it had not finished (`done`); one of an attempt the job has moved past leaves the job alone (`dropped`).",
    parameters: [limit],
    responses: { 200: deadLetterReport },
  },
  'POST /v1/dead-letters/events/replay': {
    summary: 'Send parked events back to the writer',
    parameters: [limit],
    responses: { 200: deadLetterReport },
  },
  'DELETE /v1/dead-letters/events': {
    summary: 'Drop parked events',
    parameters: [limit],
    responses: { 200: deadLetterReport },
  },
  'GET /v1/audit': {
    summary:
      'The audit log: every change an admin made through the API (keys, retries, dead-letter replays and purges), newest first',
    parameters: [
      { name: 'action', in: 'query', schema: { enum: AUDIT_ACTIONS } },
      {
        name: 'apiKeyId',
        in: 'query',
        schema: { type: 'string', format: 'uuid' },
      },
      {
        name: 'before',
        in: 'query',
        description:
          'Entries older than this id (the last id of the previous page)',
        schema: { type: 'integer', minimum: 1 },
      },
      {
        name: 'limit',
        in: 'query',
        schema: { type: 'integer', minimum: 1, maximum: 500, default: 100 },
      },
    ],
    responses: {
      200: {
        description: 'Entries',
        ...json({
          type: 'array',
          items: {
            type: 'object',
            properties: {
              id: { type: 'string' },
              at: { type: 'string', format: 'date-time' },
              apiKeyId: { type: 'string', format: 'uuid' },
              apiKeyName: { type: 'string' },
              action: { enum: AUDIT_ACTIONS },
              target: { type: 'string' },
              detail: { type: 'object' },
              requestId: { type: 'string' },
            },
          },
        }),
      },
      400: problem('Invalid query'),
    },
  },
  'POST /v1/keys': {
    summary: 'Create an API key; the answer is the only time the key is shown',
    requestBody: json(ref('CreateApiKeyRequest')),
    responses: {
      201: {
        description: 'The key, with `key` set',
        ...json(createdApiKey),
      },
      400: problem('Invalid request'),
    },
  },
  'GET /v1/keys': {
    summary: 'Every API key (never the keys themselves)',
    responses: {
      200: {
        description: 'Keys',
        ...json({ type: 'array', items: apiKeyView }),
      },
    },
  },
  'GET /v1/keys/me': {
    summary:
      'The calling key: its id, name, scopes, the limits that apply to it (0: none), what it uses of them, and its expiry',
    responses: {
      200: {
        description: 'The key',
        ...json({
          type: 'object',
          properties: {
            id: { type: 'string', format: 'uuid' },
            name: { type: 'string' },
            scopes: { type: 'array', items: { enum: SCOPES } },
            limits: {
              type: 'object',
              properties: {
                requestsPerWindow: { type: 'integer' },
                jobsInFlight: { type: 'integer' },
                storedBytes: { type: 'integer' },
                jobsPerDay: { type: 'integer' },
              },
            },
            usage: {
              type: 'object',
              properties: {
                storedBytes: { type: 'integer' },
                jobsToday: {
                  type: 'integer',
                  description: 'Jobs submitted this UTC day',
                },
                jobsInFlight: { type: 'integer' },
              },
            },
            expiresAt: nullableTime(),
          },
        }),
      },
    },
  },
  'POST /v1/keys/{id}/rotate': {
    summary:
      'Give an API key a new secret; the one it replaces keeps working for overlapSeconds (default 3600)',
    parameters: [uuidParameter],
    requestBody: { required: false, ...json(ref('RotateApiKeyRequest')) },
    responses: {
      200: {
        description: 'The key, with its new `key` set',
        ...json(createdApiKey),
      },
      400: problem('Invalid request'),
      404: problem('Unknown key'),
      409: problem('A revoked key, or the bootstrap admin key (ADMIN_API_KEY)'),
    },
  },
  'DELETE /v1/keys/{id}': {
    summary: 'Revoke an API key, at once on every producer',
    parameters: [uuidParameter],
    responses: {
      200: { description: 'The revoked key', ...json(apiKeyView) },
      404: problem('Unknown key'),
      409: problem('The bootstrap admin key (ADMIN_API_KEY)'),
    },
  },
} satisfies Partial<Record<Route, Schema>>;
