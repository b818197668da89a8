-- Transactions become protocol-neutral: what is asked of whose device, by whom (kind and
-- requester), and how it ended (a failure reason, not an ETSI code). What only MSS needs
-- (AP_ID, AP_TransID and Instant with their uniqueness, the MSISDN as the AP wrote it,
-- the profile, the services, a test number's fault code) moves to mss_requests.
--
-- Old failures map to reasons by their code (401 declined, 208 expired, 402 PIN blocked);
-- any other code was a test number's and stays in mss_requests.fault_code.

ALTER TABLE transactions RENAME COLUMN mssp_trans_id TO id;
ALTER TABLE transactions RENAME COLUMN dtbd TO content;
ALTER TABLE transactions RENAME COLUMN fault_detail TO failure_detail;
ALTER TABLE transactions
    ADD COLUMN kind TEXT,
    ADD COLUMN requester TEXT,
    ADD COLUMN content_kind TEXT,
    ADD COLUMN digest BYTEA,
    ADD COLUMN failure_reason TEXT;

CREATE TABLE mss_requests (
    transaction_id TEXT PRIMARY KEY REFERENCES transactions(id) ON DELETE CASCADE,
    ap_id TEXT NOT NULL,
    ap_trans_id TEXT NOT NULL,
    ap_instant BIGINT NOT NULL,
    msisdn_raw TEXT NOT NULL,
    profile TEXT NOT NULL,
    services TEXT NOT NULL DEFAULT '',
    fault_code BIGINT,
    UNIQUE (ap_id, ap_trans_id, ap_instant)
);

INSERT INTO mss_requests (transaction_id, ap_id, ap_trans_id, ap_instant, msisdn_raw, profile, services, fault_code)
SELECT id, ap_id, ap_trans_id, ap_instant, msisdn_raw, profile, services,
    CASE WHEN state = 'failed' AND fault_code NOT IN (401, 208, 402) THEN fault_code END
FROM transactions;

UPDATE transactions SET
    kind = 'mss',
    requester = 'ap:' || ap_id,
    content_kind = CASE WHEN mime_type = 'text/plain' THEN 'text' ELSE 'txn_approval' END,
    failure_reason = CASE WHEN state <> 'failed' THEN NULL
                          WHEN fault_code = 401 THEN 'declined'
                          WHEN fault_code = 208 THEN 'expired'
                          WHEN fault_code = 402 THEN 'pin_blocked'
                          ELSE 'simulated' END;

ALTER TABLE transactions
    ALTER COLUMN kind SET NOT NULL,
    ALTER COLUMN requester SET NOT NULL,
    ALTER COLUMN content_kind SET NOT NULL,
    DROP COLUMN ap_id,
    DROP COLUMN ap_trans_id,
    DROP COLUMN ap_instant,
    DROP COLUMN msisdn_raw,
    DROP COLUMN profile,
    DROP COLUMN mime_type,
    DROP COLUMN services,
    DROP COLUMN fault_code;
