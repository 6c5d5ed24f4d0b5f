-- 003: the tries of a request (escalation ladder and early abort) kept in its one audit row,
-- and views on tries and on over-moderation of benign prompts about people.

-- Every try of a request whose tenant escalates or aborts early, in order: a JSON array of
-- {"try", "step", "mitigations", "scores", "decision", "reasons", "duration_ms",
--  "image_sha256", "steps_total", "steps_run", "early_abort": {"at_step", "steps_saved"},
--  "published"}. NULL for requests of tenants without either (a single, plain try).
ALTER TABLE decisions ADD COLUMN tries jsonb
    CONSTRAINT decisions_tries_array CHECK (tries IS NULL OR jsonb_typeof(tries) = 'array');

-- One row per try.
CREATE VIEW audit_tries AS
SELECT
    d.request_id,
    d.tenant,
    d.decided_at,
    d.decision                                             AS request_decision,
    (t ->> 'try')::integer                                 AS try,
    t ->> 'step'                                           AS step,
    t ->> 'decision'                                       AS decision,
    (t ->> 'duration_ms')::double precision                AS duration_ms,
    coalesce((t -> 'mitigations' ->> 'safegen')::boolean, false) AS safegen,
    t -> 'mitigations' -> 'safety_guidance' ->> 'preset'   AS sld_preset,
    (t ->> 'steps_total')::integer                         AS steps_total,
    (t ->> 'steps_run')::integer                           AS steps_run,
    (t -> 'early_abort' ->> 'at_step')::integer            AS early_abort_at_step,
    coalesce((t -> 'early_abort' ->> 'steps_saved')::integer, 0) AS steps_saved,
    coalesce((t ->> 'published')::boolean, false)          AS published,
    t -> 'scores'                                          AS scores,
    t -> 'reasons'                                         AS reasons
FROM decisions d
CROSS JOIN LATERAL jsonb_array_elements(d.tries) t
WHERE d.tries IS NOT NULL;

-- Escalation per tenant: requests, tries, how many the ladder rescued, early aborts.
CREATE VIEW audit_escalation_by_tenant AS
SELECT
    d.tenant,
    count(*)                                                              AS requests,
    sum(jsonb_array_length(d.tries))::bigint                              AS tries,
    count(*) FILTER (WHERE (d.tries -> 0 ->> 'decision') = 'block')       AS first_try_blocked,
    count(*) FILTER (WHERE jsonb_array_length(d.tries) > 1 AND d.decision <> 'block') AS rescued,
    count(*) FILTER (WHERE d.decision = 'block')                          AS blocked,
    sum(a.early_aborts)::bigint                                           AS early_aborts,
    sum(a.steps_saved)::bigint                                            AS steps_saved
FROM decisions d
CROSS JOIN LATERAL (
    SELECT count(*) FILTER (WHERE t ? 'early_abort')                      AS early_aborts,
           coalesce(sum((t -> 'early_abort' ->> 'steps_saved')::integer), 0)::bigint AS steps_saved
    FROM jsonb_array_elements(d.tries) t
) a
WHERE d.tries IS NOT NULL
GROUP BY d.tenant;

-- Over-moderation: generated requests with a benign prompt (highest prompt-harm score below
-- 0.5, or none) that is about people (a person word in the prompt), and what happened to them.
CREATE VIEW audit_benign_people AS
SELECT
    d.request_id,
    d.tenant,
    d.decided_at,
    d.decision,
    d.prompt,
    coalesce((d.mitigations ->> 'safegen')::boolean, false) AS safegen,
    coalesce(p.prompt_harm, 0)                               AS prompt_harm,
    d.decision IN ('censor', 'block')                        AS over_moderated
FROM decisions d
LEFT JOIN LATERAL (
    SELECT max((s ->> 'score')::double precision) AS prompt_harm
    FROM jsonb_array_elements(CASE WHEN jsonb_typeof(d.scores) = 'array' THEN d.scores ELSE '[]'::jsonb END) s
    WHERE s ->> 'scorer' = 'prompt_harm' AND coalesce(s ->> 'subject', 'prompt') = 'prompt'
) p ON true
WHERE d.decision <> 'rejected'
  AND coalesce(p.prompt_harm, 0) < 0.5
  AND d.prompt ~* '\m(person|people|man|men|woman|women|boy|boys|girl|girls|child|children|kid|kids|baby|babies|adult|adults|lady|ladies|gentleman|gentlemen|guy|guys|figure|figures|portrait|face|faces|doctor|doctors|nurse|nurses|teacher|teachers|worker|workers|student|students|athlete|athletes|chef|chefs|firefighter|firefighters|scientist|scientists|couple|family|crowd)\M';

-- Per tenant and SafeGen on/off: benign prompts about people, and how many were censored or blocked.
CREATE VIEW audit_over_moderation AS
SELECT
    tenant,
    safegen,
    count(*)                                           AS benign_people_requests,
    count(*) FILTER (WHERE decision = 'censor')        AS censored,
    count(*) FILTER (WHERE decision = 'block')         AS blocked,
    count(*) FILTER (WHERE over_moderated)             AS over_moderated,
    avg(CASE WHEN over_moderated THEN 1.0 ELSE 0.0 END)::double precision AS over_moderation_rate,
    max(decided_at)                                    AS last_decided_at
FROM audit_benign_people
GROUP BY tenant, safegen;

REVOKE ALL ON audit_tries, audit_escalation_by_tenant, audit_benign_people, audit_over_moderation FROM PUBLIC;
GRANT SELECT ON audit_tries, audit_escalation_by_tenant, audit_benign_people, audit_over_moderation
    TO chaperone_worker, chaperone_analyst;
