-- The sandboxd extension: sandboxd.python(), Kusto's `evaluate python()` over a query's rows.
\echo Use "CREATE EXTENSION sandboxd" to load this file. \quit

-- Runs `script` in a sandbox of the sandboxd daemon (GUC sandboxd.socket) over the rows of
-- `input_query` (the DataFrame `df`); the script's `result` DataFrame, shaped by
-- `output_schema` (typeof(...)), comes back as rows, declared with AS t(name type, ...).
-- `params` becomes the script's `kargs`; `artifacts` is {"name": "URL"}; `image` NULL is the
-- daemon's default image. Not STRICT: `image` may be NULL.
CREATE FUNCTION @extschema@.python(output_schema text, script text, input_query text,
                                   params jsonb DEFAULT '{}', artifacts jsonb DEFAULT '{}',
                                   image text DEFAULT NULL)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'sandboxd_python'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

-- Granted per role by an administrator (GRANT EXECUTE ... TO role): the function spends the
-- daemon's sandboxes, and the input query runs as the caller.
REVOKE ALL ON FUNCTION @extschema@.python(text, text, text, jsonb, jsonb, text) FROM PUBLIC;
