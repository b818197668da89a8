-- Transactions become protocol-neutral: what is asked of whose device, by whom (kind and
-- requester), and how it ended (a failure reason, not an ETSI code). What only MSS needs
-- (AP_ID, AP_TransID and Instant with their uniqueness, the MSISDN as the AP wrote it,
-- the profile, the services, a test number's fault code) moves to mss_requests.
--
-- SQLite cannot drop columns that a UNIQUE constraint uses, so the table is rebuilt.
-- receipts refers to transactions and is rebuilt too, and dropped first: dropping
-- transactions while receipts still referred to it would cascade-delete the receipts.
-- Old failures map to reasons by their code (401 declined, 208 expired, 402 PIN blocked);
-- any other code was a test number's and stays in mss_requests.fault_code.

CREATE TABLE transactions_v2 (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    requester TEXT NOT NULL,
    msisdn TEXT NOT NULL,
    device_id TEXT,
    method TEXT NOT NULL,
    -- text, txn_approval or document; content is the text, the approval's JSON or the document's name.
    content_kind TEXT NOT NULL,
    content TEXT NOT NULL,
    -- SHA-256 of a document (content_kind document only).
    digest BLOB,
    language TEXT NOT NULL,
    -- The randomNonce of the CMS signed attributes; with the content it fixes what is signed.
    nonce BLOB NOT NULL,
    state TEXT NOT NULL,
    failure_reason TEXT,
    failure_detail TEXT,
    signature BLOB,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    completed_at INTEGER
);

INSERT INTO transactions_v2 (id, kind, requester, msisdn, device_id, method, content_kind, content, digest,
    language, nonce, state, failure_reason, failure_detail, signature, created_at, expires_at, completed_at)
SELECT mssp_trans_id, 'mss', 'ap:' || ap_id, msisdn, device_id, method,
    CASE WHEN mime_type = 'text/plain' THEN 'text' ELSE 'txn_approval' END, dtbd, NULL,
    language, nonce, state,
    CASE WHEN state <> 'failed' THEN NULL
         WHEN fault_code = 401 THEN 'declined'
         WHEN fault_code = 208 THEN 'expired'
         WHEN fault_code = 402 THEN 'pin_blocked'
         ELSE 'simulated' END,
    fault_detail, signature, created_at, expires_at, completed_at
FROM transactions;

CREATE TABLE mss_requests (
    transaction_id TEXT PRIMARY KEY REFERENCES transactions_v2(id) ON DELETE CASCADE,
    ap_id TEXT NOT NULL,
    ap_trans_id TEXT NOT NULL,
    ap_instant INTEGER NOT NULL,
    msisdn_raw TEXT NOT NULL,
    profile TEXT NOT NULL,
    services TEXT NOT NULL DEFAULT '',
    fault_code INTEGER,
    UNIQUE (ap_id, ap_trans_id, ap_instant)
);

INSERT INTO mss_requests (transaction_id, ap_id, ap_trans_id, ap_instant, msisdn_raw, profile, services, fault_code)
SELECT mssp_trans_id, ap_id, ap_trans_id, ap_instant, msisdn_raw, profile, services,
    CASE WHEN state = 'failed' AND fault_code NOT IN (401, 208, 402) THEN fault_code END
FROM transactions;

CREATE TABLE receipts_v2 (
    mssp_trans_id TEXT PRIMARY KEY REFERENCES transactions_v2(id) ON DELETE CASCADE,
    device_id TEXT,
    message TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    delivered_at INTEGER
);
INSERT INTO receipts_v2 SELECT mssp_trans_id, device_id, message, created_at, delivered_at FROM receipts;

DROP TABLE receipts;
DROP TABLE transactions;
-- Renaming also rewrites the references in mss_requests and receipts_v2.
ALTER TABLE transactions_v2 RENAME TO transactions;
ALTER TABLE receipts_v2 RENAME TO receipts;

CREATE INDEX transactions_pending_by_device ON transactions(device_id, state);
CREATE INDEX transactions_by_msisdn ON transactions(msisdn, state);
CREATE INDEX receipts_undelivered ON receipts(device_id, delivered_at);
