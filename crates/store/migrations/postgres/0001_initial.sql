-- Application providers (relying parties) and what each may do.
CREATE TABLE aps (
    ap_id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    dtbd_prefix TEXT NOT NULL DEFAULT '',
    allowed_profiles TEXT NOT NULL,
    auth_profile1_maps_to TEXT NOT NULL,
    services TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL
);

-- The TLS client certificates an AP authenticates with (one certificate may serve several AP_IDs).
CREATE TABLE ap_certificates (
    fingerprint TEXT NOT NULL,
    ap_id TEXT NOT NULL REFERENCES aps(ap_id) ON DELETE CASCADE,
    cert_der BYTEA NOT NULL,
    PRIMARY KEY (fingerprint, ap_id)
);

-- Our certificate authorities; private keys are sealed under the master key.
CREATE TABLE authorities (
    name TEXT PRIMARY KEY,
    cert_der BYTEA NOT NULL,
    sealed_key BYTEA NOT NULL
);

CREATE TABLE users (
    msisdn TEXT PRIMARY KEY,
    serial_number TEXT NOT NULL UNIQUE,
    state TEXT NOT NULL,
    test_fault BIGINT,
    created_at BIGINT NOT NULL
);

CREATE TABLE activation_codes (
    code_hash TEXT PRIMARY KEY,
    msisdn TEXT NOT NULL REFERENCES users(msisdn) ON DELETE CASCADE,
    expires_at BIGINT NOT NULL,
    used_at BIGINT
);

-- A signing device of a user: a phone (method 'app') or a server-held SIM-like robot key ('sim').
CREATE TABLE devices (
    device_id TEXT PRIMARY KEY,
    msisdn TEXT NOT NULL REFERENCES users(msisdn) ON DELETE CASCADE,
    method TEXT NOT NULL,
    state TEXT NOT NULL,
    cert_der BYTEA NOT NULL,
    auth_key BYTEA,
    server_key BYTEA,
    pin_failures BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL
);
CREATE INDEX devices_by_msisdn ON devices(msisdn, state);
-- One live device per user and method: activation retires the earlier one.
CREATE UNIQUE INDEX devices_one_live_per_method ON devices(msisdn, method) WHERE state <> 'retired';

-- Nonces of authenticated device requests, kept for the clock window to refuse replays.
CREATE TABLE device_nonces (
    device_id TEXT NOT NULL,
    nonce TEXT NOT NULL,
    seen_at BIGINT NOT NULL,
    PRIMARY KEY (device_id, nonce)
);

CREATE TABLE transactions (
    mssp_trans_id TEXT PRIMARY KEY,
    ap_id TEXT NOT NULL,
    ap_trans_id TEXT NOT NULL,
    ap_instant BIGINT NOT NULL,
    msisdn TEXT NOT NULL,
    msisdn_raw TEXT NOT NULL,
    device_id TEXT,
    method TEXT NOT NULL,
    profile TEXT NOT NULL,
    mime_type TEXT NOT NULL,
    dtbd TEXT NOT NULL,
    language TEXT NOT NULL,
    -- The randomNonce of the CMS signed attributes; with the DTBD it fixes what is signed.
    nonce BYTEA NOT NULL,
    services TEXT NOT NULL DEFAULT '',
    state TEXT NOT NULL,
    fault_code BIGINT,
    fault_detail TEXT,
    signature BYTEA,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    completed_at BIGINT,
    UNIQUE (ap_id, ap_trans_id, ap_instant)
);
CREATE INDEX transactions_pending_by_device ON transactions(device_id, state);
CREATE INDEX transactions_by_msisdn ON transactions(msisdn, state);

-- At most one receipt per transaction; delivered_at is set when the phone fetched it.
CREATE TABLE receipts (
    mssp_trans_id TEXT PRIMARY KEY REFERENCES transactions(mssp_trans_id) ON DELETE CASCADE,
    device_id TEXT,
    message TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    delivered_at BIGINT
);
CREATE INDEX receipts_undelivered ON receipts(device_id, delivered_at);
