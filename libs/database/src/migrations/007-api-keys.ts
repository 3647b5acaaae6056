import { BOOTSTRAP_ADMIN_KEY_ID } from '../api-keys.repository';

export const name = '007-api-keys';

export const sql = `
CREATE TABLE api_keys (
  id                  uuid PRIMARY KEY,
  name                text NOT NULL,
  scopes              text[] NOT NULL CHECK (scopes <@ ARRAY['jobs:write', 'jobs:read', 'admin'] AND cardinality(scopes) > 0),
  lookup_id           text UNIQUE,
  key_hash            bytea,
  requests_per_window integer,
  jobs_in_flight      integer,
  created_at          timestamptz NOT NULL DEFAULT now(),
  last_used_at        timestamptz,
  revoked_at          timestamptz,
  expires_at          timestamptz,
  rotated_at          timestamptz,
  previous_lookup_id  text UNIQUE,
  previous_key_hash   bytea,
  previous_expires_at timestamptz,
  CHECK ((lookup_id IS NULL) = (key_hash IS NULL)),
  CHECK ((previous_lookup_id IS NULL) = (previous_key_hash IS NULL) AND (previous_lookup_id IS NULL) = (previous_expires_at IS NULL))
);
COMMENT ON TABLE api_keys IS 'API keys: only a SHA-256 digest of each key is kept. The row without a lookup id stands for ADMIN_API_KEY, which is checked against the environment.';
COMMENT ON COLUMN api_keys.lookup_id IS 'The public part of a key (ipk_<lookup id>_<secret>), to find its row before comparing digests.';
COMMENT ON COLUMN api_keys.last_used_at IS 'The start of the last rate-limit window in which the key was used.';
COMMENT ON COLUMN api_keys.expires_at IS 'When the key stops working; null: never.';
COMMENT ON COLUMN api_keys.previous_lookup_id IS 'The secret a rotation replaced, which keeps working until previous_expires_at, so that clients can switch over.';
INSERT INTO api_keys (id, name, scopes) VALUES ('${BOOTSTRAP_ADMIN_KEY_ID}', 'bootstrap admin (ADMIN_API_KEY)', ARRAY['admin']);

-- Requests per key per window, shared by every producer replica. Unlogged: after a crash the
-- counts start again from zero, which is harmless for a window of a minute.
CREATE UNLOGGED TABLE api_key_usage (
  api_key_id   uuid NOT NULL REFERENCES api_keys (id),
  window_start timestamptz NOT NULL,
  requests     integer NOT NULL,
  PRIMARY KEY (api_key_id, window_start)
);

ALTER TABLE jobs ADD COLUMN api_key_id uuid REFERENCES api_keys (id);
COMMENT ON COLUMN jobs.api_key_id IS 'The key that submitted the job: only it (and admin keys) can see the job. Null for jobs from before keys.';
CREATE INDEX jobs_api_key_created_at_idx ON jobs (api_key_id, created_at DESC);
CREATE INDEX jobs_api_key_in_flight_idx ON jobs (api_key_id) WHERE status IN ('queued', 'processing');

-- An Idempotency-Key is the client's: two keys may use the same one for different jobs.
DROP INDEX jobs_idempotency_key_idx;
CREATE UNIQUE INDEX jobs_idempotency_key_idx ON jobs (api_key_id, idempotency_key) WHERE idempotency_key IS NOT NULL;
`;
