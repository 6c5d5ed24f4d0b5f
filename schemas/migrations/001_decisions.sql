-- Chaperone audit log: one row per moderation decision, append-only.
--
-- Every request read from the input topic gets exactly one row here, keyed by request_id,
-- written before its result (or DLQ message) is published. The row keeps the exact bytes that
-- were published and the topic they went to, so a redelivered request republishes the
-- identical message instead of being generated again.
--
-- A message whose request_id cannot be read (bad JSON, invalid UTF-8, missing field, ...) is
-- recorded under the synthetic id 'kafka:<topic>:<partition>:<offset>' of its position in the
-- input topic (request_id_synthetic = true): deterministic, so a redelivery of the same broken
-- message finds the same row.

-- Roles are cluster-wide and created without LOGIN: a deployment grants LOGIN (and a password)
-- to the role its worker or analysts use, or grants the role to a login role. Two migrators in
-- different databases may race to create them, hence the exception handlers.
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'chaperone_worker') THEN
        BEGIN
            CREATE ROLE chaperone_worker NOLOGIN;
        EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
        END;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'chaperone_analyst') THEN
        BEGIN
            CREATE ROLE chaperone_analyst NOLOGIN;
        EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
        END;
    END IF;
END
$$;

CREATE TABLE decisions (
    id                   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    request_id           text NOT NULL UNIQUE CHECK (request_id <> ''),
    request_id_synthetic boolean NOT NULL DEFAULT false,
    -- NULL only for rejected messages whose tenant could not be read.
    tenant               text,
    decided_at           timestamptz NOT NULL DEFAULT now(),
    decision             text NOT NULL CHECK (decision IN ('allow', 'censor', 'block', 'rejected')),
    -- JSON array of reasons (codes and messages) behind the decision.
    reasons              jsonb NOT NULL DEFAULT '[]'::jsonb,
    prompt               text,
    negative_prompt      text,
    -- The mitigations applied (requested and forced by policy), as a JSON object.
    mitigations          jsonb,
    -- Harm scores (prompt and image, per detector), as a JSON object.
    scores               jsonb,
    image_sha256         text CHECK (image_sha256 ~ '^[0-9a-f]{64}$'),
    model_sha256         text CHECK (model_sha256 ~ '^[0-9a-f]{64}$'),
    overlay_sha256       text CHECK (overlay_sha256 ~ '^[0-9a-f]{64}$'),
    worker_id            text NOT NULL,
    source_topic         text NOT NULL,
    source_partition     integer NOT NULL CHECK (source_partition >= 0),
    source_offset        bigint NOT NULL CHECK (source_offset >= 0),
    -- Where the outcome was published (the results topic, or the DLQ) and its exact bytes.
    published_topic      text NOT NULL,
    published_payload    bytea NOT NULL,
    -- The request exactly as consumed; kept for rejected requests (required for them).
    raw_request          bytea,
    CONSTRAINT decisions_tenant_known CHECK (tenant IS NOT NULL OR decision = 'rejected'),
    CONSTRAINT decisions_rejected_keep_request CHECK (raw_request IS NOT NULL OR decision <> 'rejected')
);

COMMENT ON TABLE decisions IS
    'Append-only audit log of moderation decisions, one row per request_id; '
    'synthetic ids kafka:<topic>:<partition>:<offset> for unreadable messages.';

CREATE INDEX decisions_tenant_decided_at ON decisions (tenant, decided_at DESC);
CREATE INDEX decisions_decision_decided_at ON decisions (decision, decided_at DESC);
CREATE INDEX decisions_decided_at ON decisions (decided_at DESC);
CREATE INDEX decisions_source ON decisions (source_topic, source_partition, source_offset);

-- Append-only, twice over: privileges are revoked below, and these triggers stop even the
-- table's owner from changing or removing rows.
CREATE FUNCTION decisions_refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the audit table % is append-only: % is not allowed', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;

CREATE TRIGGER decisions_no_update_delete
    BEFORE UPDATE OR DELETE ON decisions
    FOR EACH ROW EXECUTE FUNCTION decisions_refuse_change();

CREATE TRIGGER decisions_no_truncate
    BEFORE TRUNCATE ON decisions
    FOR EACH STATEMENT EXECUTE FUNCTION decisions_refuse_change();

-- The common questions, for analysts and `chaperone audit query`.
CREATE VIEW audit_decisions AS
SELECT
    request_id,
    request_id_synthetic,
    tenant,
    decided_at,
    decision,
    reasons,
    prompt,
    negative_prompt,
    mitigations,
    scores,
    image_sha256,
    model_sha256,
    overlay_sha256,
    worker_id,
    source_topic     AS topic,
    source_partition AS "partition",
    source_offset    AS "offset",
    published_topic
FROM decisions;

CREATE VIEW audit_summary AS
SELECT
    tenant,
    decision,
    count(*)         AS decisions,
    min(decided_at)  AS first_decided_at,
    max(decided_at)  AS last_decided_at
FROM decisions
GROUP BY tenant, decision;

-- Least privilege. The worker inserts and reads its rows; analysts read the views only.
REVOKE ALL ON decisions, audit_decisions, audit_summary, schema_migrations FROM PUBLIC;
REVOKE ALL ON decisions, audit_decisions, audit_summary FROM chaperone_worker, chaperone_analyst;
GRANT SELECT, INSERT ON decisions TO chaperone_worker;
GRANT SELECT ON audit_decisions, audit_summary TO chaperone_worker, chaperone_analyst;
-- The worker checks the schema version at start.
GRANT SELECT ON schema_migrations TO chaperone_worker;
