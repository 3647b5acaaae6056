'use strict';
// The compose stack's first step (service `secrets` in docker-compose.yml):
// makes every password, the Erlang cookie and the admin API key on the first
// start and keeps them in the `secrets` volume, which only the stack's services
// mount; the services read them as files (`*_FILE`). A value set in the
// environment (.env) is taken instead of a generated one. On every start it
// also writes the URLs the apps connect with, from the passwords and
// RABBITMQ_HOSTS. `docker compose down -v` removes the volume, and with it
// every secret.
//
//   node deploy/compose-secrets.js <folder>

const { randomBytes } = require('node:crypto');
const {
  chmodSync,
  existsSync,
  mkdirSync,
  readFileSync,
  renameSync,
  writeFileSync,
} = require('node:fs');
const { join } = require('node:path');

/**
 * What the stack keeps: the file, the variable that may set it, and how to make
 * one.
 */
const SECRETS = [
  generatedPassword('rabbitmq-password', 'RABBITMQ_PASSWORD'),
  generatedPassword('rabbitmq-producer-password', 'RABBITMQ_PRODUCER_PASSWORD'),
  generatedPassword('rabbitmq-worker-password', 'RABBITMQ_WORKER_PASSWORD'),
  generatedPassword('rabbitmq-writer-password', 'RABBITMQ_WRITER_PASSWORD'),
  generatedPassword('rabbitmq-erlang-cookie', 'RABBITMQ_ERLANG_COOKIE'),
  generatedPassword('postgres-password', 'POSTGRES_PASSWORD'),
  generatedPassword('pgadmin-password', 'PGADMIN_PASSWORD', false),
  generatedPassword('grafana-password', 'GRAFANA_PASSWORD', false),
  // 256 bits, as `openssl rand -base64 32` makes them (the producer asks for 32
  // characters or more).
  {
    file: 'admin-api-key',
    variable: 'ADMIN_API_KEY',
    make: () => randomBytes(32).toString('base64url'),
    inUrl: false,
  },
];

/**
 * A secret made by password(); `inUrl`: one of the URLs the apps connect with
 * holds it.
 */
function generatedPassword(file, variable, inUrl = true) {
  return { file, variable, make: () => password(), inUrl };
}

/**
 * 128 random bits as 32 hex digits: safe in a URL and in every server's
 * configuration.
 */
function password() {
  return randomBytes(16).toString('hex');
}

/** Why a value given in the environment cannot be used, or undefined. */
function problemWith(secret, value) {
  if (/change-?me|placeholder|example/i.test(value))
    return `${secret.variable} is still a placeholder from .env.example: remove it to have one generated, or set your own`;
  if (secret.variable === 'ADMIN_API_KEY')
    return value.length >= 32
      ? undefined
      : 'ADMIN_API_KEY must have 32 characters or more (e.g. openssl rand -base64 32)';
  if (value.length < 16)
    return `${secret.variable} must have 16 characters or more`;
  if (secret.inUrl && !/^[A-Za-z0-9]+$/.test(value))
    return `${secret.variable} goes into URLs: use letters and digits only`;
  return undefined;
}

/**
 * The secrets to keep: for each, the environment's value, else the one kept
 * from an earlier start, else a new one. Pure apart from the random source;
 * `kept` maps file names to values.
 */
function resolveSecrets(env, kept) {
  const problems = [];
  const values = {};
  const notes = [];
  for (const secret of SECRETS) {
    const given = env[secret.variable];
    if (given) {
      const problem = problemWith(secret, given);
      if (problem) problems.push(problem);
      if (kept[secret.file] !== undefined && kept[secret.file] !== given)
        notes.push(
          `${secret.variable} from the environment replaces the one kept since the first start`,
        );
      values[secret.file] = given;
    } else if (kept[secret.file] !== undefined) {
      values[secret.file] = kept[secret.file];
    } else {
      values[secret.file] = secret.make();
      notes.push(`generated ${secret.file}`);
    }
  }
  return { values, problems, notes };
}

/**
 * The connection URLs each app is given (as files), from the secrets and the
 * broker hosts.
 */
function connectionFiles(values, env) {
  const hosts = env.RABBITMQ_HOSTS || 'rabbitmq:5672';
  if (!/^[\w.-]+:\d+(,[\w.-]+:\d+)*$/.test(hosts))
    throw new Error(
      `RABBITMQ_HOSTS is host:port, comma-separated, not ${hosts}`,
    );
  const amqp = (user) =>
    `amqp://${user}:${values[`rabbitmq-${user}-password`]}@${hosts}`;
  return {
    'producer-amqp-url': amqp('producer'),
    'worker-amqp-url': amqp('worker'),
    'writer-amqp-url': amqp('writer'),
    'database-url': `postgres://pipeline:${values['postgres-password']}@postgres:5432/pipeline`,
    'rabbitmq-management-url': `http://pipeline:${values['rabbitmq-password']}@rabbitmq:15672`,
  };
}

function readKept(folder) {
  const kept = {};
  for (const { file } of SECRETS) {
    const path = join(folder, file);
    if (existsSync(path)) kept[file] = readFileSync(path, 'utf8').trim();
  }
  return kept;
}

/**
 * Whole or not at all: a stop halfway leaves the file as it was. Readable by
 * the services' users, whichever uid they run as.
 */
function writeAtomically(path, content) {
  writeFileSync(`${path}.tmp`, `${content}\n`, { mode: 0o444 });
  chmodSync(`${path}.tmp`, 0o444);
  renameSync(`${path}.tmp`, path);
}

function main(folder, env = process.env) {
  if (!folder)
    throw new Error('usage: node deploy/compose-secrets.js <folder>');
  mkdirSync(folder, { recursive: true });
  const { values, problems, notes } = resolveSecrets(env, readKept(folder));
  if (problems.length > 0) throw new Error(`secrets: ${problems.join('; ')}`);
  const files = { ...values, ...connectionFiles(values, env) };
  for (const [file, content] of Object.entries(files))
    writeAtomically(join(folder, file), content);
  for (const note of notes) console.log(`secrets: ${note}`);
  if (notes.includes('generated admin-api-key')) {
    console.log(
      'secrets: read the admin API key with: docker compose exec producer cat /secrets/admin-api-key',
    );
  }
  console.log(`secrets: ${Object.keys(files).length} files ready in ${folder}`);
}

if (require.main === module) {
  try {
    main(process.argv[2]);
  } catch (error) {
    console.error(error.message);
    process.exit(1);
  }
}

module.exports = { SECRETS, resolveSecrets, connectionFiles, main };
