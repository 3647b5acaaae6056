import { plainToInstance } from 'class-transformer';
import {
  isISO8601,
  isUUID,
  validateSync,
  ValidationError,
} from 'class-validator';
import {
  MAX_OPERATIONS,
  Operation,
  OPERATION_CLASSES,
  OPERATION_NAMES,
  OperationName,
} from './operations';
import { OutputOptions, outputOptionProblems } from './output';

/**
 * Input that does not satisfy a contract; every problem names the field it
 * concerns.
 */
export class ValidationFailed extends Error {
  constructor(readonly problems: string[]) {
    super(problems.join('; '));
    this.name = 'ValidationFailed';
  }
}

/**
 * Runs one parse, adding its problems to `problems` instead of stopping at the
 * first invalid field.
 */
export function collectProblems<T>(
  problems: string[],
  parse: () => T,
): T | undefined {
  try {
    return parse();
  } catch (error) {
    if (!(error instanceof ValidationFailed)) throw error;
    problems.push(...error.problems);
    return undefined;
  }
}

export function isPlainObject(
  value: unknown,
): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function describeErrors(errors: ValidationError[], path: string): string[] {
  const problems: string[] = [];
  for (const error of errors) {
    const fieldPath = `${path}.${error.property}`;
    // A missing value gets one message, not one per rule it would also break.
    const constraints = error.constraints?.isDefined
      ? { isDefined: error.constraints.isDefined }
      : (error.constraints ?? {});
    for (const [constraint, message] of Object.entries(constraints)) {
      if (constraint === 'whitelistValidation') {
        problems.push(`${fieldPath} is not a known field`);
      } else {
        // class-validator starts its messages with the bare property name; give
        // the full path instead.
        problems.push(
          message.startsWith(error.property)
            ? fieldPath + message.slice(error.property.length)
            : `${fieldPath}: ${message}`,
        );
      }
    }
    problems.push(...describeErrors(error.children ?? [], fieldPath));
  }
  return problems;
}

/**
 * Validates a plain object against a DTO class, refusing fields the class does
 * not declare.
 */
export function validateAs<T extends object>(
  cls: new () => T,
  raw: unknown,
  path: string,
): T {
  if (!isPlainObject(raw))
    throw new ValidationFailed([`${path} must be an object`]);
  const instance = plainToInstance(cls, raw);
  const errors = validateSync(instance, {
    whitelist: true,
    forbidNonWhitelisted: true,
    forbidUnknownValues: true,
  });
  if (errors.length > 0)
    throw new ValidationFailed(describeErrors(errors, path));
  return instance;
}

/**
 * A check of one field of a shape checked by hand: the problem with `value`,
 * located at `at` (e.g. `message.attempt`), or undefined when it is fine. The
 * wording follows class-validator's, so a field reads the same whichever way it
 * was checked.
 */
export type FieldCheck = (
  value: unknown,
  at: string,
  field: string,
) => string | undefined;

/** The fields of an object and their checks; any other field is refused. */
export interface ObjectShape {
  readonly checks: ReadonlyArray<readonly [string, FieldCheck]>;
  readonly fields: ReadonlySet<string>;
}

export function objectShape(checks: Record<string, FieldCheck>): ObjectShape {
  return {
    checks: Object.entries(checks),
    fields: new Set(Object.keys(checks)),
  };
}

export const FieldChecks = {
  /** For a field that is known but checked elsewhere. */
  any: (() => undefined) as FieldCheck,
  string: ((value, at) =>
    typeof value === 'string'
      ? undefined
      : `${at} must be a string`) as FieldCheck,
  nonEmptyString: ((value, at) =>
    typeof value !== 'string'
      ? `${at} must be a string`
      : value === ''
        ? `${at} should not be empty`
        : undefined) as FieldCheck,
  boolean: ((value, at) =>
    typeof value === 'boolean'
      ? undefined
      : `${at} must be a boolean value`) as FieldCheck,
  object: ((value, at) =>
    isPlainObject(value) ? undefined : `${at} must be an object`) as FieldCheck,
  arrayOfObjects: ((value, at, field) =>
    !Array.isArray(value)
      ? `${at} must be an array`
      : value.every(isPlainObject)
        ? undefined
        : `${at}: each value in ${field} must be an object`) as FieldCheck,
  uuid: ((value, at) =>
    isUUID(value) ? undefined : `${at} must be a UUID`) as FieldCheck,
  isoDate: ((value, at) =>
    isISO8601(value)
      ? undefined
      : `${at} must be a valid ISO 8601 date string`) as FieldCheck,
  integerFrom:
    (min: number): FieldCheck =>
    (value, at) =>
      !Number.isInteger(value)
        ? `${at} must be an integer number`
        : (value as number) < min
          ? `${at} must not be less than ${min}`
          : undefined,
  oneOf:
    (values: readonly string[]): FieldCheck =>
    (value, at) =>
      values.includes(value as string)
        ? undefined
        : `${at} must be one of the following values: ${values.join(', ')}`,
  /** Absent and null pass, as with class-validator's `@IsOptional()`. */
  optional:
    (check: FieldCheck): FieldCheck =>
    (value, at, field) =>
      value === undefined || value === null
        ? undefined
        : check(value, at, field),
};

/**
 * Every problem of `raw`'s fields against `shape`: fields it does not name
 * first, then each check in order.
 */
export function shapeProblems(
  raw: Record<string, unknown>,
  shape: ObjectShape,
  path: string,
): string[] {
  const problems: string[] = [];
  for (const key of Object.keys(raw))
    if (!shape.fields.has(key))
      problems.push(`${path}.${key} is not a known field`);
  for (const [field, check] of shape.checks) {
    const problem = check(raw[field], `${path}.${field}`, field);
    if (problem !== undefined) problems.push(problem);
  }
  return problems;
}

/**
 * Checks `raw` against `shape` without class-validator's cost, for messages
 * parsed on every delivery. Returns a copy with the shape's fields in its
 * order; absent and null ones are left out.
 */
export function checkShape(
  raw: unknown,
  shape: ObjectShape,
  path: string,
): Record<string, unknown> {
  if (!isPlainObject(raw))
    throw new ValidationFailed([`${path} must be an object`]);
  const problems = shapeProblems(raw, shape, path);
  if (problems.length > 0) throw new ValidationFailed(problems);
  const checked: Record<string, unknown> = {};
  for (const [field] of shape.checks)
    if (raw[field] !== undefined && raw[field] !== null)
      checked[field] = raw[field];
  return checked;
}

export function parseOperations(
  raw: unknown,
  path = 'operations',
): Operation[] {
  if (!Array.isArray(raw))
    throw new ValidationFailed([`${path} must be an array of operations`]);
  if (raw.length > MAX_OPERATIONS)
    throw new ValidationFailed([
      `${path} must contain at most ${MAX_OPERATIONS} operations`,
    ]);
  const problems: string[] = [];
  const operations: Operation[] = [];
  raw.forEach((item, index) => {
    const itemPath = `${path}[${index}]`;
    const name = isPlainObject(item) ? item.op : undefined;
    if (typeof name !== 'string' || !Object.hasOwn(OPERATION_CLASSES, name)) {
      const shown = typeof name === 'string' ? `"${name}"` : String(name);
      problems.push(
        `${itemPath}.op ${shown} is not a known operation (one of: ${OPERATION_NAMES.join(', ')})`,
      );
      return;
    }
    const operation = collectProblems(problems, () =>
      validateAs(OPERATION_CLASSES[name as OperationName], item, itemPath),
    );
    if (operation) operations.push(operation);
  });
  if (problems.length > 0) throw new ValidationFailed(problems);
  return operations.map((operation) => ({ ...operation }));
}

export function parseOutputOptions(
  raw: unknown,
  path = 'output',
): OutputOptions {
  if (raw === undefined || raw === null) return {};
  const options = { ...validateAs(OutputOptions, raw, path) };
  // Without a format the input's decides, so only options valid for every
  // default may be given.
  const problems = options.format
    ? outputOptionProblems(options, options.format, path)
    : outputOptionProblemsForDefault(options, path);
  if (problems.length > 0) throw new ValidationFailed(problems);
  return options;
}

function outputOptionProblemsForDefault(
  options: OutputOptions,
  path: string,
): string[] {
  const named = (['lossless', 'progressive', 'effort'] as const).filter(
    (field) => options[field] !== undefined,
  );
  return named.map(
    (field) =>
      `${path}.${field} needs output.format, since the default format follows the input`,
  );
}

/**
 * Parses a text field that must hold JSON (a multipart part, a message body).
 */
export function parseJsonText(text: string, path: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new ValidationFailed([
      `${path} is not valid JSON: ${(error as Error).message}`,
    ]);
  }
}

/**
 * JSON with object keys sorted at every depth: equal values give equal text,
 * whatever their key order.
 */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (isPlainObject(value)) {
    const entries = Object.keys(value)
      .filter((key) => value[key] !== undefined)
      .sort()
      .map((key) => `${JSON.stringify(key)}:${canonicalJson(value[key])}`);
    return `{${entries.join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}
