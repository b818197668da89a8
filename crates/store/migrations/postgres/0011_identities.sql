-- Verified identities of Mobile ID users, by phone number: the names signing
-- certificates carry. `state`: pending (a signer asked; an operator or a provider is to
-- decide), verified, rejected. `stated_name` is the name the signer was expected to have
-- (the envelope's); `decided_by` who decided (`operator`, or a provider), `reason` a
-- rejection's.
CREATE TABLE identities (
    msisdn TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    stated_name TEXT NOT NULL,
    given_names TEXT,
    surname TEXT,
    decided_by TEXT,
    reason TEXT,
    requested_at BIGINT NOT NULL,
    decided_at BIGINT
);
