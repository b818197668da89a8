-- Documents to be signed, PDF. `content` is the current revision: the document as it
-- came, then after each signature. The original is always its first `original_size`
-- bytes, with SHA-256 `original_sha256`; it has `pages` pages. `revision` counts the signatures embedded.
-- A signature is computed over one exact revision, so only one signature at a time may
-- be in its cryptographic step: the transaction that holds the lease, until
-- `lease_until` (Unix ms).
CREATE TABLE documents (
    document_id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    original_sha256 BYTEA NOT NULL,
    original_size BIGINT NOT NULL,
    pages BIGINT NOT NULL,
    content BYTEA NOT NULL,
    revision BIGINT NOT NULL DEFAULT 0,
    lease_transaction TEXT,
    lease_until BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL
);

-- One signature asked of a user (a transaction of kind 'document'): where its stamp goes
-- (JSON, or NULL for an invisible signature) and the name it shows. Once prepared, the
-- revision it extends, the claimed signing time and the signed attributes the phone
-- must sign.
CREATE TABLE document_signatures (
    transaction_id TEXT PRIMARY KEY,
    document_id TEXT NOT NULL,
    signer_name TEXT NOT NULL,
    stamp TEXT,
    base_revision BIGINT,
    signing_time BIGINT,
    to_be_signed BYTEA
);
CREATE INDEX document_signatures_by_document ON document_signatures (document_id);
