import { validationMetadatasToSchemas } from 'class-validator-jsonschema';
import { JobErrorCode } from './errors';
import { JOB_STATUSES } from './jobs';
import { OPERATION_EXAMPLES } from './operation-examples';
import { OPERATION_CLASSES, OperationName } from './operations';
import { OUTPUT_FORMATS } from './output';
import { MAX_VARIANTS } from './variants';
import { Scope, SCOPES } from './api-keys';
import { AUDIT_ACTIONS } from './audit';
import { RetryFailedJobsRequest } from './bulk-retry';

type Schema = Record<string, unknown>;
const ref = (name: string): Schema => ({
  $ref: `#/components/schemas/${name}`,
});
const json = (schema: Schema) => ({
  content: { 'application/json': { schema } },
});
const problem = (description: string) => ({
  description,
  ...json(ref('Problem')),
});
const uuidParameter = {
  name: 'id',
  in: 'path',
  required: true,
  schema: { type: 'string', format: 'uuid' },
};

/**
 * The scopes each route needs, as the producer's controllers declare them (a
 * test keeps the two in step); the description shows them per operation.
 */
export const ROUTE_SCOPES: Record<string, Scope[]> = {
  'POST /v1/jobs': ['jobs:write'],
  'GET /v1/jobs': ['jobs:read'],
  'POST /v1/jobs/batch': ['jobs:write'],
  'GET /v1/jobs/{id}': ['jobs:read'],
  'GET /v1/jobs/{id}/events': ['jobs:read'],
  'GET /v1/jobs/{id}/result': ['jobs:read'],
  'GET /v1/jobs/{id}/result/{name}': ['jobs:read'],
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
};

/**
 * The request classes, as JSON Schema, straight from their class-validator
 * decorators.
 */
function dtoSchemas(): Record<string, Schema> {
  const schemas = validationMetadatasToSchemas({
    refPointerPrefix: '#/components/schemas/',
  }) as Record<string, Schema>;
  // Fields typed with a union of literals get a `$ref` to `Object` besides
  // their enum; the enum says it all.
  for (const schema of Object.values(schemas)) {
    for (const property of Object.values(
      (schema.properties ?? {}) as Record<string, Schema>,
    )) {
      if (property.$ref === '#/components/schemas/Object') delete property.$ref;
    }
  }
  for (const [op, cls] of Object.entries(OPERATION_CLASSES)) {
    schemas[cls.name].examples = OPERATION_EXAMPLES.filter(
      (example) => example.op === (op as OperationName),
    );
  }
  return schemas;
}

/**
 * The OpenAPI description of the HTTP API, served at `/docs` and `/docs-json`.
 * Operation and output schemas are generated from the DTOs that validate
 * requests, so the two cannot drift apart.
 */
export function buildOpenApiDocument(): Schema {
  const schemas = dtoSchemas();
  const outputInfo = {
    type: 'object',
    properties: {
      name: { type: 'string' },
      format: { enum: OUTPUT_FORMATS },
      width: { type: 'integer' },
      height: { type: 'integer' },
      sizeBytes: { type: 'integer' },
    },
  };
  const variantRequest = {
    type: 'object',
    required: ['name'],
    description:
      'One output: its own operations or preset, and its output options as fields of its own.',
    properties: {
      name: { type: 'string', pattern: '^[a-z0-9][a-z0-9_-]{0,63}$' },
      operations: { type: 'array', items: ref('Operation') },
      preset: { type: 'string' },
      ...((schemas.OutputOptions.properties as Schema) ?? {}),
    },
  };
  const jobRequest = {
    type: 'object',
    required: ['source'],
    examples: [
      {
        source: { path: 'holiday/beach.jpg' },
        operations: [
          { op: 'resize', width: 320 },
          { op: 'blur', sigma: 2 },
        ],
        output: { format: 'webp', quality: 80 },
      },
      { source: { url: 'https://example.com/cat.jpg' }, preset: 'thumbnail' },
      {
        source: { path: 'photo.jpg' },
        outputs: [
          { name: 'thumb', preset: 'thumbnail' },
          {
            name: 'large',
            operations: [{ op: 'resize', width: 1600, fit: 'inside' }],
            format: 'avif',
            quality: 60,
          },
        ],
      },
    ],
    properties: {
      source: ref('RequestedSource'),
      operations: { type: 'array', items: ref('Operation') },
      output: ref('OutputOptions'),
      preset: { type: 'string' },
      outputs: {
        type: 'array',
        minItems: 1,
        maxItems: MAX_VARIANTS,
        items: variantRequest,
      },
    },
  };
  const jobView = {
    type: 'object',
    properties: {
      id: { type: 'string', format: 'uuid' },
      status: { enum: JOB_STATUSES },
      attempt: { type: 'integer' },
      attempts: { type: 'integer' },
      stuck: { type: 'boolean' },
      stuckReason: {
        type: ['string', 'null'],
        description:
          'Why the sweeper flagged the job stuck: nothing can move it any more (retry or cancel it).',
      },
      operations: { type: 'array', items: ref('Operation') },
      variants: { type: ['array', 'null'] },
      output: { oneOf: [outputInfo, { type: 'null' }] },
      outputs: { type: 'array', items: outputInfo },
      error: {
        oneOf: [
          {
            type: 'object',
            properties: {
              code: { type: 'string', enum: Object.values(JobErrorCode) },
              message: { type: 'string' },
            },
          },
          { type: 'null' },
        ],
      },
      workerId: { type: ['string', 'null'] },
      apiKeyId: {
        type: ['string', 'null'],
        format: 'uuid',
        description: 'The API key that submitted the job.',
      },
      createdAt: { type: 'string', format: 'date-time' },
      startedAt: { type: ['string', 'null'], format: 'date-time' },
      finishedAt: { type: ['string', 'null'], format: 'date-time' },
      inputExpiredAt: {
        type: ['string', 'null'],
        format: 'date-time',
        description:
          'When the retention sweep removed the uploaded input (RETENTION_UPLOADS_S after the job finished): the job can no longer be retried.',
      },
      outputsExpiredAt: {
        type: ['string', 'null'],
        format: 'date-time',
        description:
          'When the retention sweep removed the outputs (RETENTION_OUTPUTS_S after the job finished): their results answer 410.',
      },
    },
  };
  const gone = {
    description: 'The outputs expired and were removed by the retention sweep',
    ...json({
      type: 'object',
      properties: {
        statusCode: { const: 410 },
        error: { type: 'string' },
        message: { type: 'string' },
        expiredAt: { type: 'string', format: 'date-time' },
      },
    }),
  };
  const accepted = {
    description: 'Accepted: the broker has the job',
    headers: { Location: { schema: { type: 'string' } } },
    ...json({
      type: 'object',
      properties: {
        id: { type: 'string', format: 'uuid' },
        status: { enum: JOB_STATUSES },
      },
    }),
  };
  const messageWithReason = {
    type: 'object',
    properties: { messageId: { type: 'string' }, reason: { type: 'string' } },
  };
  const deadLetterReport = {
    description: 'What was done with each message the pass went through',
    ...json({
      type: 'object',
      properties: {
        done: {
          type: 'array',
          items: { type: 'string' },
          description:
            'messageIds of the messages dealt with (they left the queue).',
        },
        kept: {
          type: 'array',
          items: messageWithReason,
          description: 'Messages left in the queue, with why.',
        },
        dropped: {
          type: 'array',
          items: messageWithReason,
          description:
            'Messages taken out of the queue without being acted on, with why: a job message of an attempt the job has moved past (it was retried since), whose replay or purge would touch the run under way.',
        },
        stoppedBecause: {
          type: 'string',
          description:
            'Present when the pass ended early: the channel to RabbitMQ closed (a message done but not yet taken out stays parked, and a later pass drops it as of an earlier attempt), or an error on a message (that message stays parked).',
        },
      },
    }),
  };
  const limit = {
    name: 'limit',
    in: 'query',
    schema: { type: 'integer', minimum: 1, maximum: 10000 },
  };

  const apiKeyView = {
    type: 'object',
    properties: {
      id: { type: 'string', format: 'uuid' },
      name: { type: 'string' },
      scopes: { type: 'array', items: { enum: SCOPES } },
      prefix: { type: ['string', 'null'] },
      limits: {
        type: 'object',
        description:
          "The key's own limits and quotas; null: the producer's default",
        properties: {
          requestsPerWindow: { type: ['integer', 'null'] },
          jobsInFlight: { type: ['integer', 'null'] },
          storedBytes: { type: ['integer', 'null'] },
          jobsPerDay: { type: ['integer', 'null'] },
        },
      },
      createdAt: { type: 'string', format: 'date-time' },
      lastUsedAt: { type: ['string', 'null'], format: 'date-time' },
      revokedAt: { type: ['string', 'null'], format: 'date-time' },
      expiresAt: { type: ['string', 'null'], format: 'date-time' },
      rotatedAt: { type: ['string', 'null'], format: 'date-time' },
      previousSecretExpiresAt: {
        type: ['string', 'null'],
        format: 'date-time',
        description:
          'Until when the secret the last rotation replaced keeps working',
      },
    },
  };
  const createdApiKey = {
    ...apiKeyView,
    properties: {
      ...apiKeyView.properties,
      key: { type: 'string', description: 'The key: shown this once' },
    },
  };
  const paths: Record<string, Record<string, Schema>> = {
    '/v1/jobs': {
      post: {
        summary:
          'Submit a job: JSON naming a source, or multipart with the image',
        parameters: [
          {
            name: 'Idempotency-Key',
            in: 'header',
            schema: { type: 'string', maxLength: 200 },
          },
        ],
        requestBody: {
          content: {
            'application/json': { schema: ref('JobRequest') },
            'multipart/form-data': {
              schema: {
                type: 'object',
                required: ['image'],
                properties: {
                  image: { type: 'string', format: 'binary' },
                  operations: { type: 'string', description: 'JSON array' },
                  output: { type: 'string', description: 'JSON object' },
                  preset: { type: 'string' },
                  outputs: { type: 'string', description: 'JSON array' },
                },
              },
            },
          },
        },
        responses: {
          202: accepted,
          400: problem('Invalid request; every problem is named'),
          409: problem('Idempotency-Key used for another request'),
          413: problem(
            "Upload too large, or the key's stored-bytes quota is used up",
          ),
          415: problem('Not a supported image'),
          503: problem('Broker or database unavailable; nothing was accepted'),
        },
      },
      get: {
        summary: 'Recent jobs, newest first',
        parameters: [
          { name: 'status', in: 'query', schema: { enum: JOB_STATUSES } },
          {
            name: 'stuck',
            in: 'query',
            schema: { type: 'boolean' },
            description:
              'Only stuck jobs, queued or processing: flagged by the sweeper (see stuckReason), or processing for longer than STUCK_AFTER_S.',
          },
          {
            name: 'limit',
            in: 'query',
            schema: { type: 'integer', minimum: 1, maximum: 500 },
          },
        ],
        responses: {
          200: {
            description: 'Jobs',
            ...json({ type: 'array', items: ref('JobView') }),
          },
        },
      },
    },
    '/v1/jobs/batch': {
      post: {
        summary: 'Several JSON jobs, each accepted or refused on its own',
        requestBody: json({
          type: 'object',
          required: ['jobs'],
          properties: { jobs: { type: 'array', items: ref('JobRequest') } },
        }),
        responses: {
          200: {
            description: 'An id or an error per job, in order',
            ...json({ type: 'object' }),
          },
        },
      },
    },
    '/v1/jobs/{id}': {
      get: {
        summary: 'A job',
        parameters: [uuidParameter],
        responses: {
          200: { description: 'The job', ...json(ref('JobView')) },
          404: problem('Unknown job'),
        },
      },
    },
    '/v1/jobs/{id}/events': {
      get: {
        summary: "The job's timeline, oldest first",
        parameters: [uuidParameter],
        responses: {
          200: {
            description: 'Events',
            ...json({
              type: 'array',
              items: {
                type: 'object',
                properties: {
                  type: {
                    enum: [
                      'queued',
                      'started',
                      'retrying',
                      'succeeded',
                      'failed',
                      'retried',
                      'purged',
                    ],
                  },
                  attempt: { type: 'integer' },
                  delivery: { type: ['integer', 'null'] },
                  workerId: { type: ['string', 'null'] },
                  at: { type: 'string', format: 'date-time' },
                  detail: {},
                },
              },
            }),
          },
          404: problem('Unknown job'),
        },
      },
    },
    '/v1/jobs/{id}/result': {
      get: {
        summary: "The job's first output",
        parameters: [uuidParameter],
        responses: {
          200: { description: 'The image', content: { 'image/*': {} } },
          404: problem('Unknown job'),
          409: problem('Not finished, or failed'),
          410: gone,
        },
      },
    },
    '/v1/jobs/{id}/result/{name}': {
      get: {
        summary: 'One output by name',
        parameters: [
          uuidParameter,
          {
            name: 'name',
            in: 'path',
            required: true,
            schema: { type: 'string' },
          },
        ],
        responses: {
          200: { description: 'The image', content: { 'image/*': {} } },
          404: problem('Unknown job or output'),
          409: problem('Not finished, or failed'),
          410: gone,
        },
      },
    },
    '/v1/jobs/{id}/retry': {
      post: {
        summary:
          'Run a failed job, or one the sweeper flagged stuck, again as its next attempt',
        parameters: [uuidParameter],
        responses: {
          202: accepted,
          404: problem('Unknown job'),
          409: problem(
            'The job has neither failed nor been flagged stuck, or its uploaded input expired (inputExpiredAt)',
          ),
          503: problem(
            'The broker did not take the message in time: the job stays as it was, at its attempt; the attempt number reserved for it is not used again',
          ),
        },
      },
    },
    '/v1/jobs/retry-failed': {
      post: {
        summary:
          'Run failed jobs again, oldest first, each as its next attempt (cancelled jobs only when asked for by code)',
        requestBody: {
          required: false,
          ...json(ref(RetryFailedJobsRequest.name)),
        },
        responses: {
          200: {
            description:
              'What was retried, what was skipped, and why the call stopped early if it did',
            ...json({
              type: 'object',
              properties: {
                retried: {
                  type: 'array',
                  items: {
                    type: 'object',
                    properties: {
                      id: { type: 'string', format: 'uuid' },
                      attempt: { type: 'integer' },
                    },
                  },
                },
                skipped: {
                  type: 'array',
                  items: {
                    type: 'object',
                    properties: {
                      id: { type: 'string', format: 'uuid' },
                      reason: { type: 'string' },
                    },
                  },
                },
                stoppedBecause: { type: 'string' },
              },
            }),
          },
          400: problem('Invalid request'),
        },
      },
    },
    '/v1/jobs/{id}/cancel': {
      post: {
        summary:
          'Cancel a queued or processing job: it fails with CANCELLED at once (a worker busy with it finishes, and its result is dropped)',
        parameters: [uuidParameter],
        responses: {
          200: {
            description: 'The job, failed with CANCELLED',
            ...json(ref('JobView')),
          },
          404: problem('Unknown job'),
          409: problem('The job has finished'),
        },
      },
    },
    '/v1/presets': {
      get: {
        summary: 'The named presets',
        responses: {
          200: { description: 'Presets', ...json({ type: 'array' }) },
        },
      },
    },
    '/v1/stats': {
      get: {
        summary: 'Queues, jobs by status, throughput and workers',
        responses: {
          200: { description: 'A snapshot', ...json({ type: 'object' }) },
        },
      },
    },
    '/v1/dead-letters': {
      get: {
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
    },
    '/v1/dead-letters/jobs/replay': {
      post: {
        summary: 'Run the jobs of parked messages again',
        description:
          "Each parked message of a job's current attempt starts its next attempt; one of an attempt the job has moved past is dropped (`dropped`), one naming no job or a succeeded one stays (`kept`).",
        parameters: [limit],
        responses: { 200: deadLetterReport },
      },
    },
    '/v1/dead-letters/jobs': {
      delete: {
        summary: 'Drop parked job messages',
        description:
          "A message of a job's current attempt fails the job with PURGED if it had not finished (`done`); one of an attempt the job has moved past leaves the job alone (`dropped`).",
        parameters: [limit],
        responses: { 200: deadLetterReport },
      },
    },
    '/v1/dead-letters/events/replay': {
      post: {
        summary: 'Send parked events back to the writer',
        parameters: [limit],
        responses: { 200: deadLetterReport },
      },
    },
    '/v1/dead-letters/events': {
      delete: {
        summary: 'Drop parked events',
        parameters: [limit],
        responses: { 200: deadLetterReport },
      },
    },
    '/v1/audit': {
      get: {
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
    },
    '/v1/keys': {
      post: {
        summary:
          'Create an API key; the answer is the only time the key is shown',
        requestBody: json(ref('CreateApiKeyRequest')),
        responses: {
          201: {
            description: 'The key, with `key` set',
            ...json(createdApiKey),
          },
          400: problem('Invalid request'),
        },
      },
      get: {
        summary: 'Every API key (never the keys themselves)',
        responses: {
          200: {
            description: 'Keys',
            ...json({ type: 'array', items: apiKeyView }),
          },
        },
      },
    },
    '/v1/keys/me': {
      get: {
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
                expiresAt: { type: ['string', 'null'], format: 'date-time' },
              },
            }),
          },
        },
      },
    },
    '/v1/keys/{id}/rotate': {
      post: {
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
          409: problem(
            'A revoked key, or the bootstrap admin key (ADMIN_API_KEY)',
          ),
        },
      },
    },
    '/v1/keys/{id}': {
      delete: {
        summary: 'Revoke an API key, at once on every producer',
        parameters: [uuidParameter],
        responses: {
          200: { description: 'The revoked key', ...json(apiKeyView) },
          404: problem('Unknown key'),
          409: problem('The bootstrap admin key (ADMIN_API_KEY)'),
        },
      },
    },
  };
  for (const [path, operations] of Object.entries(paths)) {
    for (const [method, operation] of Object.entries(operations)) {
      const scopes = ROUTE_SCOPES[`${method.toUpperCase()} ${path}`];
      operation['x-scopes'] = scopes;
      operation.description = `Needs an API key with ${scopes.length > 1 ? 'one of the scopes' : 'the scope'} ${scopes.join(', ')}${scopes.includes('admin') ? '' : ' (or admin)'}.`;
      operation.responses = {
        ...(operation.responses as Schema),
        401: problem('No API key, or an unknown or revoked one'),
        403: problem('The key lacks the scope'),
        429: {
          ...problem(
            "Past the key's request or jobs-in-flight limit, or its jobs per day (until midnight UTC); see Retry-After",
          ),
          headers: { 'Retry-After': { schema: { type: 'integer' } } },
        },
      };
    }
  }

  return {
    openapi: '3.1.0',
    info: {
      title: 'Image pipeline',
      version: '1',
      description:
        'Image jobs: submitted here, processed by sharp workers through RabbitMQ, recorded in PostgreSQL. Every /v1 route needs `Authorization: Bearer <api key>`.',
    },
    security: [{ apiKey: [] }],
    paths,
    components: {
      securitySchemes: {
        apiKey: {
          type: 'http',
          scheme: 'bearer',
          description:
            'An API key: ADMIN_API_KEY, or one created with POST /v1/keys',
        },
      },
      schemas: {
        ...schemas,
        Operation: {
          oneOf: Object.values(OPERATION_CLASSES).map((cls) => ref(cls.name)),
          discriminator: { propertyName: 'op' },
        },
        JobRequest: jobRequest,
        JobView: jobView,
        Problem: {
          type: 'object',
          properties: {
            statusCode: { type: 'integer' },
            error: { type: 'string' },
            message: {
              oneOf: [
                { type: 'string' },
                { type: 'array', items: { type: 'string' } },
              ],
            },
          },
        },
      },
    },
  };
}
