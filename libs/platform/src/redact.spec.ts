import { createLogger } from './logger';
import { redactSecrets, redactValue, secretValuesOf } from './redact';

describe('redacting secrets', () => {
  const key = 'ipk_0123456789abcdef_' + 'A'.repeat(43);

  it('blanks bearer tokens, API keys and passwords in URLs', () => {
    expect(redactSecrets(`authorization: Bearer ${key}`)).toBe(
      'authorization: Bearer [redacted]',
    );
    expect(redactSecrets(`the key ${key} was used`)).toBe(
      'the key ipk_[redacted] was used',
    );
    expect(redactSecrets('amqps://pipeline:s3cr3t@rabbitmq:5671/vhost')).toBe(
      'amqps://pipeline:[redacted]@rabbitmq:5671/vhost',
    );
    expect(
      redactSecrets('postgres://app:p%40ss@db/pipeline?sslmode=require'),
    ).toBe('postgres://app:[redacted]@db/pipeline?sslmode=require');
    expect(
      redactSecrets('amqp://rabbitmq:5672 and postgres://postgres@db/x'),
    ).toBe('amqp://rabbitmq:5672 and postgres://postgres@db/x');
  });

  it('blanks known secret values wherever they appear, in strings, objects and errors', () => {
    const admin = 'an admin key chosen by a person!!';
    const error = new Error(`refused ${admin}`);
    const redacted = redactValue(
      { msg: `key=${admin}`, nested: [admin], error },
      [admin],
    ) as { msg: string; nested: string[]; error: Error };
    expect(redacted.msg).toBe('key=[redacted]');
    expect(redacted.nested).toEqual(['[redacted]']);
    expect(redacted.error.message).toBe('refused [redacted]');
    expect(redacted.error.stack).not.toContain(admin);
  });

  it('takes the values of secret settings from a configuration', () => {
    expect(
      secretValuesOf({
        ADMIN_API_KEY: 'x'.repeat(40),
        AMQP_URL: 'amqp://h',
        RABBITMQ_PASSWORD: 'short',
        LOG_LEVEL: 'log',
      }),
    ).toEqual(['x'.repeat(40)]);
  });

  it('writes log lines without them, in JSON and in text', () => {
    const admin = 'y'.repeat(40);
    for (const LOG_FORMAT of ['json', 'text'] as const) {
      const logger = createLogger(
        { LOG_FORMAT, LOG_LEVEL: 'log', ADMIN_API_KEY: admin } as never,
        'test',
      );
      const written: string[] = [];
      const spy = jest
        .spyOn(process.stdout, 'write')
        .mockImplementation((chunk) => (written.push(String(chunk)), true));
      const errors = jest
        .spyOn(process.stderr, 'write')
        .mockImplementation((chunk) => (written.push(String(chunk)), true));
      try {
        logger.log({
          msg: 'request',
          headers: { authorization: `Bearer ${key}` },
        });
        logger.warn(`connecting to amqp://user:hunter2@broker with ${admin}`);
        logger.error(
          `failed for ${key}`,
          new Error(`stack with ${admin}`).stack,
        );
      } finally {
        spy.mockRestore();
        errors.mockRestore();
      }
      const output = written.join('');
      expect(output).toContain('[redacted]');
      for (const secret of [key, admin, 'hunter2'])
        expect(output).not.toContain(secret);
    }
  });
});
