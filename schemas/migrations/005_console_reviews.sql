-- 005: the audit console (`chaperone audit serve`): its logins and sessions, reviewers' verdicts
-- on decisions, and the views it reads.
--
-- * console_users: people who log in to the console, as `analyst` (read) or `reviewer` (read
--   and record verdicts), with a salted, iterated password hash (PBKDF2-HMAC-SHA256, written by
--   `chaperone audit user add`; the database never sees a password).
-- * console_sessions: logged-in sessions, by the SHA-256 of the session cookie (the cookie itself
--   is never stored) with the CSRF token every form of the session must return.
-- * reviews: append-only verdicts (uphold / overturn, a note, who made it) on censored or blocked
--   decisions. A verdict never changes the decision row; the latest verdict per decision feeds
--   the overturn rate per scorer and category, an estimate of false positives.
--
-- Roles (cluster-wide, NOLOGIN, like 001's): `chaperone_reviewer` reads what analysts read and
-- inserts verdicts; `chaperone_console` is the console process's role: it reads users, keeps
-- sessions, and switches to `chaperone_analyst` or `chaperone_reviewer` (SET LOCAL ROLE) for the
-- work of each request, so a page for an analyst runs with an analyst's rights only.

DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'chaperone_reviewer') THEN
        BEGIN
            CREATE ROLE chaperone_reviewer NOLOGIN;
        EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
        END;
    END IF;
    -- NOINHERIT: the console's login gets this role's own rights (logins, sessions) but not the
    -- analyst's or reviewer's, which it takes only by SET ROLE for the request in hand.
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'chaperone_console') THEN
        BEGIN
            CREATE ROLE chaperone_console NOLOGIN NOINHERIT;
        EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
        END;
    END IF;
    IF (SELECT rolinherit FROM pg_roles WHERE rolname = 'chaperone_console') THEN
        BEGIN
            ALTER ROLE chaperone_console NOINHERIT;
        EXCEPTION WHEN internal_error THEN NULL;
        END;
    END IF;
END
$$;

-- Memberships are cluster-wide too: two migrators of different databases may grant the same one
-- at once (a duplicate, or a concurrent update of the catalog row), which is the same outcome.
DO $$
DECLARE
    pair text[];
BEGIN
    FOREACH pair SLICE 1 IN ARRAY ARRAY[
        ARRAY['chaperone_analyst', 'chaperone_reviewer'],
        ARRAY['chaperone_reviewer', 'chaperone_console']
    ] LOOP
        IF NOT pg_has_role(pair[2], pair[1], 'MEMBER') THEN
            BEGIN
                EXECUTE format('GRANT %I TO %I', pair[1], pair[2]);
            EXCEPTION WHEN duplicate_object OR unique_violation OR internal_error THEN NULL;
            END;
        END IF;
    END LOOP;
END
$$;

CREATE TABLE console_users (
    name          text PRIMARY KEY CHECK (name ~ '^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$'),
    role          text NOT NULL CHECK (role IN ('analyst', 'reviewer')),
    -- pbkdf2-sha256$<iterations>$<salt, base64>$<derived key, base64>
    password_hash text NOT NULL CHECK (password_hash ~ '^pbkdf2-sha256\$[0-9]+\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$'),
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);

COMMENT ON TABLE console_users IS
    'Logins of the audit console: analyst (read) or reviewer (read and verdicts), PBKDF2-HMAC-SHA256 password hashes.';

CREATE TABLE console_sessions (
    token_sha256 text PRIMARY KEY CHECK (token_sha256 ~ '^[0-9a-f]{64}$'),
    user_name    text NOT NULL REFERENCES console_users (name) ON DELETE CASCADE,
    csrf_token   text NOT NULL CHECK (length(csrf_token) >= 32),
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL
);

CREATE INDEX console_sessions_expires_at ON console_sessions (expires_at);

CREATE TABLE reviews (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- The decision's request_id; the insert trigger checks that it exists (no foreign key, so
    -- that decisions stays exactly as 001 made it: TRUNCATE is refused by its trigger alone).
    request_id  text NOT NULL,
    verdict     text NOT NULL CHECK (verdict IN ('uphold', 'overturn')),
    note        text NOT NULL DEFAULT '' CHECK (length(note) <= 4000),
    -- The console user who made the verdict.
    reviewer    text NOT NULL CHECK (reviewer <> ''),
    -- The database login that inserted it (the console process's).
    recorded_by text NOT NULL DEFAULT session_user,
    reviewed_at timestamptz NOT NULL DEFAULT now()
);

COMMENT ON TABLE reviews IS
    'Append-only verdicts (uphold / overturn) on censored or blocked decisions; never changes decisions.';

CREATE INDEX reviews_request_id ON reviews (request_id, reviewed_at DESC);

-- Only existing, censored or blocked decisions are reviewed: those are the ones a reviewer can
-- call false positives. Read through the analysts' view, which the inserting role may read.
CREATE FUNCTION reviews_check_decision() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    reviewed text;
BEGIN
    SELECT decision INTO reviewed FROM audit_decisions WHERE request_id = NEW.request_id;
    IF reviewed IS NULL OR reviewed NOT IN ('censor', 'block') THEN
        RAISE EXCEPTION 'only censored or blocked decisions are reviewed; % is %', NEW.request_id, coalesce(reviewed, 'unknown')
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER reviews_decision_reviewable
    BEFORE INSERT ON reviews
    FOR EACH ROW EXECUTE FUNCTION reviews_check_decision();

-- Append-only like decisions: no UPDATE, DELETE or TRUNCATE, even for the owner.
CREATE TRIGGER reviews_no_update_delete
    BEFORE UPDATE OR DELETE ON reviews
    FOR EACH ROW EXECUTE FUNCTION decisions_refuse_change();

CREATE TRIGGER reviews_no_truncate
    BEFORE TRUNCATE ON reviews
    FOR EACH STATEMENT EXECUTE FUNCTION decisions_refuse_change();

-- The published message parsed as JSON; NULL when it is not (kept apart so a view never fails
-- on one odd row).
CREATE FUNCTION audit_payload_json(payload bytea) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    RETURN convert_from(payload, 'UTF8')::jsonb;
EXCEPTION WHEN others THEN
    RETURN NULL;
END
$$;

-- What the console's decision page shows beyond audit_decisions: the tries, the published
-- result (its inline image apart), and the raw request of a rejected message.
CREATE VIEW audit_decision_details AS
SELECT
    d.request_id,
    d.decision,
    d.tries,
    d.published_topic,
    p.payload - 'image'                                  AS published_result,
    p.payload ->> 'image'                                AS published_image_base64,
    p.payload ->> 'image_ref'                            AS published_image_ref,
    p.payload ->> 'image_sha256'                         AS published_image_sha256,
    CASE WHEN d.decision = 'rejected' THEN d.raw_request END AS raw_request
FROM decisions d
CROSS JOIN LATERAL (SELECT audit_payload_json(d.published_payload) AS payload) p;

-- Every verdict with the decision it is about.
CREATE VIEW audit_reviews AS
SELECT r.id, r.request_id, d.tenant, d.decision, r.verdict, r.note, r.reviewer, r.recorded_by, r.reviewed_at
FROM reviews r
JOIN decisions d USING (request_id);

-- The latest verdict per decision: a later verdict supersedes an earlier one (both stay).
CREATE VIEW audit_review_latest AS
SELECT DISTINCT ON (request_id) id, request_id, tenant, decision, verdict, note, reviewer, reviewed_at
FROM audit_reviews
ORDER BY request_id, reviewed_at DESC, id DESC;

-- Overturn rate per scorer and category (the label of a reason that censored or blocked): each
-- reviewed decision counts once for each distinct (scorer, label) among its triggering reasons.
CREATE VIEW audit_overturn_rates AS
SELECT
    t.scorer,
    t.category,
    count(*)                                             AS reviewed,
    count(*) FILTER (WHERE l.verdict = 'overturn')       AS overturned,
    avg(CASE WHEN l.verdict = 'overturn' THEN 1.0 ELSE 0.0 END)::double precision AS overturn_rate,
    max(l.reviewed_at)                                   AS last_reviewed_at
FROM audit_review_latest l
JOIN decisions d USING (request_id)
CROSS JOIN LATERAL (
    SELECT DISTINCT r ->> 'scorer' AS scorer, r ->> 'label' AS category
    FROM jsonb_array_elements(CASE WHEN jsonb_typeof(d.reasons) = 'array' THEN d.reasons ELSE '[]'::jsonb END) r
    WHERE jsonb_typeof(r) = 'object' AND r ? 'scorer' AND r ? 'label' AND coalesce(r ->> 'action', '') <> 'allow'
) t
GROUP BY t.scorer, t.category;

REVOKE ALL ON console_users, console_sessions, reviews, audit_decision_details, audit_reviews,
    audit_review_latest, audit_overturn_rates FROM PUBLIC;
REVOKE ALL ON FUNCTION audit_payload_json(bytea) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION audit_payload_json(bytea) TO chaperone_analyst;
-- Analysts (and so reviewers, their members) read the new views; reviewers add verdicts.
GRANT SELECT ON audit_decision_details, audit_reviews, audit_review_latest, audit_overturn_rates TO chaperone_analyst;
GRANT INSERT ON reviews TO chaperone_reviewer;
-- The console process: logins and sessions; it reads through the roles above.
GRANT SELECT ON console_users TO chaperone_console;
GRANT SELECT, INSERT, DELETE ON console_sessions TO chaperone_console;
