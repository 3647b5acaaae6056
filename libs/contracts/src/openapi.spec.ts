import { JobErrorCode } from './errors';
import { buildOpenApiDocument } from './openapi';
import { OPERATION_CLASSES, OPERATION_NAMES } from './operations';
import { OUTPUT_FORMATS } from './output';
import { parseJsonJobRequest } from './jobs';
import { DEFAULT_PRESETS, resolveRequestedSpec } from './presets';

type Schema = Record<string, unknown>;

function refsIn(value: unknown): string[] {
  if (Array.isArray(value)) return value.flatMap(refsIn);
  if (typeof value !== 'object' || value === null) return [];
  return Object.entries(value).flatMap(([key, inner]) =>
    key === '$ref' ? [inner as string] : refsIn(inner),
  );
}

describe('the OpenAPI description', () => {
  const document = buildOpenApiDocument();
  const schemas = (document.components as { schemas: Record<string, Schema> })
    .schemas;

  it('describes every operation from its DTO, each told apart by op', () => {
    const oneOf = (schemas.Operation.oneOf as Schema[]).map(
      (entry) => entry.$ref,
    );
    expect(oneOf).toEqual(
      Object.values(OPERATION_CLASSES).map(
        (cls) => `#/components/schemas/${cls.name}`,
      ),
    );
    for (const name of OPERATION_NAMES) {
      const schema = schemas[OPERATION_CLASSES[name].name];
      expect((schema.properties as Record<string, Schema>).op).toEqual({
        type: 'string',
        enum: [name],
      });
      expect(schema.required).toContain('op');
    }
    for (const name of OPERATION_NAMES) {
      const examples = schemas[OPERATION_CLASSES[name].name].examples as Array<{
        op: string;
      }>;
      expect(examples.length).toBeGreaterThan(0);
      expect(examples.every((example) => example.op === name)).toBe(true);
    }
    expect(
      (schemas.ResizeOperation.properties as Record<string, Schema>).fit,
    ).toEqual({
      type: 'string',
      enum: ['cover', 'contain', 'fill', 'inside', 'outside'],
    });
    expect(
      (schemas.OutputOptions.properties as Record<string, Schema>).format,
    ).toEqual({ type: 'string', enum: [...OUTPUT_FORMATS] });
  });

  it("lists every error code a failed job can carry, PROCESSING_TIMEOUT among them, as the enum of a job's error.code", () => {
    const error = (schemas.JobView.properties as Record<string, Schema>).error
      .oneOf as Schema[];
    const code = (error[0].properties as Record<string, Schema>).code;
    expect(code).toEqual({ type: 'string', enum: Object.values(JobErrorCode) });
    expect(code.enum).toContain('PROCESSING_TIMEOUT');
  });

  it('carries job examples that are valid requests', () => {
    for (const example of schemas.JobRequest.examples as unknown[]) {
      expect(() =>
        parseJsonJobRequest(example, (fields) =>
          resolveRequestedSpec(fields, DEFAULT_PRESETS),
        ),
      ).not.toThrow();
    }
  });

  it('has no reference to a schema it does not define, and no internal message shape', () => {
    for (const target of refsIn(document))
      expect(Object.keys(schemas)).toContain(
        target.replace('#/components/schemas/', ''),
      );
    expect(Object.keys(schemas)).not.toContain('ImageJobEnvelope');
  });
});
