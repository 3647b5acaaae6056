import * as jobs from './001-jobs';
import * as idempotencyKeys from './002-idempotency-keys';
import * as jobOutputs from './003-job-outputs';
import * as idempotencyConfirmed from './004-idempotency-confirmed';
import * as retries from './005-retries';
import * as workers from './006-workers';
import * as apiKeys from './007-api-keys';
import * as auditLog from './008-audit-log';
import * as deliveryBookkeeping from './009-delivery-bookkeeping';
import * as retentionQuotas from './010-retention-quotas';
import * as raiseFunction from './011-raise-function';
import * as outputChecksums from './012-output-checksums';
import * as deliveries from './013-deliveries';
import * as traceIds from './014-trace-ids';
import * as jobBrowserIndexes from './015-job-browser-indexes';

/**
 * Every migration, in the order applied. Append; never edit one that has
 * shipped.
 */
export const MIGRATIONS: Array<{ name: string; sql: string }> = [
  jobs,
  idempotencyKeys,
  jobOutputs,
  idempotencyConfirmed,
  retries,
  workers,
  apiKeys,
  auditLog,
  deliveryBookkeeping,
  retentionQuotas,
  raiseFunction,
  outputChecksums,
  deliveries,
  traceIds,
  jobBrowserIndexes,
];
