export const name = '011-raise-function';

export const sql = `
CREATE FUNCTION pipeline_raise(errcode text, message text) RETURNS boolean LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  RAISE EXCEPTION USING ERRCODE = errcode, MESSAGE = message;
END
$$;
COMMENT ON FUNCTION pipeline_raise(text, text) IS 'Fails the statement that calls it with the given SQLSTATE: a statement that finds its assumption wrong (the results writer''s batch of events not all new) undoes itself, and the caller takes the slower path.';
`;
