/**
 * The requests the bench's throughput phase sends, one job or a batch each:
 * pure logic.
 */

export interface Submission {
  path: '/v1/jobs' | '/v1/jobs/batch';
  body: string;
  /** The jobs this request carries. */
  jobs: number;
}

/**
 * The requests that submit `jobs` jobs, `perRequest` to a request, cycling
 * through the JSON bodies of single jobs: POST /v1/jobs for one a request, POST
 * /v1/jobs/batch otherwise (the last batch holds what is left).
 */
export function submissions(
  jobBodies: readonly string[],
  jobs: number,
  perRequest: number,
): Submission[] {
  if (jobBodies.length === 0) throw new Error('submissions: no job bodies');
  if (!Number.isInteger(perRequest) || perRequest < 1)
    throw new Error(
      `submissions: jobs per request must be a positive integer, got ${perRequest}`,
    );
  const requests: Submission[] = [];
  for (let first = 0; first < jobs; first += perRequest) {
    const count = Math.min(perRequest, jobs - first);
    const items = Array.from(
      { length: count },
      (_, i) => jobBodies[(first + i) % jobBodies.length],
    );
    requests.push(
      perRequest === 1
        ? { path: '/v1/jobs', body: items[0], jobs: 1 }
        : {
            path: '/v1/jobs/batch',
            body: `{"jobs":[${items.join(',')}]}`,
            jobs: count,
          },
    );
  }
  return requests;
}

/**
 * The status of each job a submission's answer refused: all of them when the
 * request itself failed, else (a batch, answered 200) each item that came back
 * with an error instead of an id.
 */
export function refusedStatuses(
  submission: Submission,
  status: number,
  body: string,
): number[] {
  const accepted = submission.path === '/v1/jobs' ? 202 : 200;
  if (status !== accepted) return Array<number>(submission.jobs).fill(status);
  if (submission.path === '/v1/jobs') return [];
  const items = (
    JSON.parse(body) as {
      jobs: ({ id: string } | { error: { statusCode: number } })[];
    }
  ).jobs;
  if (items.length !== submission.jobs)
    throw new Error(
      `a batch of ${submission.jobs} jobs was answered with ${items.length} items`,
    );
  return items.flatMap((item) =>
    'error' in item ? [item.error.statusCode] : [],
  );
}
