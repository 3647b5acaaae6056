import { Operation } from './operations';
import { OutputOptions } from './output';
import {
  collectProblems,
  isPlainObject,
  parseOperations,
  parseOutputOptions,
  ValidationFailed,
} from './validation';

/**
 * One of several outputs made from a single decode of the input: its own
 * operations and encoding.
 */
export interface VariantSpec {
  name: string;
  operations: Operation[];
  output: OutputOptions;
}

/** The name a job's only output has when it did not ask for variants. */
export const DEFAULT_OUTPUT_NAME = 'default';
export const MAX_VARIANTS = 8;
const VARIANT_NAME = /^[a-z0-9][a-z0-9_-]{0,63}$/;
const OUTPUT_OPTION_FIELDS = [
  'format',
  'quality',
  'lossless',
  'progressive',
  'effort',
] as const;

/**
 * What is wrong with an output's name, if anything; a good name joins `seen`,
 * so that a later output cannot take it.
 */
function variantNameProblems(
  path: string,
  name: unknown,
  seen: Set<string>,
): string[] {
  if (typeof name !== 'string' || !VARIANT_NAME.test(name))
    return [
      `${path}.name must be 1 to 64 lower-case letters, digits, - and _ (got ${JSON.stringify(name)})`,
    ];
  if (seen.has(name))
    return [`${path}.name "${name}" is used by an earlier output`];
  seen.add(name);
  return [];
}

/**
 * Reads the `outputs` of a request: each item has a name, its operations or a
 * preset, and its output options as fields of its own
 * (`{"name":"thumb","preset":"thumbnail","format":"avif"}`). `resolveSpec`
 * turns one item's operations, options and preset into a spec, as for a whole
 * job.
 */
export function parseRequestedVariants(
  raw: unknown,
  resolveSpec: (fields: {
    operations: unknown;
    output: unknown;
    preset: unknown;
  }) => { operations: Operation[]; output: OutputOptions },
): VariantSpec[] {
  if (!Array.isArray(raw) || raw.length === 0 || raw.length > MAX_VARIANTS) {
    throw new ValidationFailed([
      `outputs must be an array of 1 to ${MAX_VARIANTS} outputs, each {"name", "operations" or "preset", and output options}`,
    ]);
  }
  const problems: string[] = [];
  const variants: VariantSpec[] = [];
  const seen = new Set<string>();
  raw.forEach((item, index) => {
    const path = `outputs[${index}]`;
    if (!isPlainObject(item)) {
      problems.push(
        `${path} must be an object with name, operations or preset, and output options`,
      );
      return;
    }
    const { name, operations, preset, ...rest } = item;
    const output = Object.fromEntries(
      OUTPUT_OPTION_FIELDS.filter((field) => rest[field] !== undefined).map(
        (field) => [field, rest[field]],
      ),
    );
    problems.push(
      ...Object.keys(rest)
        .filter(
          (key) => !(OUTPUT_OPTION_FIELDS as readonly string[]).includes(key),
        )
        .map((key) => `${path}.${key} is not a known field`),
    );
    problems.push(...variantNameProblems(path, name, seen));
    try {
      const spec = resolveSpec({
        operations:
          operations === undefined && preset === undefined ? [] : operations,
        output,
        preset,
      });
      if (typeof name === 'string') variants.push({ name, ...spec });
    } catch (error) {
      if (!(error instanceof ValidationFailed)) throw error;
      problems.push(
        ...error.problems.map(
          (problem) => `${path}.${problem.replace(/^output\./, '')}`,
        ),
      );
    }
  });
  if (problems.length > 0) throw new ValidationFailed(problems);
  return variants;
}

/**
 * Reads variants in their stored form (`{name, operations, output}`), as a job
 * message carries them.
 */
export function parseVariantSpecs(raw: unknown, path: string): VariantSpec[] {
  if (!Array.isArray(raw) || raw.length === 0 || raw.length > MAX_VARIANTS)
    throw new ValidationFailed([
      `${path} must be an array of 1 to ${MAX_VARIANTS} variants`,
    ]);
  const problems: string[] = [];
  const variants = raw.map((item, index) => {
    const itemPath = `${path}[${index}]`;
    const { name, operations, output } = isPlainObject(item)
      ? item
      : ({} as Record<string, unknown>);
    if (typeof name !== 'string' || !VARIANT_NAME.test(name))
      problems.push(
        `${itemPath}.name must be a variant name (got ${JSON.stringify(name)})`,
      );
    return {
      name: name as string,
      operations: collectProblems(problems, () =>
        parseOperations(operations, `${itemPath}.operations`),
      )!,
      output: collectProblems(problems, () =>
        parseOutputOptions(output, `${itemPath}.output`),
      )!,
    };
  });
  if (new Set(variants.map((variant) => variant.name)).size !== variants.length)
    problems.push(`${path} has two variants with the same name`);
  if (problems.length > 0) throw new ValidationFailed(problems);
  return variants;
}
