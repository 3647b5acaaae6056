import { crashReport } from './crash-report';

describe('crashReport', () => {
  it("is one JSON line with the request id, the stack and the logger's fields", () => {
    const error = new RangeError('offset out of range');
    const line = crashReport(
      error,
      'uncaughtException',
      'req-7',
      1_700_000_000_000,
    );
    expect(line).not.toContain('\n');
    expect(JSON.parse(line)).toEqual({
      level: 'fatal',
      pid: process.pid,
      timestamp: 1_700_000_000_000,
      context: 'process',
      message: 'Uncaught exception, exiting: RangeError: offset out of range',
      origin: 'uncaughtException',
      requestId: 'req-7',
      stack: error.stack,
    });
  });

  it('says requestId null outside a request, and takes a rejection with a value that is not an Error', () => {
    expect(
      JSON.parse(crashReport('just a string', 'unhandledRejection', undefined)),
    ).toMatchObject({
      message: 'Unhandled promise rejection, exiting: just a string',
      requestId: null,
      stack: 'just a string',
    });
  });

  it('redacts secrets in the message and the stack', () => {
    const error = new Error(
      'could not reach amqp://pipeline:hunter2@broker:5672 with Bearer ipk-looking-token',
    );
    const report = JSON.parse(
      crashReport(error, 'uncaughtException', 'req-8'),
    ) as { message: string };
    expect(JSON.stringify(report)).not.toMatch(/hunter2|ipk-looking-token/);
    expect(report.message).toBe(
      'Uncaught exception, exiting: Error: could not reach amqp://pipeline:[redacted]@broker:5672 with Bearer [redacted]',
    );
  });
});
