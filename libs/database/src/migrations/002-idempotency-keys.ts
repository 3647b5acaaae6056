export const name = '002-idempotency-keys';

export const sql = `
ALTER TABLE jobs ADD COLUMN idempotency_key text, ADD COLUMN request_hash text;
COMMENT ON COLUMN jobs.idempotency_key IS 'The client''s Idempotency-Key: a repeated submission returns this job.';
COMMENT ON COLUMN jobs.request_hash IS 'Digest of the request, to tell a true repeat from a different request under the same key.';
CREATE UNIQUE INDEX jobs_idempotency_key_idx ON jobs (idempotency_key) WHERE idempotency_key IS NOT NULL;
`;
