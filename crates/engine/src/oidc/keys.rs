//! The provider's signing keys: kept in the store sealed under the master key, so every
//! node signs with the same keys and publishes the same JWKS.
//!
//! Rotation needs no restart. `mobileid oidc-key rotate` adds a key for each algorithm in
//! use that is published at once but signs only from [`PUBLISH_AHEAD`] later, so relying
//! parties that cache the JWKS know it before they meet it; the keys it replaces stay
//! published until the longest-lived token they signed has expired. Nodes read the keys
//! again every [`RELOAD_EVERY`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mobileid_core::Timestamp;
use mobileid_crypto::jose::{JwsAlgorithm, SigningKey};
use mobileid_store::OidcKeyRecord;

use crate::{Engine, EngineError};

/// How long a new key is published before it signs.
pub const PUBLISH_AHEAD: Duration = Duration::from_secs(3600);
const RELOAD_EVERY: Duration = Duration::from_secs(10);

/// The keys as last read from the store.
#[derive(Default)]
pub(crate) struct KeyRing {
    loaded: Mutex<Option<(Timestamp, Arc<Keys>)>>,
}

pub(crate) struct Keys {
    /// Every key not retired, as public JWKs.
    published: Vec<serde_json::Value>,
    /// The same as the JWKS document, serialised once per reload.
    jwks: bytes::Bytes,
    /// Per algorithm, the newest key whose signing time has come.
    signing: HashMap<JwsAlgorithm, Arc<SigningKey>>,
}

fn key_context(kid: &str) -> Vec<u8> {
    format!("mobileid oidc key {kid}").into_bytes()
}

impl Engine {
    /// The JWKS document, `{"keys": [...]}`, as JSON text.
    pub async fn oidc_jwks(&self) -> Result<bytes::Bytes, EngineError> {
        Ok(self.oidc_keys().await?.jwks.clone())
    }

    /// Every published key, as a public JWK.
    pub(crate) async fn oidc_public_keys(&self) -> Result<Vec<serde_json::Value>, EngineError> {
        Ok(self.oidc_keys().await?.published.clone())
    }

    /// The key that signs with `alg` now; the first use of an algorithm makes its key.
    pub(crate) async fn oidc_signing_key(&self, alg: JwsAlgorithm) -> Result<Arc<SigningKey>, EngineError> {
        if let Some(key) = self.oidc_keys().await?.signing.get(&alg) {
            return Ok(key.clone());
        }
        self.add_oidc_key(alg, self.now()).await?;
        self.forget_oidc_keys();
        self.oidc_keys()
            .await?
            .signing
            .get(&alg)
            .cloned()
            .ok_or_else(|| EngineError::Invalid(format!("no {} key after making one", alg.name())))
    }

    /// Starts a rotation: a new key per algorithm in use, signing from `PUBLISH_AHEAD` on;
    /// the keys it replaces are retired once every token they signed has expired. Returns
    /// the new key ids.
    pub async fn rotate_oidc_keys(&self) -> Result<Vec<String>, EngineError> {
        let now = self.now();
        let current = self.store().oidc_keys(now).await?;
        let algorithms: Vec<JwsAlgorithm> =
            JwsAlgorithm::ALL.into_iter().filter(|alg| current.iter().any(|k| k.alg == alg.name())).collect();
        let starts = now.plus(PUBLISH_AHEAD);
        let longest = self.config().oidc.access_ttl.max(self.config().oidc.id_token_ttl);
        let mut added = Vec::new();
        for alg in if algorithms.is_empty() { vec![JwsAlgorithm::Rs256] } else { algorithms } {
            added.push(self.add_oidc_key(alg, starts).await?);
            for old in current.iter().filter(|k| k.alg == alg.name() && k.retired_at.is_none()) {
                self.store().retire_oidc_key(&old.kid, starts.plus(longest)).await?;
            }
        }
        self.forget_oidc_keys();
        Ok(added)
    }

    async fn add_oidc_key(&self, alg: JwsAlgorithm, signs_from: Timestamp) -> Result<String, EngineError> {
        let key = tokio::task::spawn_blocking(move || SigningKey::generate(alg))
            .await
            .map_err(|e| EngineError::Invalid(format!("key generation failed: {e}")))??;
        let record = OidcKeyRecord {
            kid: key.kid().to_string(),
            alg: alg.name().to_string(),
            sealed_key: self.master_key().seal(key.pkcs8_der(), &key_context(key.kid())),
            public_jwk: key.public_jwk().to_string(),
            created_at: self.now(),
            signs_from,
            retired_at: None,
        };
        self.store().insert_oidc_key(&record).await?;
        tracing::info!(kid = key.kid(), alg = alg.name(), "made an OpenID signing key");
        Ok(record.kid)
    }

    fn forget_oidc_keys(&self) {
        *self.inner.oidc_keys.loaded.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }

    async fn oidc_keys(&self) -> Result<Arc<Keys>, EngineError> {
        let now = self.now();
        if let Some((at, keys)) = &*self.inner.oidc_keys.loaded.lock().unwrap_or_else(|e| e.into_inner()) {
            if now < at.plus(RELOAD_EVERY) {
                return Ok(keys.clone());
            }
        }
        let records = self.store().oidc_keys(now).await?;
        let mut published = Vec::new();
        let mut signing: HashMap<JwsAlgorithm, (Timestamp, Arc<SigningKey>)> = HashMap::new();
        for record in records {
            let jwk: serde_json::Value = serde_json::from_str(&record.public_jwk)
                .map_err(|e| EngineError::Invalid(format!("key {}: {e}", record.kid)))?;
            published.push(jwk);
            let Some(alg) = JwsAlgorithm::parse(&record.alg) else { continue };
            if record.signs_from > now || signing.get(&alg).is_some_and(|(from, _)| *from > record.signs_from) {
                continue;
            }
            let der = self.master_key().open(&record.sealed_key, &key_context(&record.kid))?;
            signing.insert(alg, (record.signs_from, Arc::new(SigningKey::from_pkcs8(alg, &der)?)));
        }
        let jwks = serde_json::to_vec(&serde_json::json!({ "keys": published }))
            .map_err(|e| EngineError::Invalid(format!("JWKS: {e}")))?;
        let signing = signing.into_iter().map(|(alg, (_, key))| (alg, key)).collect();
        let keys = Arc::new(Keys { published, jwks: jwks.into(), signing });
        *self.inner.oidc_keys.loaded.lock().unwrap_or_else(|e| e.into_inner()) = Some((now, keys.clone()));
        Ok(keys)
    }
}
