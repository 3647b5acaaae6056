export const name = '015-job-browser-indexes';

// The job browser pages through jobs newest first by (created_at, id), with a
// cursor instead of OFFSET: each of its filters gets an index in that order,
// so a page is one index range scan however many jobs there are. The id is the
// tie-break of jobs created in the same microsecond; the indexes it extends are
// replaced, not kept beside them.
export const sql = `
DROP INDEX jobs_created_at_idx;
CREATE INDEX jobs_created_at_id_idx ON jobs (created_at DESC, id DESC);
DROP INDEX jobs_status_created_at_idx;
CREATE INDEX jobs_status_created_at_id_idx ON jobs (status, created_at DESC, id DESC);
DROP INDEX jobs_api_key_created_at_idx;
CREATE INDEX jobs_api_key_created_at_id_idx ON jobs (api_key_id, created_at DESC, id DESC);
CREATE INDEX jobs_error_code_created_at_id_idx ON jobs (error_code, created_at DESC, id DESC) WHERE error_code IS NOT NULL;
CREATE INDEX jobs_unfinished_created_at_id_idx ON jobs (created_at DESC, id DESC) WHERE status IN ('queued', 'processing');
`;
