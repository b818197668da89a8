//! The status of the certificates our CA issues: the links written into each one (AIA
//! and CRL distribution point), the record of every user certificate, revocation (on a
//! new phone, a blocked device, an operator's request) and the answers to verifiers:
//! OCSP (RFC 6960) from a delegated responder, and a CRL per CA.
//!
//! A revocation is written in the same database transaction as the change of the device
//! it belongs to, and OCSP reads the store on every request: it is visible at once, on
//! every node.

use std::collections::HashMap;
use std::sync::Arc;

use mobileid_core::{CertificateKind, DeviceState, Timestamp};
use mobileid_crypto::{
    revocation_list, CertificateInfo, CertificateLinks, CertificateStatus, CertificateUse, OcspRefusal, OcspResponder,
    Revocation, RevocationReason, SubjectAttribute,
};
use mobileid_store::{CertificateRecord, Revoked};

use crate::authority::{self, ISSUING, ROOT};
use crate::{Engine, EngineError};

/// One of our two CAs, as the status endpoints name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Authority {
    Root,
    Issuing,
}

impl Authority {
    fn name(self) -> &'static str {
        match self {
            Authority::Root => ROOT,
            Authority::Issuing => ISSUING,
        }
    }
}

/// Where the status endpoints are, below the browser port's public URL.
pub const OCSP_PATH: &str = "/pki/ocsp";
pub const ROOT_CRL_PATH: &str = "/pki/root-ca.crl";
pub const ISSUING_CRL_PATH: &str = "/pki/issuing-ca.crl";
pub const ROOT_CERTIFICATE_PATH: &str = "/pki/root-ca.cer";
pub const ISSUING_CERTIFICATE_PATH: &str = "/pki/issuing-ca.cer";

/// The links for certificates that `authority` issues, below `base` (a public URL).
pub(crate) fn links(base: &str, authority: Authority) -> CertificateLinks {
    let base = base.trim_end_matches('/');
    match authority {
        Authority::Root => CertificateLinks {
            ca_issuers: format!("{base}{ROOT_CERTIFICATE_PATH}"),
            ocsp: None,
            crl: format!("{base}{ROOT_CRL_PATH}"),
        },
        Authority::Issuing => CertificateLinks {
            ca_issuers: format!("{base}{ISSUING_CERTIFICATE_PATH}"),
            ocsp: Some(format!("{base}{OCSP_PATH}")),
            crl: format!("{base}{ISSUING_CRL_PATH}"),
        },
    }
}

impl Engine {
    /// Issues a user certificate for the key in `csr_der`, with links to its status, and
    /// the record that goes into the store with the device.
    pub(crate) fn issue_user_certificate(
        &self,
        csr_der: &[u8],
        serial_number: &str,
        msisdn: &str,
        device_id: &str,
        extra_subject: &[(SubjectAttribute, String)],
    ) -> Result<(Vec<u8>, CertificateRecord), EngineError> {
        self.issue_certificate_of(
            csr_der,
            serial_number,
            msisdn,
            device_id,
            extra_subject,
            CertificateKind::Authentication,
        )
    }

    /// A certificate of `kind` for a phone's key; its record says whose it is.
    pub(crate) fn issue_certificate_of(
        &self,
        csr_der: &[u8],
        serial_number: &str,
        msisdn: &str,
        device_id: &str,
        extra_subject: &[(SubjectAttribute, String)],
        kind: CertificateKind,
    ) -> Result<(Vec<u8>, CertificateRecord), EngineError> {
        let der = self.inner.ca.issue_user_certificate_with(
            csr_der,
            serial_number,
            extra_subject,
            usage(kind),
            self.config().certificate_validity_days,
            Some(&self.issuing_links()),
        )?;
        self.recorded(der, msisdn, device_id, kind)
    }

    /// A signing certificate, in the user's verified `name` if there is one, for the key of
    /// a certificate we issued to a phone.
    pub(crate) fn reissue_signing_certificate_of(
        &self,
        issued_der: &[u8],
        serial_number: &str,
        name: Option<(&str, &str)>,
        msisdn: &str,
        device_id: &str,
        extra_subject: &[(SubjectAttribute, String)],
    ) -> Result<(Vec<u8>, CertificateRecord), EngineError> {
        let der = self.inner.ca.reissue_user_certificate(
            issued_der,
            serial_number,
            name,
            extra_subject,
            CertificateUse::Signing,
            self.config().certificate_validity_days,
            Some(&self.issuing_links()),
        )?;
        self.recorded(der, msisdn, device_id, CertificateKind::Signing)
    }

    /// The links written into user certificates: the OpenID issuer is the browser port's
    /// public URL, where `pki` answers.
    fn issuing_links(&self) -> CertificateLinks {
        links(self.oidc_issuer(), Authority::Issuing)
    }

    /// A certificate just issued with its record: whose it is, and of which kind.
    fn recorded(
        &self,
        der: Vec<u8>,
        msisdn: &str,
        device_id: &str,
        kind: CertificateKind,
    ) -> Result<(Vec<u8>, CertificateRecord), EngineError> {
        let mut record = certificate_record(&der, msisdn, device_id, self.now())?;
        record.kind = kind;
        Ok((der, record))
    }

    /// The links for certificates the root signs (the issuing CA, TLS server certificates).
    pub fn root_links(&self) -> CertificateLinks {
        links(&self.config().oidc.issuer, Authority::Root)
    }

    /// The DER certificate of one of our CAs.
    pub fn ca_certificate(&self, authority: Authority) -> &[u8] {
        match authority {
            Authority::Root => &self.inner.ca.root.cert_der,
            Authority::Issuing => &self.inner.ca.issuing.cert_der,
        }
    }

    /// The CA's current CRL (DER), signed now and due again in an hour.
    pub async fn revocation_list(&self, authority: Authority) -> Result<Vec<u8>, EngineError> {
        let revoked = self.inner.store.revoked_certificates(authority.name()).await?;
        let revoked: Vec<Revocation> = revoked.iter().filter_map(revocation).collect();
        let ca = match authority {
            Authority::Root => &self.inner.ca.root,
            Authority::Issuing => &self.inner.ca.issuing,
        };
        let now = self.now();
        let number = u64::try_from(now.as_millis()).unwrap_or_default();
        Ok(revocation_list(ca, &revoked, number, to_chrono(now))?)
    }

    /// Answers a DER OCSP request with a DER OCSP response: signed statuses for the
    /// issuing CA's certificates, or a bare refusal (malformedRequest, internalError).
    pub async fn ocsp(&self, request_der: &[u8]) -> Vec<u8> {
        match self.answer_ocsp(request_der).await {
            Ok(answer) => answer,
            Err(refusal) => refusal.to_der(),
        }
    }

    async fn answer_ocsp(&self, request_der: &[u8]) -> Result<Vec<u8>, OcspRefusal> {
        let responder = self.ocsp_responder().await.map_err(|e| {
            tracing::error!("OCSP responder unavailable: {e}");
            OcspRefusal::InternalError
        })?;
        let query = responder.read_request(request_der)?;
        let asked: Vec<String> = query.serials.iter().flatten().cloned().collect();
        let found = self.inner.store.find_certificates(ISSUING, &asked).await.map_err(|e| {
            tracing::error!("OCSP: {e}");
            OcspRefusal::InternalError
        })?;
        let known: HashMap<&str, &CertificateRecord> = found.iter().map(|c| (c.serial.as_str(), c)).collect();
        let statuses: Vec<CertificateStatus> = query
            .serials
            .iter()
            .map(|serial| match serial.as_deref().and_then(|s| known.get(s)) {
                None => CertificateStatus::Unknown,
                Some(record) => match revocation(record) {
                    Some(r) => CertificateStatus::Revoked { at: r.at, reason: r.reason },
                    None => CertificateStatus::Good,
                },
            })
            .collect();
        responder.respond(&query, &statuses, to_chrono(self.now())).map_err(|e| {
            tracing::error!("OCSP: {e}");
            OcspRefusal::InternalError
        })
    }

    /// The responder, renewed (and stored for the other nodes) when its certificate has
    /// less than a month left.
    async fn ocsp_responder(&self) -> Result<Arc<OcspResponder>, EngineError> {
        let now = to_chrono(self.now());
        let cached = self.inner.ocsp_responder.read().map(|r| r.clone()).unwrap_or_default();
        if let Some(responder) = cached.filter(|r| r.not_after() - now > chrono::Duration::days(30)) {
            return Ok(responder);
        }
        let responder = Arc::new(
            authority::ocsp_responder(
                &self.inner.store,
                &self.inner.master_key,
                &self.inner.ca,
                &self.config().organisation,
                now,
            )
            .await?,
        );
        if let Ok(mut slot) = self.inner.ocsp_responder.write() {
            *slot = Some(responder.clone());
        }
        Ok(responder)
    }

    /// Blocks a device that is in use (a lost phone) and revokes its certificates at once.
    /// False when it is unknown, or already blocked or retired.
    pub async fn block_device(&self, device_id: &str) -> Result<bool, EngineError> {
        let blocked = self.inner.store.block_device(device_id, None, self.now()).await?;
        if blocked {
            tracing::info!(device = device_id, "device blocked, its certificates revoked");
        }
        Ok(blocked)
    }

    /// Revokes one certificate (serial number in hex, as `user show` lists it).
    pub async fn revoke_certificate(
        &self,
        serial_hex: &str,
        reason: Option<RevocationReason>,
    ) -> Result<Revoked, EngineError> {
        let serial = serial_hex.trim_start_matches('0').to_ascii_lowercase();
        let revoked =
            self.inner.store.revoke_certificate(&serial, reason.map(RevocationReason::code), self.now()).await?;
        if revoked == Revoked::Now {
            tracing::info!(serial, "certificate revoked");
        }
        Ok(revoked)
    }

    /// Records the certificates of devices activated before certificates were recorded;
    /// those of devices no longer in use count as revoked from now.
    pub(crate) async fn record_earlier_certificates(&self) -> Result<(), EngineError> {
        for (device_id, msisdn, state, cert_der) in self.inner.store.devices_without_certificate_record().await? {
            let mut record = certificate_record(&cert_der, &msisdn, &device_id, self.now())?;
            if state != DeviceState::Active {
                record.revoked_at = Some(self.now());
            }
            self.inner.store.insert_certificate(&record).await?;
        }
        Ok(())
    }
}

fn certificate_record(
    der: &[u8],
    msisdn: &str,
    device_id: &str,
    now: Timestamp,
) -> Result<CertificateRecord, EngineError> {
    let info = CertificateInfo::parse(der)?;
    Ok(CertificateRecord {
        serial: info.serial_hex,
        authority: ISSUING.to_string(),
        msisdn: msisdn.to_string(),
        device_id: device_id.to_string(),
        not_after: Timestamp::from_datetime(info.not_after),
        issued_at: now,
        revoked_at: None,
        revocation_reason: None,
        kind: CertificateKind::Authentication,
    })
}

fn revocation(record: &CertificateRecord) -> Option<Revocation> {
    Some(Revocation {
        serial_hex: record.serial.clone(),
        at: to_chrono(record.revoked_at?),
        reason: record.revocation_reason.and_then(RevocationReason::from_code),
    })
}

fn to_chrono(t: Timestamp) -> chrono::DateTime<chrono::Utc> {
    t.to_datetime().unwrap_or_default()
}

/// What a certificate of `kind` is for.
fn usage(kind: CertificateKind) -> CertificateUse {
    match kind {
        CertificateKind::Authentication => CertificateUse::Authentication,
        CertificateKind::Signing => CertificateUse::Signing,
        CertificateKind::Encryption => CertificateUse::Encryption,
    }
}
