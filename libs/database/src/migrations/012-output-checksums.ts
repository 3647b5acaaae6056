export const name = '012-output-checksums';

export const sql = `
ALTER TABLE job_outputs ADD COLUMN sha256 text;
COMMENT ON COLUMN job_outputs.sha256 IS 'SHA-256 (hex) of the output''s bytes as the worker stored them; a download is checked against it. Null for outputs recorded before it was kept.';
`;
