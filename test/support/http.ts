// Reading the producer's answers in the tests: each body as the type the caller
// expects of it.
import { JobView } from '@pipeline/contracts';

/**
 * A refused request's answer, every route's (the producer's
 * ApiExceptionFilter).
 */
export interface ErrorBody {
  statusCode: number;
  error: string;
  message: string | string[];
  /** Outputs the retention sweep removed (410 Gone): when. */
  expiredAt?: string;
}

/**
 * A response's JSON body as T: the contracts' views (JobView, CreatedApiKey
 * ...) or ErrorBody.
 */
export function readBody<T = unknown>(response: Response): Promise<T> {
  return response.json() as Promise<T>;
}

/** A refused request's answer. */
export function readError(response: Response): Promise<ErrorBody> {
  return readBody<ErrorBody>(response);
}

/** The answer to a submitted job (202). */
export type AcceptedJob = Pick<JobView, 'id' | 'status'>;
