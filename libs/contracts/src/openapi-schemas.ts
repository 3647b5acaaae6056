// Pieces of the OpenAPI description that several routes or schemas share.
import { JobErrorCode } from './errors';
import { JOB_STATUSES } from './jobs';
import { OUTPUT_FORMATS } from './output';
import { MAX_VARIANTS } from './variants';
import { SCOPES } from './api-keys';

export type Schema = Record<string, unknown>;

/** A moment that may not have come yet. */
export const nullableTime = (description?: string): Schema => ({
  type: ['string', 'null'],
  format: 'date-time',
  ...(description === undefined ? {} : { description }),
});

export const ref = (name: string): Schema => ({
  $ref: `#/components/schemas/${name}`,
});
export const json = (schema: Schema) => ({
  content: { 'application/json': { schema } },
});
export const problem = (description: string) => ({
  description,
  ...json(ref('Problem')),
});
export const uuidParameter = {
  name: 'id',
  in: 'path',
  required: true,
  schema: { type: 'string', format: 'uuid' },
};

export const outputInfo = {
  type: 'object',
  properties: {
    name: { type: 'string' },
    format: { enum: OUTPUT_FORMATS },
    width: { type: 'integer' },
    height: { type: 'integer' },
    sizeBytes: { type: 'integer' },
  },
};

export const jobView = {
  type: 'object',
  properties: {
    id: { type: 'string', format: 'uuid' },
    status: { enum: JOB_STATUSES },
    attempt: {
      type: 'integer',
      description:
        'The current attempt (run) of the job: 1, plus one per operator retry.',
    },
    deliveries: {
      type: 'integer',
      description:
        'Deliveries of the job to a worker that started it, over all attempts and tries (redeliveries included).',
    },
    attempts: {
      type: 'integer',
      deprecated: true,
      description: '`deliveries` under its former name; kept for one release.',
    },
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
    traceId: {
      type: ['string', 'null'],
      pattern: '^[0-9a-f]{32}$',
      description:
        'The trace id (W3C) of the request that submitted the job: its trace follows the job through the queue, the worker and the results writer. Null when tracing was off (OTEL_EXPORTER_OTLP_ENDPOINT unset).',
    },
    createdAt: { type: 'string', format: 'date-time' },
    startedAt: nullableTime(),
    finishedAt: nullableTime(),
    inputExpiredAt: nullableTime(
      'When the retention sweep removed the uploaded input (RETENTION_UPLOADS_S after the job finished): the job can no longer be retried.',
    ),
    outputsExpiredAt: nullableTime(
      'When the retention sweep removed the outputs (RETENTION_OUTPUTS_S after the job finished): their results answer 410.',
    ),
  },
};

export const gone = {
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

export const accepted = {
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

export const messageWithReason = {
  type: 'object',
  properties: { messageId: { type: 'string' }, reason: { type: 'string' } },
};

export const deadLetterReport = {
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

export const limit = {
  name: 'limit',
  in: 'query',
  schema: { type: 'integer', minimum: 1, maximum: 10000 },
};

export const apiKeyView = {
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
    lastUsedAt: nullableTime(),
    revokedAt: nullableTime(),
    expiresAt: nullableTime(),
    rotatedAt: nullableTime(),
    previousSecretExpiresAt: nullableTime(
      'Until when the secret the last rotation replaced keeps working',
    ),
  },
};

export const createdApiKey = {
  ...apiKeyView,
  properties: {
    ...apiKeyView.properties,
    key: { type: 'string', description: 'The key: shown this once' },
  },
};

/**
 * A job request, whose variants take the output options generated from the
 * DTO.
 */
export function jobRequestSchema(outputOptions: Schema): Schema {
  const variantRequest = {
    type: 'object',
    required: ['name'],
    description:
      'One output: its own operations or preset, and its output options as fields of its own.',
    properties: {
      name: { type: 'string', pattern: '^[a-z0-9][a-z0-9_-]{0,63}$' },
      operations: { type: 'array', items: ref('Operation') },
      preset: { type: 'string' },
      ...((outputOptions.properties as Schema) ?? {}),
    },
  };
  return {
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
}
