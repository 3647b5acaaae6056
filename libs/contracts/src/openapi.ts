import { validationMetadatasToSchemas } from 'class-validator-jsonschema';
import { OPERATION_EXAMPLES } from './operation-examples';
import { OPERATION_CLASSES, OperationName } from './operations';
import { ADMIN_OPERATIONS } from './openapi-admin-routes';
import { JOB_OPERATIONS } from './openapi-job-routes';
import { Route, ROUTE_SCOPES } from './openapi-scopes';
import {
  jobRequestSchema,
  jobView,
  problem,
  ref,
  Schema,
} from './openapi-schemas';

export { ROUTE_SCOPES } from './openapi-scopes';

/**
 * Each route's description, in the order the document lists them; a route
 * missing here does not compile.
 */
const OPERATIONS: Record<Route, Schema> = {
  ...JOB_OPERATIONS,
  ...ADMIN_OPERATIONS,
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

/** What every /v1 operation adds to its own description: who may call it. */
function withScopes(route: Route, operation: Schema): Schema {
  const scopes = ROUTE_SCOPES[route];
  return {
    ...operation,
    'x-scopes': scopes,
    description: `Needs an API key with ${scopes.length > 1 ? 'one of the scopes' : 'the scope'} ${scopes.join(', ')}${scopes.includes('admin') ? '' : ' (or admin)'}.`,
    responses: {
      ...(operation.responses as Schema),
      401: problem('No API key, or an unknown or revoked one'),
      403: problem('The key lacks the scope'),
      429: {
        ...problem(
          "Past the key's request or jobs-in-flight limit, or its jobs per day (until midnight UTC); see Retry-After",
        ),
        headers: { 'Retry-After': { schema: { type: 'integer' } } },
      },
    },
  };
}

/** The operations grouped by path, as OpenAPI's `paths` holds them. */
function pathsOf(
  operations: Record<Route, Schema>,
): Record<string, Record<string, Schema>> {
  const paths: Record<string, Record<string, Schema>> = {};
  for (const [route, operation] of Object.entries(operations)) {
    const [method, path] = route.split(' ');
    paths[path] ??= {};
    paths[path][method.toLowerCase()] = withScopes(route as Route, operation);
  }
  return paths;
}

const problemSchema = {
  type: 'object',
  properties: {
    statusCode: { type: 'integer' },
    error: { type: 'string' },
    message: {
      oneOf: [{ type: 'string' }, { type: 'array', items: { type: 'string' } }],
    },
  },
};

/**
 * The OpenAPI description of the HTTP API, served at `/docs` and `/docs-json`.
 * Operation and output schemas are generated from the DTOs that validate
 * requests, so the two cannot drift apart.
 */
export function buildOpenApiDocument(): Schema {
  const schemas = dtoSchemas();
  return {
    openapi: '3.1.0',
    info: {
      title: 'Image pipeline',
      version: '1',
      description:
        'Image jobs: submitted here, processed by sharp workers through RabbitMQ, recorded in PostgreSQL. Every /v1 route needs `Authorization: Bearer <api key>`.',
    },
    security: [{ apiKey: [] }],
    paths: pathsOf(OPERATIONS),
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
        JobRequest: jobRequestSchema(schemas.OutputOptions),
        JobView: jobView,
        Problem: problemSchema,
      },
    },
  };
}
