export const name = '008-audit-log';

export const sql = `
CREATE TABLE audit_log (
  id          bigserial PRIMARY KEY,
  at          timestamptz NOT NULL DEFAULT now(),
  api_key_id  uuid NOT NULL REFERENCES api_keys (id),
  action      text NOT NULL,
  target      text NOT NULL,
  detail      jsonb NOT NULL DEFAULT '{}',
  request_id  text NOT NULL
);
COMMENT ON TABLE audit_log IS 'Every change an admin made through the API: keys created, rotated and revoked, jobs retried, dead-letter queues replayed and purged. Written in the transaction of the change where there is one.';
CREATE INDEX audit_log_api_key_idx ON audit_log (api_key_id, id DESC);
CREATE INDEX audit_log_action_idx ON audit_log (action, id DESC);
`;
