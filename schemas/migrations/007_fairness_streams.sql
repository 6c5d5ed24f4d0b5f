-- 007: Fair Diffusion over each tenant's stream of requests.
--
-- * fairness_streams: per tenant, attribute family and target proportions (`target`, e.g.
--   `gender:female=0.5,male=0.5`), how many requests got each value. The next request gets the
--   value furthest behind its share (FairnessStream in Contracts), so every stretch of a
--   tenant's requests meets the proportions as closely as counts allow, whatever seeds they
--   carry. Shared by all workers (a row lock orders them) and kept across restarts.
-- * fairness_assignments: the value each request id got and its position in the stream, so a
--   redelivered request is steered as before. Rows are never changed.
-- The worker reads and writes both; analysts read them.

CREATE TABLE fairness_streams (
    tenant      text NOT NULL,
    family      text NOT NULL,
    target      text NOT NULL,
    counts      jsonb NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(counts) = 'object'),
    assigned    bigint NOT NULL DEFAULT 0 CHECK (assigned >= 0),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant, family, target)
);

COMMENT ON TABLE fairness_streams IS
    'Fair Diffusion: per tenant, family and target proportions, the number of requests assigned each value.';

CREATE TABLE fairness_assignments (
    request_id   text PRIMARY KEY,
    tenant       text NOT NULL,
    family       text NOT NULL,
    target       text NOT NULL,
    value        text NOT NULL,
    stream_index bigint NOT NULL CHECK (stream_index >= 0),
    assigned_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant, family, target, stream_index)
);

COMMENT ON TABLE fairness_assignments IS
    'Fair Diffusion: the value each request was assigned and its 0-based position in its tenant''s stream.';

CREATE TRIGGER fairness_assignments_no_update
    BEFORE UPDATE ON fairness_assignments
    FOR EACH ROW EXECUTE FUNCTION decisions_refuse_change();

REVOKE ALL ON fairness_streams, fairness_assignments FROM PUBLIC;
GRANT SELECT, INSERT, UPDATE ON fairness_streams TO chaperone_worker;
GRANT SELECT, INSERT ON fairness_assignments TO chaperone_worker;
GRANT SELECT ON fairness_streams, fairness_assignments TO chaperone_analyst;
