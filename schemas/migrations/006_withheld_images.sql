-- 006: the images a decision withheld, kept as evidence for reviewers.
--
-- * withheld_images: the generated image of a blocked decision, and the original of a censored
--   one (what was published is its blurred copy), by SHA-256: the decision row's image_sha256.
--   Only reviewers read it (analysts, who see every decision, do not see these images); the
--   worker inserts. Rows are never changed. Unlike decisions, rows may be deleted, by the
--   owner only, so a deployment can keep such images no longer than its retention rules allow
--   (e.g. DELETE FROM withheld_images WHERE stored_at < now() - interval '90 days').
--   A worker keeps none when `images.keep_withheld` is false.

CREATE TABLE withheld_images (
    sha256     text PRIMARY KEY CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    media_type text NOT NULL DEFAULT 'image/png',
    bytes      bytea NOT NULL,
    stored_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT withheld_images_content_addressed CHECK (sha256 = encode(sha256(bytes), 'hex'))
);

COMMENT ON TABLE withheld_images IS
    'Generated images of blocked decisions and originals of censored ones, by SHA-256; reviewers only.';

CREATE TRIGGER withheld_images_no_update
    BEFORE UPDATE ON withheld_images
    FOR EACH ROW EXECUTE FUNCTION decisions_refuse_change();

REVOKE ALL ON withheld_images FROM PUBLIC;
GRANT SELECT, INSERT ON withheld_images TO chaperone_worker;
GRANT SELECT ON withheld_images TO chaperone_reviewer;
