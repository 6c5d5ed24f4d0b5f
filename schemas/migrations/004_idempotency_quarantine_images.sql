-- 004: what a worker needs to survive any message a producer can send.
--
-- * request_sha256: the SHA-256 of the message value as consumed. A redelivery of the same
--   bytes republishes the stored result; a different message under an existing request_id is
--   rejected as duplicate_request_id (stored under the synthetic id of its own position).
--   NULL on rows written before this migration (they are republished as before).
-- * delivery_attempts: how often generation of a message started without ending (the worker
--   crashed, was killed or ran out of memory on it). The worker increments the count before it
--   generates and deletes it once the audit row is written; on the limits.max_attempts-th
--   start the message is quarantined as poison instead of being generated again.
-- * images: the content-addressed image store (claim check) for results whose image is not
--   carried inline; the result names it by image_ref and image_sha256.

ALTER TABLE decisions ADD COLUMN request_sha256 text
    CONSTRAINT decisions_request_sha256_hex CHECK (request_sha256 ~ '^[0-9a-f]{64}$');

CREATE TABLE delivery_attempts (
    source_topic     text NOT NULL,
    source_partition integer NOT NULL CHECK (source_partition >= 0),
    source_offset    bigint NOT NULL CHECK (source_offset >= 0),
    attempts         integer NOT NULL CHECK (attempts >= 0),
    first_started_at timestamptz NOT NULL DEFAULT now(),
    last_started_at  timestamptz NOT NULL DEFAULT now(),
    last_worker_id   text NOT NULL,
    PRIMARY KEY (source_topic, source_partition, source_offset)
);

COMMENT ON TABLE delivery_attempts IS
    'Processing starts per input position that have not ended in an audit row; poison quarantine.';

CREATE TABLE images (
    sha256     text PRIMARY KEY CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    media_type text NOT NULL DEFAULT 'image/png',
    bytes      bytea NOT NULL,
    stored_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT images_content_addressed CHECK (sha256 = encode(sha256(bytes), 'hex'))
);

COMMENT ON TABLE images IS
    'Published images kept by content (SHA-256) for results that carry image_ref instead of the bytes.';

-- Images are content-addressed, so they are never changed: the same triggers as decisions.
CREATE TRIGGER images_no_update_delete
    BEFORE UPDATE OR DELETE ON images
    FOR EACH ROW EXECUTE FUNCTION decisions_refuse_change();

CREATE OR REPLACE VIEW audit_decisions AS
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
    published_topic,
    attributes,
    request_sha256
FROM decisions;

-- One row per generated request and harm type the worker measured amplification for:
-- `amplification` = image harm − prompt harm; `amplified` = the image's harm exceeded the

REVOKE ALL ON delivery_attempts, images FROM PUBLIC;
GRANT SELECT, INSERT, UPDATE, DELETE ON delivery_attempts TO chaperone_worker;
GRANT SELECT, INSERT ON images TO chaperone_worker;
GRANT SELECT ON delivery_attempts, images TO chaperone_analyst;
