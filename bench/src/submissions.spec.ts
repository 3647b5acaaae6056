import { refusedStatuses, submissions } from './submissions';

const bodies = [
  '{"source":{"path":"a.jpg"}}',
  '{"source":{"path":"b.jpg"}}',
  '{"source":{"path":"c.jpg"}}',
];

describe('submissions', () => {
  it('sends one job a request to POST /v1/jobs, cycling through the bodies', () => {
    expect(submissions(bodies, 4, 1)).toEqual([
      { path: '/v1/jobs', body: bodies[0], jobs: 1 },
      { path: '/v1/jobs', body: bodies[1], jobs: 1 },
      { path: '/v1/jobs', body: bodies[2], jobs: 1 },
      { path: '/v1/jobs', body: bodies[0], jobs: 1 },
    ]);
  });

  it('sends N jobs a request to POST /v1/jobs/batch, the last batch holding what is left', () => {
    const requests = submissions(bodies, 5, 2);
    expect(requests.map((request) => [request.path, request.jobs])).toEqual([
      ['/v1/jobs/batch', 2],
      ['/v1/jobs/batch', 2],
      ['/v1/jobs/batch', 1],
    ]);
    expect(JSON.parse(requests[1].body)).toEqual({
      jobs: [JSON.parse(bodies[2]), JSON.parse(bodies[0])],
    });
    expect(JSON.parse(requests[2].body)).toEqual({
      jobs: [JSON.parse(bodies[1])],
    });
  });

  it('uses the batch endpoint even when the jobs fit one request', () => {
    expect(submissions(bodies, 3, 100)).toEqual([
      {
        path: '/v1/jobs/batch',
        body: `{"jobs":[${bodies.join(',')}]}`,
        jobs: 3,
      },
    ]);
  });

  it('refuses a count of jobs per request below one', () => {
    expect(() => submissions(bodies, 3, 0)).toThrow(
      'jobs per request must be a positive integer, got 0',
    );
  });
});

describe('refusedStatuses', () => {
  const single = { path: '/v1/jobs' as const, body: '{}', jobs: 1 };
  const batch = { path: '/v1/jobs/batch' as const, body: '{}', jobs: 3 };

  it('counts a single job refused unless it was answered 202', () => {
    expect(
      refusedStatuses(single, 202, '{"id":"x","status":"queued"}'),
    ).toEqual([]);
    expect(refusedStatuses(single, 429, '{}')).toEqual([429]);
  });

  it('counts every job of a batch the request of which failed', () => {
    expect(
      refusedStatuses(batch, 400, '{"message":"jobs must hold 1 to 100 jobs"}'),
    ).toEqual([400, 400, 400]);
  });

  it("counts each item of an accepted batch that came back with an error, with the item's status", () => {
    const answer = {
      jobs: [
        { id: 'a', status: 'queued' },
        { error: { statusCode: 400, message: ['source.path: no such file'] } },
        { id: 'c', status: 'queued' },
      ],
    };
    expect(refusedStatuses(batch, 200, JSON.stringify(answer))).toEqual([400]);
  });

  it('refuses an answer that does not list one item per job', () => {
    expect(() =>
      refusedStatuses(batch, 200, '{"jobs":[{"id":"a","status":"queued"}]}'),
    ).toThrow('a batch of 3 jobs was answered with 1 items');
  });
});
