import { BadRequestException, ValidationPipe } from '@nestjs/common';
import {
  decodeCursor,
  encodeCursor,
  idPrefixRange,
  ListJobsQuery,
  nextPageLink,
} from './job-list-query';

const POSITION = {
  createdAt: '2026-03-01T10:20:30.123456Z',
  id: '0190c3a2-7b1e-7c3d-9e4f-a1b2c3d4e5f6',
};

/** The query as the producer's pipe makes it, or the 400's messages. */
async function parse(
  query: Record<string, string>,
): Promise<ListJobsQuery | string[]> {
  const pipe = new ValidationPipe({
    transform: true,
    whitelist: true,
    forbidNonWhitelisted: true,
  });
  try {
    return (await pipe.transform(query, {
      type: 'query',
      metatype: ListJobsQuery,
    })) as ListJobsQuery;
  } catch (error) {
    expect(error).toBeInstanceOf(BadRequestException);
    return (
      (error as BadRequestException).getResponse() as { message: string[] }
    ).message;
  }
}

describe('the job list cursor', () => {
  it('names a position to the microsecond, opaquely, and reads it back', () => {
    const cursor = encodeCursor(POSITION);
    expect(cursor).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(cursor).not.toContain(POSITION.id);
    expect(decodeCursor(cursor)).toEqual(POSITION);
  });

  it.each([
    ['empty', ''],
    ['not base64url', 'abc+/='],
    ['no id', Buffer.from(POSITION.createdAt).toString('base64url')],
    [
      'milliseconds only',
      encodeCursor({ ...POSITION, createdAt: '2026-03-01T10:20:30.123Z' }),
    ],
    ['a bad id', encodeCursor({ ...POSITION, id: 'x'.repeat(36) })],
    [
      'an impossible date',
      encodeCursor({ ...POSITION, createdAt: '2026-13-45T10:20:30.123456Z' }),
    ],
    [
      'more than a position',
      Buffer.from(`${POSITION.createdAt} ${POSITION.id} 1`).toString(
        'base64url',
      ),
    ],
  ])('refuses a cursor with %s', (_case, cursor) => {
    expect(decodeCursor(cursor)).toBeNull();
  });

  it("links the next page by the request's path and filters, its cursor replaced", () => {
    expect(
      nextPageLink('/v1/jobs?status=failed&cursor=old&limit=2', 'new'),
    ).toBe('</v1/jobs?status=failed&cursor=new&limit=2>; rel="next"');
  });
});

describe('the id prefix of a job search', () => {
  it('turns the first hex digits of an id, with or without dashes, into a range of ids', () => {
    expect(idPrefixRange('0190C3A27B')).toEqual({
      first: '0190c3a2-7b00-0000-0000-000000000000',
      last: '0190c3a2-7bff-ffff-ffff-ffffffffffff',
    });
    expect(idPrefixRange('0190c3a2-7b')).toEqual(idPrefixRange('0190c3a27b'));
    expect(idPrefixRange(POSITION.id)).toEqual({
      first: POSITION.id,
      last: POSITION.id,
    });
  });

  it.each(['', '-', 'xyz', '0190-c3', '0'.repeat(33)])(
    'refuses %j',
    (prefix) => {
      expect(idPrefixRange(prefix)).toBeNull();
    },
  );
});

describe('GET /v1/jobs query validation', () => {
  it('takes every filter, typed', async () => {
    const cursor = encodeCursor(POSITION);
    expect(
      await parse({
        status: 'failed',
        errorCode: 'INVALID_IMAGE',
        apiKeyId: POSITION.id,
        createdFrom: '2026-03-01T00:00:00Z',
        createdTo: '2026-03-02T00:00:00.000Z',
        stuck: 'false',
        idPrefix: '0190c3',
        cursor,
        limit: '20',
      }),
    ).toEqual(
      Object.assign(new ListJobsQuery(), {
        status: 'failed',
        errorCode: 'INVALID_IMAGE',
        apiKeyId: POSITION.id,
        createdFrom: '2026-03-01T00:00:00Z',
        createdTo: '2026-03-02T00:00:00.000Z',
        stuck: false,
        idPrefix: '0190c3',
        cursor,
        limit: 20,
      }),
    );
    expect(await parse({})).toEqual(
      Object.assign(new ListJobsQuery(), { limit: 50 }),
    );
  });

  it.each([
    [
      { cursor: 'bm90IGEgY3Vyc29y' },
      'cursor must be a nextCursor this API returned',
    ],
    [{ idPrefix: 'g123' }, 'idPrefix must be the start of a job id'],
    [{ errorCode: 'NOPE' }, 'errorCode must be one of the following values'],
    [{ apiKeyId: 'key-1' }, 'apiKeyId must be a UUID'],
    [
      { createdFrom: 'yesterday' },
      'createdFrom must be a valid ISO 8601 date string',
    ],
    [
      { createdTo: '2026-02-30T00:00:00Z' },
      'createdTo must be a valid ISO 8601',
    ],
    [{ stuck: 'yes' }, 'stuck must be a boolean value'],
    [{ limit: '501' }, 'limit must not be greater than 500'],
    [{ offset: '100' }, 'property offset should not exist'],
  ])('refuses %j naming the parameter', async (query, message) => {
    const problems = await parse(query);
    expect(problems).toEqual([expect.stringContaining(message)]);
  });
});
