import { JOB_STATUSES, JobErrorCode, JobStatus } from '@pipeline/contracts';
import { JobPosition } from '@pipeline/database';
import { Transform, Type } from 'class-transformer';
import {
  IsBoolean,
  IsIn,
  IsInt,
  IsISO8601,
  IsOptional,
  IsUUID,
  Max,
  Min,
  ValidateBy,
} from 'class-validator';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
/** A creation time as list positions carry it: UTC, to the microsecond. */
const POSITION_AT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/;

/**
 * The cursor of the page that starts past `position`: opaque to clients
 * (base64url of the job's creation time and id).
 */
export function encodeCursor(position: JobPosition): string {
  return Buffer.from(`${position.createdAt} ${position.id}`).toString(
    'base64url',
  );
}

/** The position a cursor names, or null when it is not one this API made. */
export function decodeCursor(cursor: string): JobPosition | null {
  if (!/^[A-Za-z0-9_-]{1,100}$/.test(cursor)) return null;
  const [createdAt, id, ...rest] = Buffer.from(cursor, 'base64url')
    .toString('utf8')
    .split(' ');
  if (rest.length > 0 || !POSITION_AT.test(createdAt) || !UUID.test(id ?? ''))
    return null;
  if (Number.isNaN(Date.parse(createdAt))) return null;
  return { createdAt, id };
}

/**
 * The ids that start with `prefix` (hex digits of a job id, dashes optional),
 * as the first and last of a range; null when it is not the start of an id.
 */
export function idPrefixRange(
  prefix: string,
): { first: string; last: string } | null {
  const digits = prefix.toLowerCase();
  const hex = digits.replace(/-/g, '');
  if (!/^[0-9a-f-]+$/.test(digits) || hex.length === 0 || hex.length > 32)
    return null;
  const asId = (filler: string) => {
    const full = hex.padEnd(32, filler);
    return [8, 12, 16, 20].reduceRight(
      (id, at) => `${id.slice(0, at)}-${id.slice(at)}`,
      full,
    );
  };
  const first = asId('0');
  // Dashes, where given, must sit where an id has them.
  if (!first.startsWith(digits) && digits.includes('-')) return null;
  return { first, last: asId('f') };
}

const ERROR_CODES = Object.values(JobErrorCode);

/** A query parameter that must be true or false (400 otherwise). */
const BooleanParam = () =>
  Transform(({ value }: { value: unknown }) =>
    value === 'true' ? true : value === 'false' ? false : value,
  );

/** A query parameter checked by `accepts`, refused with `message`. */
const Checked = (
  name: string,
  accepts: (value: string) => boolean,
  message: string,
) =>
  ValidateBy({
    name,
    validator: {
      validate: (value: unknown) => typeof value === 'string' && accepts(value),
      defaultMessage: () => message,
    },
  });

/** `GET /v1/jobs`: which jobs a page lists, and where it starts. */
export class ListJobsQuery {
  @IsOptional() @IsIn(JOB_STATUSES) status?: JobStatus;
  @IsOptional() @IsIn(ERROR_CODES) errorCode?: string;
  /** The key that submitted them; a key other than the caller's: admin only. */
  @IsOptional() @IsUUID() apiKeyId?: string;
  @IsOptional() @IsISO8601({ strict: true }) createdFrom?: string;
  @IsOptional() @IsISO8601({ strict: true }) createdTo?: string;
  /** Only stuck jobs: flagged, or processing for longer than STUCK_AFTER_S. */
  @IsOptional() @BooleanParam() @IsBoolean() stuck?: boolean;
  @IsOptional()
  @Checked(
    'isIdPrefix',
    (value) => idPrefixRange(value) !== null,
    'idPrefix must be the start of a job id: up to 32 hex digits, dashes where an id has them',
  )
  idPrefix?: string;
  @IsOptional()
  @Checked(
    'isJobCursor',
    (value) => decodeCursor(value) !== null,
    'cursor must be a nextCursor this API returned, unchanged',
  )
  cursor?: string;
  @IsOptional() @Type(() => Number) @IsInt() @Min(1) @Max(500) limit = 50;
}

/**
 * The Link header of the next page: the request's own path and query, its
 * cursor replaced.
 */
export function nextPageLink(requestUrl: string, cursor: string): string {
  const url = new URL(requestUrl, 'http://localhost');
  url.searchParams.set('cursor', cursor);
  return `<${url.pathname}${url.search}>; rel="next"`;
}
