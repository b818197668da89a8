-- Every user certificate our CA issued, for OCSP and the CRL: its serial number (lower-case
-- hex), the CA that issued it, whose it is, and, once revoked, when and why (RFC 5280
-- reason code; NULL for unspecified). Rows outlive their devices and users: a certificate
-- stays revoked, never unknown.
CREATE TABLE certificates (
    serial TEXT PRIMARY KEY,
    authority TEXT NOT NULL,
    msisdn TEXT NOT NULL,
    device_id TEXT NOT NULL,
    not_after BIGINT NOT NULL,
    issued_at BIGINT NOT NULL,
    revoked_at BIGINT,
    revocation_reason BIGINT
);
CREATE INDEX certificates_by_device ON certificates (device_id);
CREATE INDEX certificates_by_msisdn ON certificates (msisdn);
CREATE INDEX certificates_revoked ON certificates (authority, revoked_at) WHERE revoked_at IS NOT NULL;
