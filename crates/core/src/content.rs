//! What a user is asked to sign, whatever front end asked: a text to approve, a
//! transaction approval (rows), or a document, of which only the SHA-256 digest and the
//! name travel (the document itself stays with the requester; PAdES later).
//!
//! The CMS signed attributes carry the SHA-256 of the content as messageDigest. For text
//! and approvals the content is encapsulated in the CMS; a document's digest is signed
//! with the content detached.

use sha2::{Digest, Sha256};

use crate::dtbd::{Dtbd, TEXT_PLAIN, TXN_APPROVAL};
use crate::transaction::{db_enum, StoredValueError};

/// The MIME type the device API shows for a document request (its data is the name).
pub const DOCUMENT_DIGEST: &str = "application/vnd.mobileid.document-digest";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignContent {
    Text(String),
    TxnApproval(crate::dtbd::TxnApproval),
    Document { name: String, sha256: [u8; 32] },
}

db_enum! {
    /// The kind of a [`SignContent`], as stored and as the device API names it.
    ContentKind, "content kind" {
        Text => "text",
        TxnApproval => "txn_approval",
        Document => "document",
    }
}

impl SignContent {
    pub fn kind(&self) -> ContentKind {
        match self {
            SignContent::Text(_) => ContentKind::Text,
            SignContent::TxnApproval(_) => ContentKind::TxnApproval,
            SignContent::Document { .. } => ContentKind::Document,
        }
    }

    /// The bytes encapsulated in the CMS, or None for a document (detached content).
    pub fn attached(&self) -> Option<Vec<u8>> {
        match self {
            SignContent::Text(text) => Some(text.as_bytes().to_vec()),
            SignContent::TxnApproval(approval) => Some(approval.signed_bytes()),
            SignContent::Document { .. } => None,
        }
    }

    /// The messageDigest signed attribute: SHA-256 of the content.
    pub fn message_digest(&self) -> [u8; 32] {
        match self {
            SignContent::Document { sha256, .. } => *sha256,
            _ => Sha256::digest(self.attached().unwrap_or_default()).into(),
        }
    }

    /// Only a phone app can show rows or a document; a SIM shows text.
    pub fn needs_app(&self) -> bool {
        !matches!(self, SignContent::Text(_))
    }

    /// The legacy device-API pair (`mime_type`, `data`) that phones before `kind` read.
    pub fn to_device(&self) -> (String, String) {
        match self {
            SignContent::Text(text) => (TEXT_PLAIN.to_string(), text.clone()),
            SignContent::TxnApproval(approval) => Dtbd::TxnApproval(approval.clone()).to_wire(),
            SignContent::Document { name, .. } => (DOCUMENT_DIGEST.to_string(), name.clone()),
        }
    }

    /// The stored form: kind, text (the text, the approval's JSON, or the document name)
    /// and, for a document, its digest.
    pub fn to_db(&self) -> (ContentKind, String, Option<Vec<u8>>) {
        match self {
            SignContent::Document { name, sha256 } => (ContentKind::Document, name.clone(), Some(sha256.to_vec())),
            other => (other.kind(), other.to_device().1, None),
        }
    }

    pub fn from_db(kind: ContentKind, text: &str, digest: Option<&[u8]>) -> Result<SignContent, StoredValueError> {
        match kind {
            ContentKind::Text => Ok(SignContent::Text(text.to_string())),
            ContentKind::TxnApproval => match Dtbd::from_wire(TXN_APPROVAL, text) {
                Ok(Dtbd::TxnApproval(approval)) => Ok(SignContent::TxnApproval(approval)),
                _ => Err(StoredValueError::new("transaction approval", text)),
            },
            ContentKind::Document => {
                let sha256 = digest
                    .and_then(|d| <[u8; 32]>::try_from(d).ok())
                    .ok_or_else(|| StoredValueError::new("document digest", format!("{digest:?}")))?;
                Ok(SignContent::Document { name: text.to_string(), sha256 })
            }
        }
    }
}

impl From<Dtbd> for SignContent {
    fn from(dtbd: Dtbd) -> SignContent {
        match dtbd {
            Dtbd::Text(text) => SignContent::Text(text),
            Dtbd::TxnApproval(approval) => SignContent::TxnApproval(approval),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_form_round_trips() {
        let approval =
            Dtbd::parse(Some(TXN_APPROVAL), None, r#"{"type":"Pay","dtbd":[{"key":"To","value":"Bob"}]}"#).unwrap();
        for content in [
            SignContent::Text("Log in?".into()),
            SignContent::from(approval),
            SignContent::Document { name: "contract.pdf".into(), sha256: [7; 32] },
        ] {
            let (kind, text, digest) = content.to_db();
            assert_eq!(SignContent::from_db(kind, &text, digest.as_deref()).unwrap(), content);
        }
        assert!(SignContent::from_db(ContentKind::Document, "x.pdf", Some(&[1, 2])).is_err());
    }

    #[test]
    fn digests_are_of_the_signed_bytes_or_the_document() {
        let text = SignContent::Text("Grüezi".into());
        assert_eq!(text.message_digest().to_vec(), Sha256::digest("Grüezi".as_bytes()).to_vec());
        let doc = SignContent::Document { name: "a.pdf".into(), sha256: [9; 32] };
        assert_eq!(doc.message_digest(), [9; 32]);
        assert_eq!(doc.attached(), None);
        assert!(doc.needs_app() && !text.needs_app());
    }
}
