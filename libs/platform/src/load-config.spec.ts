import { IsBoolean, IsIn, IsInt, IsString, Min } from 'class-validator';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, loadConfig } from './load-config';
import {
  BrokerUsersConfig,
  DatabaseConfig,
  ProducerConfig,
  SharedConfig,
  WorkerConfig,
  WriterConfig,
} from './settings';

function configErrorOf(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error('expected a ConfigError, but nothing was thrown');
}

/** The producer needs its bootstrap admin key. */
const ADMIN = { ADMIN_API_KEY: 'q3V8xN1rT6mZ0bL4wY7cK2jH9sF5dA' + 'pE' };

class TestConfig {
  @IsInt() @Min(1) COUNT = 3;
  @IsBoolean() ENABLED = false;
  @IsString() NAME = 'default-name';
  @IsIn(['a', 'b']) MODE: 'a' | 'b' = 'a';
}

describe('loadConfig', () => {
  describe('defaults', () => {
    it('applies every default for an empty environment', () => {
      const config = loadConfig(ProducerConfig, ADMIN);
      expect(config).toBeInstanceOf(ProducerConfig);
      expect({ ...config }).toEqual({
        AMQP_URL: 'amqp://guest:guest@127.0.0.1:5672',
        AMQP_PREFIX: 'pipeline',
        AMQP_TOPOLOGY: 'declare',
        AMQP_HEARTBEAT_S: 15,
        AMQP_DELIVERY_LIMIT: 5,
        AMQP_QUORUM_INITIAL_GROUP_SIZE: 0,
        RETRY_DELAYS_MS: '1000,10000,60000',
        SHUTDOWN_GRACE_MS: 25_000,
        DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/pipeline',
        DATABASE_POOL_SIZE: 10,
        STORAGE_DIR: './data/storage',
        STORAGE_URL: '',
        S3_FORCE_PATH_STYLE: false,
        AWS_ENDPOINT_URL_S3: '',
        AWS_ENDPOINT_URL: '',
        AWS_REGION: '',
        AWS_ACCESS_KEY_ID: '',
        AWS_SECRET_ACCESS_KEY: '',
        IMAGES_DIR: './data/images',
        LOG_FORMAT: 'json',
        LOG_LEVEL: 'log',
        PORT: 3000,
        HOST: '0.0.0.0',
        PUBLISH_TIMEOUT_MS: 5000,
        PRESETS: '',
        MAX_BATCH_JOBS: 100,
        MAX_OUTPUT_PIXELS: 50_000_000,
        MAX_BATCH_OPERATIONS: 2000,
        MAX_UPLOAD_BYTES: 50 * 1024 * 1024,
        STUCK_AFTER_S: 300,
        WORKER_GONE_AFTER_S: 20,
        ...ADMIN,
        RATE_LIMIT_WINDOW_S: 60,
        RATE_LIMIT_REQUESTS: 1200,
        RATE_LIMIT_JOBS_IN_FLIGHT: 1000,
        QUOTA_STORED_BYTES: 10 * 1024 ** 3,
        QUOTA_JOBS_PER_DAY: 100_000,
        CORS_ORIGINS: '',
        METRICS_PORT: 9464,
        OTEL_EXPORTER_OTLP_ENDPOINT: '',
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: '',
        OTEL_SERVICE_NAME: '',
        OTEL_BSP_SCHEDULE_DELAY: 5000,
        SOURCE_URL_PORTS: '80,443',
        RESULT_DELIVERY: 'stream',
        RESULT_URL_EXPIRES_S: 300,
      });
    });

    it('refuses retry delays that are not a list of milliseconds, naming the variable', () => {
      expect(() =>
        loadConfig(ProducerConfig, { ...ADMIN, RETRY_DELAYS_MS: '1s,10s' }),
      ).toThrow(/RETRY_DELAYS_MS must be 1 to 10 delays in milliseconds/);
      expect(
        loadConfig(ProducerConfig, { ...ADMIN, RETRY_DELAYS_MS: '500,5000' })
          .RETRY_DELAYS_MS,
      ).toBe('500,5000');
    });

    it('applies the default for a variable set to the empty string', () => {
      const config = loadConfig(ProducerConfig, {
        ...ADMIN,
        PORT: '',
        AMQP_URL: '',
        LOG_LEVEL: '',
      });
      expect(config.PORT).toBe(3000);
      expect(config.AMQP_URL).toBe('amqp://guest:guest@127.0.0.1:5672');
      expect(config.LOG_LEVEL).toBe('log');
    });

    it('gives each app its own defaults', () => {
      expect(loadConfig(WorkerConfig, {}).PORT).toBe(3001);
      expect(loadConfig(WriterConfig, {}).PORT).toBe(3002);
      expect(loadConfig(WorkerConfig, {}).MAX_INPUT_PIXELS).toBe(50_000_000);
      // Outputs as large as the largest input by default, in the producer
      // (which judges uploads) as in the workers.
      expect(loadConfig(WorkerConfig, {}).MAX_OUTPUT_PIXELS).toBe(50_000_000);
      expect(loadConfig(ProducerConfig, { ...ADMIN }).MAX_OUTPUT_PIXELS).toBe(
        50_000_000,
      );
      expect(() =>
        loadConfig(WorkerConfig, { MAX_OUTPUT_PIXELS: '0' }),
      ).toThrow(/MAX_OUTPUT_PIXELS/);
      expect(loadConfig(WriterConfig, {}).WRITER_MAX_BATCH).toBe(500);
      expect(loadConfig(WriterConfig, {})).toMatchObject({
        RETENTION_UPLOADS_S: 604_800,
        RETENTION_OUTPUTS_S: 2_592_000,
        RETENTION_JOBS_S: 0,
        RETENTION_SWEEP_INTERVAL_S: 300,
      });
      expect(loadConfig(WorkerConfig, {}).WORKER_ID).toBe(
        `${hostname()}-${process.pid}`,
      );
    });

    it('gives the workers no database settings: they start without them, and read none they are given', () => {
      const worker = loadConfig(WorkerConfig, {
        DATABASE_URL: 'mysql://not-read',
        DATABASE_POOL_SIZE: 'many',
      });
      expect(worker).not.toHaveProperty('DATABASE_URL');
      expect(worker).not.toHaveProperty('DATABASE_POOL_SIZE');
      expect(worker).not.toHaveProperty('ADMIN_API_KEY');
      expect(loadConfig(WriterConfig, {}).DATABASE_URL).toBe(
        'postgres://postgres@127.0.0.1:5432/pipeline',
      );
      expect(loadConfig(DatabaseConfig, {}).DATABASE_POOL_SIZE).toBe(10);
      expect(() =>
        loadConfig(WriterConfig, { DATABASE_URL: 'mysql://db' }),
      ).toThrow(ConfigError);
    });

    it('ignores variables the config does not declare', () => {
      const config = loadConfig(SharedConfig, {
        PATH: '/usr/bin',
        PORT: '1234',
        SOMETHING: 'x',
      });
      expect(config).not.toHaveProperty('PATH');
      expect(config).not.toHaveProperty('PORT');
      expect(config).not.toHaveProperty('SOMETHING');
    });
  });

  describe('values from the environment', () => {
    it('turns numeric strings into numbers', () => {
      const config = loadConfig(WriterConfig, {
        PORT: '8080',
        WRITER_PREFETCH: '250',
        WRITER_MAX_BATCH: '100',
        AMQP_HEARTBEAT_S: '30',
      });
      expect(config.PORT).toBe(8080);
      expect(config.WRITER_PREFETCH).toBe(250);
      expect(config.WRITER_MAX_BATCH).toBe(100);
      expect(config.AMQP_HEARTBEAT_S).toBe(30);
      expect(typeof config.PORT).toBe('number');
    });

    it('accepts numbers with surrounding spaces', () => {
      expect(
        loadConfig(ProducerConfig, { ...ADMIN, PORT: ' 8080 ' }).PORT,
      ).toBe(8080);
    });

    it('keeps strings as given', () => {
      const config = loadConfig(ProducerConfig, {
        ...ADMIN,
        AMQP_URL: 'amqps://user:pw@broker:5671/vhost',
        DATABASE_URL: 'postgresql://db/pipeline',
        HOST: '127.0.0.1',
        LOG_FORMAT: 'text',
        STORAGE_DIR: '/var/lib/storage',
      });
      expect(config.AMQP_URL).toBe('amqps://user:pw@broker:5671/vhost');
      expect(config.DATABASE_URL).toBe('postgresql://db/pipeline');
      expect(config.HOST).toBe('127.0.0.1');
      expect(config.LOG_FORMAT).toBe('text');
      expect(config.STORAGE_DIR).toBe('/var/lib/storage');
    });

    it('does not turn numeric-looking text into a number for a string setting', () => {
      expect(loadConfig(WorkerConfig, { WORKER_ID: '42' }).WORKER_ID).toBe(
        '42',
      );
    });

    it.each([
      ['true', true],
      ['false', false],
    ])('turns %j into a boolean for a boolean setting', (text, value) => {
      expect(loadConfig(TestConfig, { ENABLED: text }).ENABLED).toBe(value);
    });

    it('does not read other words as booleans', () => {
      const error = configErrorOf(() =>
        loadConfig(TestConfig, { ENABLED: 'yes' }),
      );
      expect(error.message).toContain('ENABLED');
      expect(error.message).toContain('(got "yes")');
    });

    it('returns a frozen config', () => {
      const config = loadConfig(TestConfig, {});
      expect(Object.isFrozen(config)).toBe(true);
      expect(() => {
        (config as { COUNT: number }).COUNT = 9;
      }).toThrow(TypeError);
      expect(config.COUNT).toBe(3);
    });

    it('does not change the defaults of the class', () => {
      loadConfig(TestConfig, { COUNT: '7', NAME: 'other' });
      const fresh = new TestConfig();
      expect(fresh.COUNT).toBe(3);
      expect(fresh.NAME).toBe('default-name');
    });
  });

  describe('values from files (NAME_FILE)', () => {
    let folder: string;
    beforeAll(() => (folder = mkdtempSync(join(tmpdir(), 'load-config-'))));
    afterAll(() => rmSync(folder, { recursive: true, force: true }));

    it('reads a setting from the file NAME_FILE names, without its final newline', () => {
      const keyFile = join(folder, 'admin-api-key');
      writeFileSync(keyFile, `${ADMIN.ADMIN_API_KEY}\n`);
      const urlFile = join(folder, 'amqp-url');
      writeFileSync(
        urlFile,
        'amqp://producer:s3cr3tS3cr3tS3cr3t@rabbitmq:5672',
      );
      const config = loadConfig(ProducerConfig, {
        ADMIN_API_KEY_FILE: keyFile,
        AMQP_URL_FILE: urlFile,
      });
      expect(config.ADMIN_API_KEY).toBe(ADMIN.ADMIN_API_KEY);
      expect(config.AMQP_URL).toBe(
        'amqp://producer:s3cr3tS3cr3tS3cr3t@rabbitmq:5672',
      );
    });

    it('validates a value from a file like any other', () => {
      const file = join(folder, 'count');
      writeFileSync(file, '0\n');
      expect(
        configErrorOf(() => loadConfig(TestConfig, { COUNT_FILE: file }))
          .message,
      ).toMatch(/COUNT must not be less than 1 \(got 0\)/);
    });

    it('refuses a setting given both ways, and a file it cannot read, naming them', () => {
      const file = join(folder, 'name');
      writeFileSync(file, 'from-file');
      const both = configErrorOf(() =>
        loadConfig(TestConfig, { NAME: 'from-env', NAME_FILE: file }),
      );
      expect(both.message).toContain(
        'NAME and NAME_FILE are both set: set one of them',
      );
      const missing = configErrorOf(() =>
        loadConfig(TestConfig, { NAME_FILE: join(folder, 'absent') }),
      );
      expect(missing.message).toContain(
        `NAME_FILE names ${join(folder, 'absent')}, which cannot be read (ENOENT)`,
      );
    });
  });

  describe('object storage', () => {
    it.each([
      [
        { STORAGE_URL: 's3://Bad_Bucket' },
        'STORAGE_URL names the bucket "Bad_Bucket"',
      ],
      [
        { STORAGE_URL: 'gs://bucket' },
        "STORAGE_URL must be s3://<bucket>/<prefix> or a folder's path, not a gs:// URL",
      ],
      [
        { S3_FORCE_PATH_STYLE: 'yes' },
        'S3_FORCE_PATH_STYLE must be true or false (got "yes")',
      ],
      [
        { AWS_ENDPOINT_URL_S3: 'rgw:7480' },
        'AWS_ENDPOINT_URL_S3 must be the http(s):// URL of the S3 endpoint',
      ],
      [
        { AWS_ACCESS_KEY_ID: 'AKIAEXAMPLE' },
        'AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are set together, or neither',
      ],
      [
        { AWS_SECRET_ACCESS_KEY: 'x9f2Lq7Vb3Nm8Kd1Rt6Yw4Ps0Hg5Jc' },
        'AWS_SECRET_ACCESS_KEY and AWS_ACCESS_KEY_ID are set together, or neither (the AWS SDK then finds credentials itself: IRSA, an instance role, a profile) (got 30 characters)',
      ],
    ])('refuses %j, naming the setting', (env, message) => {
      expect(
        configErrorOf(() => loadConfig(WorkerConfig, env)).message,
      ).toContain(message);
    });

    it('RESULT_DELIVERY=redirect needs a bucket', () => {
      expect(
        configErrorOf(() =>
          loadConfig(ProducerConfig, { ...ADMIN, RESULT_DELIVERY: 'redirect' }),
        ).message,
      ).toContain(
        'RESULT_DELIVERY=redirect needs STORAGE_URL=s3://<bucket>/<prefix>: a folder has no links to hand out',
      );
      expect(
        loadConfig(ProducerConfig, {
          ...ADMIN,
          RESULT_DELIVERY: 'redirect',
          STORAGE_URL: 's3://images',
        }).RESULT_DELIVERY,
      ).toBe('redirect');
      expect(
        configErrorOf(() =>
          loadConfig(ProducerConfig, { ...ADMIN, RESULT_DELIVERY: 'link' }),
        ).message,
      ).toContain('RESULT_DELIVERY must be stream or redirect');
    });
  });

  describe('invalid values', () => {
    it('PORT=abc throws a ConfigError naming the variable and the value', () => {
      const error = configErrorOf(() =>
        loadConfig(ProducerConfig, { ...ADMIN, PORT: 'abc' }),
      );
      expect(error.name).toBe('ConfigError');
      expect(error.message).toMatch(/^Invalid configuration:\n {2}- /);
      expect(error.message).toContain(
        'PORT must be an integer number (got "abc")',
      );
    });

    it('AMQP_URL=http://x throws a ConfigError naming the variable and the value', () => {
      const error = configErrorOf(() =>
        loadConfig(ProducerConfig, { ...ADMIN, AMQP_URL: 'http://x' }),
      );
      expect(error.message).toBe(
        'Invalid configuration:\n  - AMQP_URL must be amqp:// or amqps:// URLs, comma-separated: "http://x" is not amqp:// or amqps:// (got "http://x")',
      );
    });

    it("AMQP_URL may list a cluster's nodes; a bad entry is named by its position", () => {
      const nodes =
        'amqp://u:pw@rabbit-1:5672,amqp://u:pw@rabbit-2:5672, amqps://u:pw@rabbit-3:5671';
      expect(loadConfig(WorkerConfig, { AMQP_URL: nodes }).AMQP_URL).toBe(
        nodes,
      );
      expect(
        loadConfig(WorkerConfig, {
          AMQP_URL: 'amqp://u:pw@rabbit-1,rabbit-2:5672,rabbit-3',
        }).AMQP_URL,
      ).toBe('amqp://u:pw@rabbit-1,rabbit-2:5672,rabbit-3');
      const error = configErrorOf(() =>
        loadConfig(WorkerConfig, {
          AMQP_URL: 'amqp://rabbit-1,http://rabbit-2:5672',
        }),
      );
      expect(error.message).toContain(
        'AMQP_URL must be amqp:// or amqps:// URLs, comma-separated: entry 2 ("http://rabbit-2:5672") is not amqp:// or amqps://',
      );
    });

    it("AMQP_QUORUM_INITIAL_GROUP_SIZE is a count of replicas, 0 for the broker's default", () => {
      expect(
        loadConfig(WriterConfig, { AMQP_QUORUM_INITIAL_GROUP_SIZE: '3' })
          .AMQP_QUORUM_INITIAL_GROUP_SIZE,
      ).toBe(3);
      expect(
        configErrorOf(() =>
          loadConfig(WriterConfig, { AMQP_QUORUM_INITIAL_GROUP_SIZE: '-1' }),
        ).message,
      ).toContain('AMQP_QUORUM_INITIAL_GROUP_SIZE must not be less than 0');
    });

    it('AMQP_TOPOLOGY is declare or check', () => {
      expect(
        loadConfig(WorkerConfig, { AMQP_TOPOLOGY: 'check' }).AMQP_TOPOLOGY,
      ).toBe('check');
      expect(
        configErrorOf(() =>
          loadConfig(WorkerConfig, { AMQP_TOPOLOGY: 'passive' }),
        ).message,
      ).toContain('AMQP_TOPOLOGY must be one of declare, check');
    });

    it('WORKER_CPU_SCHEDULING is normal by default, or batch', () => {
      expect(loadConfig(WorkerConfig, {}).WORKER_CPU_SCHEDULING).toBe('normal');
      expect(
        loadConfig(WorkerConfig, { WORKER_CPU_SCHEDULING: 'batch' })
          .WORKER_CPU_SCHEDULING,
      ).toBe('batch');
      expect(
        configErrorOf(() =>
          loadConfig(WorkerConfig, { WORKER_CPU_SCHEDULING: 'realtime' }),
        ).message,
      ).toContain(
        'WORKER_CPU_SCHEDULING must be one of the following values: batch, normal (got "realtime")',
      );
    });

    it('the broker users setup needs the management URL and a random password for each user, naming what is wrong', () => {
      const good = {
        RABBITMQ_MANAGEMENT_URL: 'http://pipeline:s3cretAdminPw@rabbitmq:15672',
        RABBITMQ_PRODUCER_PASSWORD: 'p7f3a9c1e5b2d8046',
        RABBITMQ_WORKER_PASSWORD: 'w1b2c3d4e5f6a7b8c9',
        RABBITMQ_WRITER_PASSWORD: 'r9e8d7c6b5a4f3e2d1',
      };
      expect(loadConfig(BrokerUsersConfig, good)).toMatchObject({
        ...good,
        RABBITMQ_VHOST: '/',
        AMQP_PREFIX: 'pipeline',
      });
      const message = configErrorOf(() =>
        loadConfig(BrokerUsersConfig, {}),
      ).message;
      expect(message).toContain(
        'RABBITMQ_MANAGEMENT_URL must be http(s)://user:password@host:port',
      );
      for (const name of [
        'RABBITMQ_PRODUCER_PASSWORD',
        'RABBITMQ_WORKER_PASSWORD',
        'RABBITMQ_WRITER_PASSWORD',
      ])
        expect(message).toContain(
          `${name} must be set to a random password of 16 or more letters and digits`,
        );
      const placeholder = configErrorOf(() =>
        loadConfig(BrokerUsersConfig, {
          ...good,
          RABBITMQ_WORKER_PASSWORD: 'changemeworkerpassword',
          RABBITMQ_MANAGEMENT_URL:
            'http://pipeline:change-me-rabbitmq@rabbitmq:15672',
        }),
      ).message;
      expect(placeholder).toContain(
        'RABBITMQ_WORKER_PASSWORD is a placeholder',
      );
      expect(placeholder).toContain(
        'RABBITMQ_MANAGEMENT_URL has a placeholder password',
      );
      expect(placeholder).not.toContain('changemeworkerpassword');
    });

    it('DATABASE_URL of another scheme is refused', () => {
      const error = configErrorOf(() =>
        loadConfig(WriterConfig, { DATABASE_URL: 'mysql://db' }),
      );
      expect(error.message).toBe(
        'Invalid configuration:\n  - DATABASE_URL must be a postgres:// URL (got "mysql://db")',
      );
    });

    it.each([
      ['PORT', '70000', 'PORT must not be greater than 65535 (got 70000)'],
      ['PORT', '-1', 'PORT must not be less than 0 (got -1)'],
      ['PORT', '80.5', 'PORT must be an integer number (got 80.5)'],
      [
        'PUBLISH_TIMEOUT_MS',
        '99',
        'PUBLISH_TIMEOUT_MS must not be less than 100 (got 99)',
      ],
      [
        'LOG_LEVEL',
        'trace',
        'LOG_LEVEL must be one of the following values: error, warn, log, debug, verbose (got "trace")',
      ],
      [
        'AMQP_PREFIX',
        'has space',
        'AMQP_PREFIX may hold letters, digits, dot, dash and underscore (got "has space")',
      ],
    ])('%s=%s is refused', (name, value, problem) => {
      const error = configErrorOf(() =>
        loadConfig(ProducerConfig, { ...ADMIN, [name]: value }),
      );
      expect(error.message).toContain(`  - ${problem}`);
    });

    it('SOURCE_URL_PORTS is 80,443 unless set, and a bad entry is named, for the producer and the workers alike', () => {
      expect(loadConfig(ProducerConfig, ADMIN).SOURCE_URL_PORTS).toBe('80,443');
      expect(loadConfig(WorkerConfig, {}).SOURCE_URL_PORTS).toBe('80,443');
      expect(
        loadConfig(WorkerConfig, { SOURCE_URL_PORTS: '443,8000-8099' })
          .SOURCE_URL_PORTS,
      ).toBe('443,8000-8099');
      const problem =
        'SOURCE_URL_PORTS has the invalid entry "http": expected ports 1 to 65535 or ranges such as 8000-8099, comma-separated (got "80,http")';
      expect(
        configErrorOf(() =>
          loadConfig(WorkerConfig, { SOURCE_URL_PORTS: '80,http' }),
        ).message,
      ).toContain(`  - ${problem}`);
      expect(
        configErrorOf(() =>
          loadConfig(ProducerConfig, { ...ADMIN, SOURCE_URL_PORTS: '80,http' }),
        ).message,
      ).toContain(`  - ${problem}`);
    });

    it('refuses to start the producer without an admin key, and never prints a secret it was given', () => {
      expect(
        configErrorOf(() => loadConfig(ProducerConfig, {})).message,
      ).toContain(
        'ADMIN_API_KEY must be set to a random string of at least 32 characters',
      );
      const error = configErrorOf(() =>
        loadConfig(ProducerConfig, {
          ADMIN_API_KEY: 'too-short-secret',
          AMQP_URL: 'ampq://user:hunter2@broker',
        }),
      );
      expect(error.message).toContain('(got 16 characters)');
      expect(error.message).toContain('(got "ampq://user:[redacted]@broker")');
      expect(error.message).not.toContain('too-short-secret');
      expect(error.message).not.toContain('hunter2');
    });

    it.each([
      [
        'the placeholder of .env.example',
        'change-me-to-a-random-admin-api-key-of-32-chars-or-more',
        'ADMIN_API_KEY is a placeholder',
      ],
      [
        'one character repeated',
        'k'.repeat(40),
        'ADMIN_API_KEY is not random enough (10 distinct characters at least',
      ],
      [
        'a short pattern repeated',
        'abcd'.repeat(10),
        'ADMIN_API_KEY is not random enough',
      ],
    ])(
      'refuses an admin key that is %s, without printing it',
      (_what, key, problem) => {
        const error = configErrorOf(() =>
          loadConfig(ProducerConfig, { ADMIN_API_KEY: key }),
        );
        expect(error.message).toContain(problem);
        expect(error.message).not.toContain(key);
      },
    );

    it.each([
      ['AMQP_URL', 'amqp://pipeline:change-me-rabbitmq@rabbitmq:5672'],
      [
        'AMQP_URL',
        'amqp://guest:guest@rabbit-1:5672,amqp://pipeline:change-me-rabbitmq@rabbit-2:5672',
      ],
      [
        'DATABASE_URL',
        'postgres://pipeline:change-me-postgres@postgres:5432/pipeline',
      ],
    ])(
      'refuses %s with the placeholder password of .env.example',
      (name, url) => {
        const error = configErrorOf(() =>
          loadConfig(ProducerConfig, { ...ADMIN, [name]: url }),
        );
        expect(error.message).toContain(
          `${name} has a placeholder password (as in .env.example): set a real one`,
        );
        expect(error.message).not.toContain('change-me');
      },
    );

    it('takes the local defaults, which have no placeholder', () => {
      const config = loadConfig(ProducerConfig, {
        ...ADMIN,
        AMQP_URL: 'amqp://guest:guest@127.0.0.1:5672',
        DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/pipeline',
      });
      expect(config.DATABASE_URL).toBe(
        'postgres://postgres@127.0.0.1:5432/pipeline',
      );
    });

    it('takes a random admin key, as openssl rand -base64 32 or the chart make them', () => {
      for (const key of [
        'mJ0yY1Kx7b3yTqvP1ZcVq9mS8oE2rN5aF4uW6hL7dGk=',
        'test-admin-Yp2Qx8vT0rLm3Kc9Zb7Wn5Fd1Hs4Jg6E',
      ]) {
        expect(
          loadConfig(ProducerConfig, { ADMIN_API_KEY: key }).ADMIN_API_KEY,
        ).toBe(key);
      }
    });

    it('takes CORS origins only as a list of origins', () => {
      expect(
        loadConfig(ProducerConfig, {
          ...ADMIN,
          CORS_ORIGINS: 'https://app.example.com,http://localhost:5173',
        }).CORS_ORIGINS,
      ).toBe('https://app.example.com,http://localhost:5173');
      expect(
        configErrorOf(() =>
          loadConfig(ProducerConfig, { ...ADMIN, CORS_ORIGINS: '*' }),
        ).message,
      ).toContain(
        'CORS_ORIGINS must be empty or a comma-separated list of origins',
      );
    });

    it('a value of only spaces for a number is refused, not read as 0', () => {
      const error = configErrorOf(() =>
        loadConfig(ProducerConfig, { ...ADMIN, PORT: '   ' }),
      );
      expect(error.message).toContain(
        'PORT must be an integer number (got "   ")',
      );
    });

    it('lists every offending variable, one per line', () => {
      const error = configErrorOf(() =>
        loadConfig(WorkerConfig, {
          PORT: 'abc',
          AMQP_URL: 'http://x',
          WORKER_PREFETCH: '0',
          LOG_FORMAT: 'xml',
        }),
      );
      const lines = error.message.split('\n').slice(1);
      expect(lines.every((line) => line.startsWith('  - '))).toBe(true);
      for (const name of [
        'PORT',
        'AMQP_URL',
        'WORKER_PREFETCH',
        'LOG_FORMAT',
      ]) {
        expect(lines.some((line) => line.startsWith(`  - ${name} `))).toBe(
          true,
        );
      }
      expect(error.message).toContain('(got "abc")');
      expect(error.message).toContain('(got "http://x")');
      expect(error.message).toContain(
        'WORKER_PREFETCH must not be less than 1 (got 0)',
      );
      expect(error.message).toContain('(got "xml")');
    });

    it("keeps a worker's longest hold of a job (its turns of JOB_TIMEOUT_S plus two publish confirms) within half the broker's consumer_timeout", () => {
      const defaults = loadConfig(WorkerConfig, {});
      expect([
        defaults.JOB_TIMEOUT_S,
        defaults.PUBLISH_TIMEOUT_MS,
        defaults.AMQP_CONSUMER_TIMEOUT_MS,
        defaults.WORKER_PREFETCH,
        defaults.WORKER_CONCURRENCY,
      ]).toEqual([120, 10_000, 1_800_000, 16, 4]);
      // One turn (a worker holding no more than it processes): 880 s + 2 × 10 s
      // = 900 s, exactly half of 30 minutes.
      const oneTurn = { WORKER_PREFETCH: '4', WORKER_CONCURRENCY: '4' };
      expect(
        loadConfig(WorkerConfig, { ...oneTurn, JOB_TIMEOUT_S: '880' })
          .JOB_TIMEOUT_S,
      ).toBe(880);
      const error = configErrorOf(() =>
        loadConfig(WorkerConfig, { ...oneTurn, JOB_TIMEOUT_S: '881' }),
      );
      expect(error.message).toContain(
        "JOB_TIMEOUT_S (881 s) for each of the 1 turns a held job may wait and run (WORKER_PREFETCH 4 over WORKER_CONCURRENCY 4), plus two publish confirms (PUBLISH_TIMEOUT_MS 10000 ms each), is 901000 ms, more than half of AMQP_CONSUMER_TIMEOUT_MS (1800000 ms, the broker's consumer_timeout)",
      );
      expect(() =>
        loadConfig(WorkerConfig, {
          ...oneTurn,
          JOB_TIMEOUT_S: '800',
          PUBLISH_TIMEOUT_MS: '60000',
        }),
      ).toThrow(/is 920000 ms, more than half of AMQP_CONSUMER_TIMEOUT_MS/);
      // The defaults hold 16 and process 4: a job may wait 3 turns before its
      // own, so 4 × 220 s + 20 s = 900 s.
      expect(
        loadConfig(WorkerConfig, { JOB_TIMEOUT_S: '220' }).JOB_TIMEOUT_S,
      ).toBe(220);
      expect(() => loadConfig(WorkerConfig, { JOB_TIMEOUT_S: '221' })).toThrow(
        /for each of the 4 turns .* is 904000 ms/,
      );
      // A prefetch that is no multiple of the concurrency rounds up; a
      // concurrency above the prefetch is one turn.
      expect(() =>
        loadConfig(WorkerConfig, {
          WORKER_PREFETCH: '5',
          WORKER_CONCURRENCY: '4',
          JOB_TIMEOUT_S: '441',
        }),
      ).toThrow(/for each of the 2 turns/);
      expect(
        loadConfig(WorkerConfig, {
          WORKER_PREFETCH: '2',
          WORKER_CONCURRENCY: '8',
          JOB_TIMEOUT_S: '880',
        }).JOB_TIMEOUT_S,
      ).toBe(880);
      expect(
        loadConfig(WorkerConfig, {
          JOB_TIMEOUT_S: '3600',
          AMQP_CONSUMER_TIMEOUT_MS: '28840000',
        }).JOB_TIMEOUT_S,
      ).toBe(3600);
      expect(() =>
        loadConfig(WorkerConfig, { AMQP_CONSUMER_TIMEOUT_MS: '1000' }),
      ).toThrow(
        'AMQP_CONSUMER_TIMEOUT_MS must not be less than 60000 (got 1000)',
      );
    });

    it('does not mention valid variables', () => {
      const error = configErrorOf(() =>
        loadConfig(ProducerConfig, { ...ADMIN, PORT: 'abc', HOST: '10.0.0.1' }),
      );
      expect(error.message).not.toContain('HOST');
      expect(error.message).not.toContain('AMQP_URL');
    });
  });
});
