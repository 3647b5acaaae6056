import { JobErrorCode } from './errors';
import { JOB_STATUSES } from './jobs';
import { RetryFailedJobsRequest } from './bulk-retry';
import type { Route } from './openapi-scopes';
import {
  accepted,
  gone,
  json,
  problem,
  ref,
  Schema,
  uuidParameter,
} from './openapi-schemas';

/** A list of jobs, each named by its id with one more field. */
const jobsWith = (field: string, schema: Schema): Schema => ({
  type: 'array',
  items: {
    type: 'object',
    properties: { id: { type: 'string', format: 'uuid' }, [field]: schema },
  },
});

/** The `{name}` of an output. */
const nameParameter = {
  name: 'name',
  in: 'path',
  required: true,
  schema: { type: 'string' },
};

/** A thumbnail's answer. */
const preview = {
  description:
    'The thumbnail; Cache-Control lets the browser keep it an hour (private)',
  content: { 'image/webp': {} },
};

/**
 * How each /v1/jobs route is described, in the order the description lists
 * them.
 */
export const JOB_OPERATIONS = {
  'POST /v1/jobs': {
    summary: 'Submit a job: JSON naming a source, or multipart with the image',
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
  'GET /v1/jobs': {
    summary:
      'A page of jobs, newest first (by creation time, then id), filtered; the next page through a cursor',
    description:
      'A key sees its own jobs, an admin key every key\'s. Every filter given narrows the page. Pages follow one another by the opaque cursor the previous page returned (the `Next-Cursor` header, and the `Link` header with `rel="next"`, both absent on the last page): no page is skipped or repeated while new jobs arrive, and a deep page costs as little as the first.',
    parameters: [
      { name: 'status', in: 'query', schema: { enum: JOB_STATUSES } },
      {
        name: 'errorCode',
        in: 'query',
        schema: { enum: Object.values(JobErrorCode) },
        description: 'Only the jobs that failed with this code.',
      },
      {
        name: 'apiKeyId',
        in: 'query',
        schema: { type: 'string', format: 'uuid' },
        description:
          "Only the jobs this key submitted; another key's than the caller's needs the admin scope (403).",
      },
      {
        name: 'createdFrom',
        in: 'query',
        schema: { type: 'string', format: 'date-time' },
        description: 'Created at or after (ISO 8601).',
      },
      {
        name: 'createdTo',
        in: 'query',
        schema: { type: 'string', format: 'date-time' },
        description: 'Created before (ISO 8601).',
      },
      {
        name: 'stuck',
        in: 'query',
        schema: { type: 'boolean' },
        description:
          'Only stuck jobs, queued or processing: flagged by the sweeper (see stuckReason), or processing for longer than STUCK_AFTER_S.',
      },
      {
        name: 'idPrefix',
        in: 'query',
        schema: { type: 'string', pattern: '^[0-9a-fA-F-]{1,36}$' },
        description:
          'Only the jobs whose id starts so: a whole id, or its first hex digits (dashes optional).',
      },
      {
        name: 'cursor',
        in: 'query',
        schema: { type: 'string' },
        description:
          'Where the page starts: the `Next-Cursor` of the previous page, with the same filters. A cursor this API did not make: 400.',
      },
      {
        name: 'limit',
        in: 'query',
        schema: { type: 'integer', minimum: 1, maximum: 500, default: 50 },
      },
    ],
    responses: {
      200: {
        description: 'Jobs',
        headers: {
          'Next-Cursor': {
            description:
              'The cursor of the next page; absent on the last page.',
            schema: { type: 'string' },
          },
          Link: {
            description: 'The next page\'s URL, as `<…>; rel="next"`.',
            schema: { type: 'string' },
          },
        },
        ...json({ type: 'array', items: ref('JobView') }),
      },
      400: problem('A parameter is invalid; each one is named'),
      403: problem(
        "apiKeyId names another key's jobs, without the admin scope",
      ),
    },
  },
  'POST /v1/jobs/batch': {
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
  'GET /v1/jobs/{id}': {
    summary: 'A job',
    parameters: [uuidParameter],
    responses: {
      200: { description: 'The job', ...json(ref('JobView')) },
      404: problem('Unknown job'),
    },
  },
  'GET /v1/jobs/{id}/events': {
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
  'GET /v1/jobs/{id}/result': {
    summary: "The job's first output",
    parameters: [uuidParameter],
    responses: {
      200: { description: 'The image', content: { 'image/*': {} } },
      404: problem('Unknown job'),
      409: problem('Not finished, or failed'),
      410: gone,
    },
  },
  'GET /v1/jobs/{id}/result/{name}': {
    summary: 'One output by name',
    parameters: [uuidParameter, nameParameter],
    responses: {
      200: { description: 'The image', content: { 'image/*': {} } },
      404: problem('Unknown job or output'),
      409: problem('Not finished, or failed'),
      410: gone,
    },
  },
  'GET /v1/jobs/{id}/result/{name}/preview': {
    summary:
      'A thumbnail of one output: WebP, at most 256 px on its longest side, never the full-size bytes',
    parameters: [uuidParameter, nameParameter],
    responses: {
      200: preview,
      404: problem('Unknown job or output'),
      409: problem('Not finished, or failed'),
      410: gone,
      422: problem('The output cannot be previewed (over MAX_OUTPUT_PIXELS)'),
    },
  },
  'GET /v1/jobs/{id}/input/preview': {
    summary:
      "A thumbnail of the job's input, where it is stored (an upload, or a file in the images folder): WebP, at most 256 px a side",
    parameters: [uuidParameter],
    responses: {
      200: preview,
      404: problem(
        'Unknown job, or its input is not stored (a URL source, a file no longer in the images folder)',
      ),
      410: problem('The uploaded input expired (inputExpiredAt)'),
      422: problem('The input cannot be previewed (over MAX_OUTPUT_PIXELS)'),
    },
  },
  'POST /v1/jobs/{id}/retry': {
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
  'POST /v1/jobs/retry-failed': {
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
            retried: jobsWith('attempt', { type: 'integer' }),
            skipped: jobsWith('reason', { type: 'string' }),
            stoppedBecause: { type: 'string' },
          },
        }),
      },
      400: problem('Invalid request'),
    },
  },
  'POST /v1/jobs/{id}/cancel': {
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
} satisfies Partial<Record<Route, Schema>>;
