//! Access and refresh tokens. Neither has a row of its own: an access token names its
//! grant and its expiry, a refresh token its grant and the generation of the grant it
//! continues, and a keyed MAC over either makes it unforgeable. A token is good only
//! while its grant lives (revoking deletes the grant); an access token until it expires;
//! a refresh token while its generation is the grant's current one, and a refresh moves
//! the grant on (see [`mobileid_store::Store::rotate_oidc_grant`]).
//!
//! Text: `at.<grant>.<expiry in seconds>.<tag>` and `rt.<grant>.<generation>.<tag>`,
//! where the tag is base64url(keyed hash of everything before it).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;

use super::client::equal_in_constant_time;
use crate::Engine;

const PURPOSE: &[u8] = b"oidc bearer token";
/// Longer than any token we make; longer ones are not even hashed.
const MAX_LENGTH: usize = 256;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Bearer {
    Access { grant_id: String, expires: i64 },
    Refresh { grant_id: String, generation: i64 },
}

impl Bearer {
    pub(crate) fn grant_id(&self) -> &str {
        match self {
            Bearer::Access { grant_id, .. } | Bearer::Refresh { grant_id, .. } => grant_id,
        }
    }

    fn body(&self) -> String {
        match self {
            Bearer::Access { grant_id, expires } => format!("at.{grant_id}.{expires}"),
            Bearer::Refresh { grant_id, generation } => format!("rt.{grant_id}.{generation}"),
        }
    }
}

impl Engine {
    pub(crate) fn mint(&self, bearer: &Bearer) -> String {
        let body = bearer.body();
        let tag = self.bearer_tag(&body);
        format!("{body}.{tag}")
    }

    /// The token's meaning, if we made it; nothing about whether its grant still lives.
    pub(crate) fn read_bearer(&self, token: &str) -> Option<Bearer> {
        if token.len() > MAX_LENGTH {
            return None;
        }
        let (body, tag) = token.rsplit_once('.')?;
        if !equal_in_constant_time(tag.as_bytes(), self.bearer_tag(body).as_bytes()) {
            return None;
        }
        let mut parts = body.splitn(3, '.');
        let (kind, grant_id, number) = (parts.next()?, parts.next()?.to_string(), parts.next()?.parse().ok()?);
        match kind {
            "at" => Some(Bearer::Access { grant_id, expires: number }),
            "rt" => Some(Bearer::Refresh { grant_id, generation: number }),
            _ => None,
        }
    }

    fn bearer_tag(&self, body: &str) -> String {
        URL_SAFE_NO_PAD.encode(self.master_key().keyed_hash(PURPOSE, body.as_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn engine() -> (Engine, tempfile::TempDir) {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("b.db").display());
        let store = mobileid_store::Store::connect(&url).await.expect("store");
        let engine = Engine::start(store, mobileid_crypto::MasterKey::generate(), crate::EngineConfig::default())
            .await
            .expect("engine");
        (engine, dir)
    }

    #[tokio::test]
    async fn tokens_read_back_only_as_minted() {
        let (engine, _dir) = engine().await;
        let access = Bearer::Access { grant_id: "g-1_x".into(), expires: 1_700_000_000 };
        let refresh = Bearer::Refresh { grant_id: "g-1_x".into(), generation: 3 };
        for bearer in [&access, &refresh] {
            let token = engine.mint(bearer);
            assert_eq!(engine.read_bearer(&token).as_ref(), Some(bearer));
            // Any change to what it says, or to its tag, and it is nobody's token.
            let forged = token.replacen(".3.", ".4.", 1).replacen(".1700000000.", ".1800000000.", 1);
            assert_eq!(engine.read_bearer(&forged), None);
            let (body, tag) = token.rsplit_once('.').unwrap();
            let other_tag = if tag.starts_with('A') { tag.replacen('A', "B", 1) } else { format!("A{}", &tag[1..]) };
            assert_eq!(engine.read_bearer(&format!("{body}.{other_tag}")), None);
        }
        // An access token's text cannot be passed off as a refresh token, or the reverse.
        let token = engine.mint(&access);
        assert_eq!(engine.read_bearer(&token.replacen("at.", "rt.", 1)), None);
        assert_eq!(engine.read_bearer(""), None);
        assert_eq!(engine.read_bearer(&"a.".repeat(200)), None);
    }

    #[tokio::test]
    async fn another_provider_s_tokens_are_not_ours() {
        let (one, _a) = engine().await;
        let (other, _b) = engine().await;
        let token = one.mint(&Bearer::Refresh { grant_id: "g".into(), generation: 0 });
        assert_eq!(other.read_bearer(&token), None);
    }
}
