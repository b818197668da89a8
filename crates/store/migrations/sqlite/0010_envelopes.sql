-- Whoever sends documents to be signed over the API: an API key (keyed hash, hex), or
-- the OpenID client it may also authenticate as, and where the webhooks go with the
-- secret that signs them (sealed under the master key).
CREATE TABLE senders (
    sender_id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    api_key_hash TEXT NOT NULL UNIQUE,
    webhook_url TEXT,
    webhook_secret BLOB,
    oidc_client_id TEXT UNIQUE,
    created_at BIGINT NOT NULL
);

-- An envelope: documents for signers in ordered levels. `envelope_id` is also the
-- reference every page and e-mail shows. `level` is the level signing now (1-based;
-- 0 while a draft). States: draft, sent, completed, declined, voided, expired.
CREATE TABLE envelopes (
    envelope_id TEXT PRIMARY KEY,
    sender_id TEXT NOT NULL,
    title TEXT NOT NULL,
    message TEXT NOT NULL,
    state TEXT NOT NULL,
    level BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX envelopes_by_sender ON envelopes (sender_id);

CREATE TABLE envelope_documents (
    envelope_id TEXT NOT NULL,
    position BIGINT NOT NULL,
    document_id TEXT NOT NULL,
    PRIMARY KEY (envelope_id, position)
);

-- A signer: their level, how to reach them, the link's SHA-256, where their stamp goes
-- (JSON), and how far they are: waiting, invited, viewed, signed, declined.
-- `transaction_id` is their running document signature, `signing_msisdn` the number
-- they sign with.
CREATE TABLE envelope_signers (
    signer_id TEXT PRIMARY KEY,
    envelope_id TEXT NOT NULL,
    level BIGINT NOT NULL,
    position BIGINT NOT NULL,
    name TEXT NOT NULL,
    email TEXT NOT NULL,
    msisdn TEXT,
    language TEXT NOT NULL,
    link_hash TEXT NOT NULL UNIQUE,
    stamp TEXT NOT NULL,
    state TEXT NOT NULL,
    decline_reason TEXT,
    transaction_id TEXT,
    signing_msisdn TEXT,
    signed_at BIGINT
);
CREATE INDEX envelope_signers_by_envelope ON envelope_signers (envelope_id);

-- The audit trail: what happened to an envelope, in order.
CREATE TABLE envelope_events (
    envelope_id TEXT NOT NULL,
    at BIGINT NOT NULL,
    event TEXT NOT NULL,
    signer_id TEXT,
    detail TEXT
);
CREATE INDEX envelope_events_by_envelope ON envelope_events (envelope_id, at);

-- Webhook deliveries to a sender, retried with backoff until delivered or given up.
-- States: pending, delivered, failed.
CREATE TABLE webhook_deliveries (
    delivery_id TEXT PRIMARY KEY,
    sender_id TEXT NOT NULL,
    envelope_id TEXT NOT NULL,
    event TEXT NOT NULL,
    payload TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    last_status BIGINT,
    last_error TEXT,
    created_at BIGINT NOT NULL
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (state, next_attempt_at);
CREATE INDEX webhook_deliveries_by_envelope ON webhook_deliveries (envelope_id);

-- E-mails about envelopes (invitation, reminder, completed, declined, voided), written
-- with the change that causes them and sent by a worker, retried until delivered.
CREATE TABLE envelope_mails (
    mail_id TEXT PRIMARY KEY,
    envelope_id TEXT NOT NULL,
    signer_id TEXT,
    recipient TEXT NOT NULL,
    kind TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX envelope_mails_due ON envelope_mails (state, next_attempt_at);
