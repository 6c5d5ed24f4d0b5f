-- 002: the attributes a request carries, and harm amplification aggregated by tenant and by
-- attribute (the first paper's measure: the image's harm beyond what the prompt asked for).

-- Free-form string labels from the request's `attributes` (NULL when it carries none).
ALTER TABLE decisions ADD COLUMN attributes jsonb
    CONSTRAINT decisions_attributes_object CHECK (attributes IS NULL OR jsonb_typeof(attributes) = 'object');

-- The same view as before, with the attributes as its last column.
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
    attributes
FROM decisions;

-- One row per generated request and harm type the worker measured amplification for:
-- `amplification` = image harm − prompt harm; `amplified` = the image's harm exceeded the
-- prompt's by more than the threshold τ (score `<type>.amplified` = 1).
CREATE VIEW audit_amplification AS
SELECT
    d.request_id,
    d.tenant,
    d.decided_at,
    d.decision,
    a.harm_type,
    a.amplification,
    coalesce(f.amplified, false)                      AS amplified,
    coalesce((d.mitigations ->> 'safegen')::boolean, false) AS safegen,
    coalesce(d.attributes, '{}'::jsonb)               AS attributes
FROM decisions d
CROSS JOIN LATERAL (
    SELECT s ->> 'label' AS harm_type, (s ->> 'score')::double precision AS amplification
    FROM jsonb_array_elements(CASE WHEN jsonb_typeof(d.scores) = 'array' THEN d.scores ELSE '[]'::jsonb END) s
    WHERE s ->> 'scorer' = 'harm_amplification' AND s ->> 'label' NOT LIKE '%.amplified'
) a
LEFT JOIN LATERAL (
    SELECT bool_or((s ->> 'score')::double precision = 1) AS amplified
    FROM jsonb_array_elements(CASE WHEN jsonb_typeof(d.scores) = 'array' THEN d.scores ELSE '[]'::jsonb END) s
    WHERE s ->> 'scorer' = 'harm_amplification' AND s ->> 'label' = a.harm_type || '.amplified'
) f ON true
WHERE d.decision <> 'rejected';

-- Amplification rate per tenant, harm type and SafeGen on/off.
CREATE VIEW audit_amplification_by_tenant AS
SELECT
    tenant,
    harm_type,
    safegen,
    count(*)                                   AS requests,
    count(*) FILTER (WHERE amplified)          AS amplified,
    avg(CASE WHEN amplified THEN 1.0 ELSE 0.0 END)::double precision AS amplification_rate,
    avg(amplification)                         AS mean_amplification,
    max(decided_at)                            AS last_decided_at
FROM audit_amplification
GROUP BY tenant, harm_type, safegen;

-- Amplification rate per tenant, request attribute (key and value) and harm type.
CREATE VIEW audit_amplification_by_attribute AS
SELECT
    a.tenant,
    kv.key                                     AS attribute,
    kv.value                                   AS value,
    a.harm_type,
    count(*)                                   AS requests,
    count(*) FILTER (WHERE a.amplified)        AS amplified,
    avg(CASE WHEN a.amplified THEN 1.0 ELSE 0.0 END)::double precision AS amplification_rate,
    avg(a.amplification)                       AS mean_amplification
FROM audit_amplification a
CROSS JOIN LATERAL jsonb_each_text(a.attributes) kv
GROUP BY a.tenant, kv.key, kv.value, a.harm_type;

REVOKE ALL ON audit_amplification, audit_amplification_by_tenant, audit_amplification_by_attribute FROM PUBLIC;
GRANT SELECT ON audit_amplification, audit_amplification_by_tenant, audit_amplification_by_attribute
    TO chaperone_worker, chaperone_analyst;
