-- Identity verifications in the browser (terms, document and selfie, MRZ checks, a
-- decision by an operator or a provider). `state`: terms, capture, provider (at an
-- external provider), review (in the operator's queue), verified, rejected. Two browsers
-- may act on one: the one that started it and, after the hand-off, the phone; each is
-- known by the SHA-256 of a secret in its cookie. `mrz` and `checks` are JSON (the
-- parsed zone with every check digit; each check with its value and outcome).
CREATE TABLE verifications (
    verification_id TEXT PRIMARY KEY,
    msisdn TEXT NOT NULL,
    email TEXT NOT NULL,
    stated_name TEXT NOT NULL,
    language TEXT NOT NULL,
    return_to TEXT NOT NULL,
    state TEXT NOT NULL,
    browser_hash TEXT NOT NULL,
    phone_hash TEXT,
    terms_version TEXT,
    terms_accepted_at BIGINT,
    document_type TEXT,
    mrz TEXT,
    mrz_source TEXT,
    checks TEXT,
    provider TEXT,
    provider_session TEXT,
    decided_by TEXT,
    reason TEXT,
    given_names TEXT,
    surname TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    decided_at BIGINT
);
CREATE INDEX verifications_by_state ON verifications (state, updated_at);
CREATE INDEX verifications_by_provider_session ON verifications (provider, provider_session);

-- Single-use, short-lived links that move a verification to the user's phone (only the
-- SHA-256 of the token is kept).
CREATE TABLE verification_handoffs (
    token_hash TEXT PRIMARY KEY,
    verification_id TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT
);

-- The captured images, sealed under the master key, until the retention period ends;
-- their digests stay in the evidence record.
CREATE TABLE verification_images (
    verification_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    content_type TEXT NOT NULL,
    sealed BLOB NOT NULL,
    sha256 TEXT NOT NULL,
    size BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (verification_id, kind)
);
CREATE INDEX verification_images_by_age ON verification_images (created_at);

-- Every time a reviewer looked at an image.
CREATE TABLE verification_image_views (
    verification_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    viewer TEXT NOT NULL,
    viewed_at BIGINT NOT NULL
);
CREATE INDEX verification_image_views_by_verification ON verification_image_views (verification_id);

-- The evidence of each decided verification, hash-chained: `hash` is the SHA-256 of the
-- previous record's hash and this record's `body` (canonical JSON).
CREATE TABLE evidence_records (
    seq BIGINT PRIMARY KEY,
    verification_id TEXT NOT NULL,
    body TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL,
    recorded_at BIGINT NOT NULL
);

-- Portal accounts that may use the review desk.
CREATE TABLE reviewers (
    account_id TEXT PRIMARY KEY,
    granted_at BIGINT NOT NULL
);

-- Webhook events received from identity providers, so that a replay is refused.
CREATE TABLE provider_events (
    provider TEXT NOT NULL,
    event_id TEXT NOT NULL,
    received_at BIGINT NOT NULL,
    PRIMARY KEY (provider, event_id)
);
