//! The evidence records of identity verifications: one per decision, saying who, when,
//! which terms version, which checks passed with their values (the MRZ's fields and
//! check digits), who decided, and the digests of the images (the images themselves are
//! deleted after the retention period; the record stays).
//!
//! The records are hash-chained (`mobileid_core::evidence`), and exported for an auditor
//! as one JWS signed with the OpenID provider's current key (RS256, verifiable with the
//! published JWKS).

use mobileid_core::evidence::chain_hash;
use mobileid_core::Timestamp;
use mobileid_crypto::jose::JwsAlgorithm;
use mobileid_store::{ImageDigest, VerificationRecord, GENESIS};
use serde_json::{json, Value};

use super::review::ProviderEvent;
use crate::{Engine, EngineError};

/// Where the chain is broken: the first record whose hash or link does not hold.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the evidence chain is broken at record {seq}: {what}")]
pub struct ChainBreak {
    pub seq: i64,
    pub what: &'static str,
}

impl Engine {
    /// Checks the whole chain; answers how many records it holds.
    pub async fn check_evidence_chain(&self) -> Result<Result<usize, ChainBreak>, EngineError> {
        let records = self.store().evidence_records().await?;
        let mut prev = GENESIS.to_string();
        for (index, record) in records.iter().enumerate() {
            let expected_seq = index as i64 + 1;
            if record.seq != expected_seq {
                return Ok(Err(ChainBreak { seq: expected_seq, what: "a record is missing" }));
            }
            if record.prev_hash != prev {
                return Ok(Err(ChainBreak { seq: record.seq, what: "it does not follow the record before" }));
            }
            if chain_hash(&record.prev_hash, &record.body) != record.hash {
                return Ok(Err(ChainBreak { seq: record.seq, what: "its content has changed" }));
            }
            prev = record.hash.clone();
        }
        Ok(Ok(records.len()))
    }

    /// Every evidence record as one signed JSON document (a JWS), for an auditor. The chain
    /// is checked first: a broken chain is not signed.
    pub async fn export_evidence(&self) -> Result<String, EngineError> {
        if let Err(broken) = self.check_evidence_chain().await? {
            return Err(EngineError::Invalid(broken.to_string()));
        }
        let records: Vec<Value> = self
            .store()
            .evidence_records()
            .await?
            .into_iter()
            .map(|r| {
                json!({
                    "seq": r.seq,
                    "verification_id": r.verification_id,
                    "recorded_at": rfc3339(r.recorded_at),
                    "body": serde_json::from_str::<Value>(&r.body).unwrap_or(Value::String(r.body.clone())),
                    "body_text": r.body,
                    "prev_hash": r.prev_hash,
                    "hash": r.hash,
                })
            })
            .collect();
        let payload = json!({
            "iss": self.oidc_issuer(),
            "iat": self.now().as_millis() / 1000,
            "chain": "sha256(prev_hash || body_text)",
            "records": records,
        });
        let key = self.oidc_signing_key(JwsAlgorithm::Rs256).await?;
        let signed = self.compute(move || key.sign_jwt(&payload, Some("evidence+jwt"))).await;
        Ok(signed.map_err(|e| EngineError::Invalid(format!("signing: {e}")))??)
    }

    /// Deletes the images kept longer than the retention period; answers how many.
    pub async fn purge_verification_images(&self) -> Result<u64, EngineError> {
        let cutoff = self.now().minus(self.config().identity.image_retention);
        Ok(self.store().delete_verification_images_before(cutoff).await?)
    }
}

/// The evidence of a decided verification (canonical JSON: keys sorted).
pub(crate) fn evidence_body(
    decided: &VerificationRecord,
    images: &[ImageDigest],
    event: Option<&ProviderEvent>,
) -> String {
    let mrz: Value = decided.mrz.as_deref().and_then(|m| serde_json::from_str(m).ok()).unwrap_or(Value::Null);
    let checks: Value = decided.checks.as_deref().and_then(|c| serde_json::from_str(c).ok()).unwrap_or(json!([]));
    let body = json!({
        "verification_id": decided.verification_id,
        "msisdn": decided.msisdn,
        "stated_name": decided.stated_name,
        "started_at": rfc3339(decided.created_at),
        "terms": { "version": decided.terms_version, "accepted_at": decided.terms_accepted_at.map(rfc3339) },
        "document_type": decided.document_type,
        "mrz": { "source": decided.mrz_source, "zone": mrz },
        "checks": checks,
        "images": images.iter().map(|i| json!({
            "kind": i.kind, "content_type": i.content_type, "sha256": i.sha256, "size": i.size,
        })).collect::<Vec<_>>(),
        "provider": event.map(|e| json!({ "name": e.provider, "event_id": e.event_id, "result": e.result })),
        "decision": {
            "outcome": decided.state,
            "by": decided.decided_by,
            "at": decided.decided_at.map(rfc3339),
            "reason": decided.reason,
            "given_names": decided.given_names,
            "surname": decided.surname,
        },
    });
    body.to_string()
}

fn rfc3339(at: Timestamp) -> Option<String> {
    at.to_datetime().map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
}
