-- The self-service portal. An account logs in with its e-mail address (lower-case) and a
-- password (an argon2id PHC string; NULL until its owner sets one from an e-mailed link).
-- Its state: 'unverified' until the address is confirmed, then 'active' or 'inactive'
-- (only active accounts may get a Mobile ID). `msisdn` is the Mobile ID user it manages.
-- Failed logins are counted; past the limit the account is locked until `locked_until`.
CREATE TABLE accounts (
    account_id TEXT PRIMARY KEY,
    email TEXT NOT NULL UNIQUE,
    password_hash TEXT,
    msisdn TEXT UNIQUE,
    state TEXT NOT NULL,
    language TEXT NOT NULL,
    properties TEXT NOT NULL,
    failed_logins BIGINT NOT NULL DEFAULT 0,
    locked_until BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL
);

-- One-time links sent by e-mail (confirm the address and set the password), by SHA-256.
CREATE TABLE account_tokens (
    token_hash TEXT PRIMARY KEY,
    account_id TEXT NOT NULL,
    purpose TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT
);
CREATE INDEX account_tokens_by_account ON account_tokens (account_id);

-- Logged-in browsers: the cookie's SHA-256, and the token every form must carry (CSRF).
CREATE TABLE portal_sessions (
    session_hash TEXT PRIMARY KEY,
    account_id TEXT NOT NULL,
    csrf_token TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX portal_sessions_by_account ON portal_sessions (account_id);

-- Recovery codes of a Mobile ID user (keyed hash): one moves the Mobile ID, with its serial
-- number, to a new phone. Shown once; a new set replaces the unused rest.
CREATE TABLE recovery_codes (
    code_hash TEXT PRIMARY KEY,
    msisdn TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    used_at BIGINT
);
CREATE INDEX recovery_codes_by_msisdn ON recovery_codes (msisdn);

-- When each activation code was made: the portal follows the newest one (a cancelled code
-- ends early, so its expiry no longer orders the codes).
ALTER TABLE activation_codes ADD COLUMN created_at BIGINT NOT NULL DEFAULT 0;

-- A cancelled enrolment's code ends at once (cancelled_at); a code that expired unused is
-- reported to the user once (reported_at), by whichever node claims it first.
ALTER TABLE activation_codes ADD COLUMN cancelled_at BIGINT;
ALTER TABLE activation_codes ADD COLUMN reported_at BIGINT;

-- What each certificate is for ('authentication', or 'signing': a second certificate for
-- the same phone key, carried by document signatures), and the signing certificates.
ALTER TABLE certificates ADD COLUMN kind TEXT NOT NULL DEFAULT 'authentication';
CREATE TABLE signing_certificates (
    device_id TEXT PRIMARY KEY,
    cert_der BLOB NOT NULL
);

-- Escrowed encryption keys: made by the server, sealed under the master key, delivered to
-- every new phone of the user (by certificate serial, lower-case hex).
CREATE TABLE escrowed_keys (
    serial TEXT PRIMARY KEY,
    msisdn TEXT NOT NULL,
    cert_der BLOB NOT NULL,
    sealed_key BLOB NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX escrowed_keys_by_msisdn ON escrowed_keys (msisdn);
