import { isSecretSetting, redactSecrets } from './redact';
import { plainToInstance } from 'class-transformer';
import { validateSync } from 'class-validator';
import { readFileSync } from 'node:fs';

/**
 * Configuration that cannot be used; the message lists every offending
 * variable.
 */
export class ConfigError extends Error {
  constructor(problems: string[]) {
    super(`Invalid configuration:\n  - ${problems.join('\n  - ')}`);
    this.name = 'ConfigError';
  }
}

/**
 * An environment string as the type of the setting's default; what does not
 * convert is left for the validator to name.
 */
function convert(value: string, like: unknown): unknown {
  if (typeof like === 'number')
    return value.trim() === '' || Number.isNaN(Number(value))
      ? value
      : Number(value);
  if (typeof like === 'boolean')
    return value === 'true' ? true : value === 'false' ? false : value;
  return value;
}

/**
 * A value for an error message: a secret only by its length, a URL without its
 * password.
 */
function describeValue(name: string, value: unknown): string {
  if (isSecretSetting(name))
    return typeof value === 'string'
      ? `${value.length} characters`
      : typeof value;
  return redactSecrets(JSON.stringify(value) ?? String(value));
}

/**
 * A setting's value from the environment: `NAME`, or the content of the file
 * `NAME_FILE` names (as the official PostgreSQL and RabbitMQ images do it, so
 * that secrets can come from mounted files rather than the environment),
 * without its final newline.
 */
function readSetting(
  name: string,
  env: NodeJS.ProcessEnv,
  problems: string[],
): string | undefined {
  const value = env[name];
  const file = env[`${name}_FILE`];
  if (!file) return value;
  if (value) {
    problems.push(`${name} and ${name}_FILE are both set: set one of them`);
    return value;
  }
  try {
    return readFileSync(file, 'utf8').replace(/\r?\n$/, '');
  } catch (error) {
    problems.push(
      `${name}_FILE names ${file}, which cannot be read (${(error as NodeJS.ErrnoException).code ?? String(error)})`,
    );
    return undefined;
  }
}

/**
 * Reads environment variables into a config class: property names are the
 * variable names (each may also come from a file, `NAME_FILE`), property
 * initialisers are the defaults (and give each setting its type),
 * class-validator decorators the rules.
 */
export function loadConfig<T extends object>(
  cls: new () => T,
  env: NodeJS.ProcessEnv = process.env,
): T {
  const defaults = new cls();
  const raw: Record<string, unknown> = {};
  const problems: string[] = [];
  for (const key of Object.keys(defaults)) {
    const value = readSetting(key, env, problems);
    const fallback = (defaults as Record<string, unknown>)[key];
    raw[key] =
      value === undefined || value === '' ? fallback : convert(value, fallback);
  }
  if (problems.length > 0) throw new ConfigError(problems);
  const config = plainToInstance(cls, raw);
  const errors = validateSync(config);
  if (errors.length > 0) {
    throw new ConfigError(
      errors.flatMap((error) =>
        Object.values(error.constraints ?? {}).map(
          (message) =>
            `${message} (got ${describeValue(error.property, raw[error.property])})`,
        ),
      ),
    );
  }
  return Object.freeze(config);
}
