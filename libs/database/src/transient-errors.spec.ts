import { isTransientDatabaseError } from './transient-errors';

/** An error as `pg` reports one the server sent: its SQLSTATE in `code`. */
const serverError = (code: string, message = `error ${code}`) =>
  Object.assign(new Error(message), { code });

describe('isTransientDatabaseError', () => {
  it.each([
    [
      'a refused connection',
      Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), {
        code: 'ECONNREFUSED',
      }),
    ],
    [
      'a reset connection',
      Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }),
    ],
    [
      'a terminated connection',
      new Error('Connection terminated unexpectedly'),
    ],
    [
      'a pool that cannot connect in time',
      new Error('timeout exceeded when trying to connect'),
    ],
  ])('treats %s as transient', (_what, error) => {
    expect(isTransientDatabaseError(error)).toBe(true);
  });

  it.each([
    ['08000', 'a connection exception'],
    ['08003', 'a connection that does not exist'],
    ['08006', 'a connection failure'],
    ['08001', 'a client unable to establish a connection'],
    ['08004', 'a server that rejected the connection'],
    ['08P01', 'a protocol violation'],
    [
      '25006',
      'a read-only transaction (a standby, or a primary after a failover)',
    ],
    ['40001', 'a serialization failure'],
    ['40P01', 'a deadlock'],
    ['53000', 'insufficient resources'],
    ['53100', 'a full disk'],
    ['53200', 'the server out of memory'],
    ['53300', 'too many connections'],
    ['53400', 'a configuration limit exceeded'],
    ['55P03', 'a lock not available'],
    ['57000', 'operator intervention'],
    ['57014', 'a cancelled statement (statement timeout)'],
    ['57P01', 'an administrator shutdown'],
    ['57P02', 'a crash shutdown'],
    ['57P03', 'a server that cannot take connections now'],
    ['57P05', 'an idle session timeout'],
    ['58000', 'a system error'],
    ['58030', 'an I/O error'],
    ['58P01', 'an undefined file'],
  ])('treats SQLSTATE %s, %s, as transient', (code) => {
    expect(isTransientDatabaseError(serverError(code))).toBe(true);
  });

  it.each([
    ['23505', 'a unique violation'],
    ['23503', 'a foreign key violation'],
    ['23502', 'a not-null violation'],
    ['23514', 'a check constraint'],
    ['22P02', 'invalid text for a type'],
    ['22021', 'invalid bytes for the encoding (a NUL)'],
    ['22001', 'a string too long'],
    ['42P01', 'an undefined table'],
    ['42703', 'an undefined column'],
    ['42601', 'a syntax error'],
    ['25001', 'an active transaction (class 25 other than 25006)'],
    ['25P02', 'a transaction already aborted'],
    [
      '40002',
      'an integrity constraint violation at commit (class 40 other than 40001 and 40P01)',
    ],
    [
      '55000',
      'an object not in prerequisite state (class 55 other than 55P03)',
    ],
    ['55006', 'an object in use'],
    ['XX000', 'an internal error'],
    ['XX001', 'corrupted data'],
    ['P0001', 'a raised exception'],
  ])("treats SQLSTATE %s, %s, as the data's fault", (code) => {
    expect(isTransientDatabaseError(serverError(code))).toBe(false);
  });

  it.each([
    ['a plain error', new Error('something else')],
    ['no error at all', undefined],
    ['a code that is no SQLSTATE', serverError('53')],
  ])("treats %s as the data's fault", (_what, error) => {
    expect(isTransientDatabaseError(error)).toBe(false);
  });
});
