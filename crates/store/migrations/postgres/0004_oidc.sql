-- The OpenID provider: its clients, its signing keys, and the short-lived objects of its
-- flows (authorization requests, logins, codes, grants, tokens), kept here so that any
-- node can answer any step.
CREATE TABLE oidc_clients (
    client_id TEXT PRIMARY KEY,
    settings TEXT NOT NULL,
    secret_hash TEXT,
    created_at BIGINT NOT NULL
);

CREATE TABLE oidc_keys (
    kid TEXT PRIMARY KEY,
    alg TEXT NOT NULL,
    sealed_key BYTEA NOT NULL,
    public_jwk TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    signs_from BIGINT NOT NULL,
    retired_at BIGINT
);

CREATE TABLE oidc_objects (
    kind TEXT NOT NULL,
    id TEXT NOT NULL,
    grant_id TEXT,
    data TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT,
    PRIMARY KEY (kind, id)
);
CREATE INDEX oidc_objects_grant ON oidc_objects (grant_id);
CREATE INDEX oidc_objects_expiry ON oidc_objects (expires_at);

-- Number matching: the code the user must pick on the phone out of three (an OpenID
-- login's session code); NULL for requests without it.
ALTER TABLE transactions ADD COLUMN number_match TEXT;

-- Where the phone was when it approved, as it reported (JSON: country, accuracy in
-- metres, device and location confidence); NULL when it reported nothing.
ALTER TABLE transactions ADD COLUMN location TEXT;
