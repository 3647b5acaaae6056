import { plainToInstance } from 'class-transformer';
import { validateSync, ValidationError } from 'class-validator';
import { MAX_OPERATIONS, Operation, OPERATION_CLASSES, OPERATION_NAMES, OperationName } from './operations';
import { OutputOptions, outputOptionProblems } from './output';

/** Input that does not satisfy a contract; every problem names the field it concerns. */
export class ValidationFailed extends Error {
  constructor(readonly problems: string[]) {
    super(problems.join('; '));
    this.name = 'ValidationFailed';
  }
}

/** Runs one parse, adding its problems to `problems` instead of stopping at the first invalid field. */
export function collectProblems<T>(problems: string[], parse: () => T): T | undefined {
  try {
    return parse();
  } catch (error) {
    if (!(error instanceof ValidationFailed)) throw error;
    problems.push(...error.problems);
    return undefined;
  }
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function describeErrors(errors: ValidationError[], path: string): string[] {
  const problems: string[] = [];
  for (const error of errors) {
    const fieldPath = `${path}.${error.property}`;
    // A missing value gets one message, not one per rule it would also break.
    const constraints = error.constraints?.isDefined ? { isDefined: error.constraints.isDefined } : (error.constraints ?? {});
    for (const [constraint, message] of Object.entries(constraints)) {
      if (constraint === 'whitelistValidation') {
        problems.push(`${fieldPath} is not a known field`);
      } else {
        // class-validator starts its messages with the bare property name; give the full path instead.
        problems.push(message.startsWith(error.property) ? fieldPath + message.slice(error.property.length) : `${fieldPath}: ${message}`);
      }
    }
    problems.push(...describeErrors(error.children ?? [], fieldPath));
  }
  return problems;
}

/** Validates a plain object against a DTO class, refusing fields the class does not declare. */
export function validateAs<T extends object>(cls: new () => T, raw: unknown, path: string): T {
  if (!isPlainObject(raw)) throw new ValidationFailed([`${path} must be an object`]);
  const instance = plainToInstance(cls, raw);
  const errors = validateSync(instance, { whitelist: true, forbidNonWhitelisted: true, forbidUnknownValues: true });
  if (errors.length > 0) throw new ValidationFailed(describeErrors(errors, path));
  return instance;
}

export function parseOperations(raw: unknown, path = 'operations'): Operation[] {
  if (!Array.isArray(raw)) throw new ValidationFailed([`${path} must be an array of operations`]);
  if (raw.length > MAX_OPERATIONS) throw new ValidationFailed([`${path} must contain at most ${MAX_OPERATIONS} operations`]);
  const problems: string[] = [];
  const operations: Operation[] = [];
  raw.forEach((item, index) => {
    const itemPath = `${path}[${index}]`;
    const name = isPlainObject(item) ? item.op : undefined;
    if (typeof name !== 'string' || !Object.hasOwn(OPERATION_CLASSES, name)) {
      const shown = typeof name === 'string' ? `"${name}"` : String(name);
      problems.push(`${itemPath}.op ${shown} is not a known operation (one of: ${OPERATION_NAMES.join(', ')})`);
      return;
    }
    const operation = collectProblems(problems, () => validateAs(OPERATION_CLASSES[name as OperationName], item, itemPath));
    if (operation) operations.push(operation);
  });
  if (problems.length > 0) throw new ValidationFailed(problems);
  return operations.map((operation) => ({ ...operation }));
}

export function parseOutputOptions(raw: unknown, path = 'output'): OutputOptions {
  if (raw === undefined || raw === null) return {};
  const options = { ...validateAs(OutputOptions, raw, path) };
  // Without a format the input's decides, so only options valid for every default may be given.
  const problems = options.format ? outputOptionProblems(options, options.format, path) : outputOptionProblemsForDefault(options, path);
  if (problems.length > 0) throw new ValidationFailed(problems);
  return options;
}

function outputOptionProblemsForDefault(options: OutputOptions, path: string): string[] {
  const named = (['lossless', 'progressive', 'effort'] as const).filter((field) => options[field] !== undefined);
  return named.map((field) => `${path}.${field} needs output.format, since the default format follows the input`);
}

/** Parses a text field that must hold JSON (a multipart part, a message body). */
export function parseJsonText(text: string, path: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new ValidationFailed([`${path} is not valid JSON: ${(error as Error).message}`]);
  }
}

/** JSON with object keys sorted at every depth: equal values give equal text, whatever their key order. */
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
