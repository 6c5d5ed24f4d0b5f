-- 008: harm amplification by prompt group (disparate impact as Hao et al. measure it: rates for
-- prompts that name a gender, or any group the policy defines by prompt terms).
--
-- The worker records, beside the `harm_amplification` scores, one `prompt_group` score per
-- group value the prompt names (label `<group>=<value>`, score 1; the policy's
-- `amplification.prompt_groups`). A prompt may name several values of a group, or none.

-- Amplification rate per tenant, prompt group, value and harm type.
CREATE VIEW audit_amplification_by_prompt_group AS
SELECT
    a.tenant,
    split_part(g.label, '=', 1)                AS prompt_group,
    substr(g.label, length(split_part(g.label, '=', 1)) + 2) AS value,
    a.harm_type,
    count(*)                                   AS requests,
    count(*) FILTER (WHERE a.amplified)        AS amplified,
    avg(CASE WHEN a.amplified THEN 1.0 ELSE 0.0 END)::double precision AS amplification_rate,
    avg(a.amplification)                       AS mean_amplification
FROM audit_amplification a
JOIN decisions d ON d.request_id = a.request_id
CROSS JOIN LATERAL (
    SELECT DISTINCT s ->> 'label' AS label
    FROM jsonb_array_elements(CASE WHEN jsonb_typeof(d.scores) = 'array' THEN d.scores ELSE '[]'::jsonb END) s
    WHERE s ->> 'scorer' = 'prompt_group' AND position('=' IN s ->> 'label') > 1
) g
GROUP BY a.tenant, prompt_group, value, a.harm_type;

REVOKE ALL ON audit_amplification_by_prompt_group FROM PUBLIC;
GRANT SELECT ON audit_amplification_by_prompt_group TO chaperone_worker, chaperone_analyst;
