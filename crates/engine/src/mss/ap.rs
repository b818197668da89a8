//! Application providers: who is calling, and what they may ask for.

use mobileid_core::{Fault, FaultCode, SignatureProfile, Timestamp};
use mobileid_store::ApRecord;

/// How the caller proved who it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientIdentity {
    /// SHA-256 fingerprint (hex) of the TLS client certificate.
    Certificate(String),
    /// No client certificate: only on the plain-HTTP sandbox listener, where the AP_ID alone
    /// names the AP. Off unless the operator turns it on.
    Sandbox,
}

/// An additional-service permission an AP can hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    Geofencing,
    App2App,
    SubscriberInfo,
    Robots,
}

impl Permission {
    pub const ALL: [Permission; 4] =
        [Permission::Geofencing, Permission::App2App, Permission::SubscriberInfo, Permission::Robots];

    pub fn token(self) -> &'static str {
        match self {
            Permission::Geofencing => "geofencing",
            Permission::App2App => "app2app",
            Permission::SubscriberInfo => "subscriberInfo",
            Permission::Robots => "robots",
        }
    }

    pub fn parse(token: &str) -> Option<Permission> {
        Permission::ALL.into_iter().find(|p| p.token().eq_ignore_ascii_case(token))
    }
}

/// An AP with its settings parsed.
#[derive(Debug, Clone)]
pub struct Ap {
    pub ap_id: String,
    pub name: String,
    pub dtbd_prefix: String,
    pub allowed_profiles: Vec<SignatureProfile>,
    pub auth_profile1_maps_to: SignatureProfile,
    pub permissions: Vec<Permission>,
}

impl Ap {
    pub fn from_record(record: &ApRecord) -> Result<Ap, Fault> {
        let bad = |what: &str| Fault::internal(format!("AP {} has an invalid {what} setting", record.ap_id));
        let allowed_profiles = record
            .allowed_profiles
            .split_whitespace()
            .map(SignatureProfile::parse_uri)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| bad("allowed profiles"))?;
        let auth_profile1_maps_to =
            SignatureProfile::parse_uri(&record.auth_profile1_maps_to).map_err(|_| bad("AuthProfile1 mapping"))?;
        let permissions = record.services.split_whitespace().filter_map(Permission::parse).collect();
        Ok(Ap {
            ap_id: record.ap_id.clone(),
            name: record.name.clone(),
            dtbd_prefix: record.dtbd_prefix.clone(),
            allowed_profiles,
            auth_profile1_maps_to,
            permissions,
        })
    }

    pub fn to_record(&self, created_at: Timestamp) -> ApRecord {
        ApRecord {
            ap_id: self.ap_id.clone(),
            name: self.name.clone(),
            dtbd_prefix: self.dtbd_prefix.clone(),
            allowed_profiles: self.allowed_profiles.iter().map(|p| p.uri()).collect::<Vec<_>>().join(" "),
            auth_profile1_maps_to: self.auth_profile1_maps_to.uri().to_string(),
            services: self.permissions.iter().map(|p| p.token()).collect::<Vec<_>>().join(" "),
            created_at,
        }
    }

    pub fn has(&self, permission: Permission) -> bool {
        self.permissions.contains(&permission)
    }

    /// 109 unless the AP may request this profile.
    pub fn check_profile(&self, profile: SignatureProfile) -> Result<(), Fault> {
        if self.allowed_profiles.contains(&profile) {
            Ok(())
        } else {
            Err(Fault::new(
                FaultCode::UnsupportedProfile,
                format!(
                    "The user does not support this Mobile Signature Profile: this AP may not use {}",
                    profile.uri()
                ),
            ))
        }
    }
}

impl crate::Engine {
    /// The AP registered as `ap_id` (with `fingerprint` among its certificates, where one
    /// is given), as read at most [`crate::recent::RELOAD_EVERY`] ago: every MSS request
    /// and every delivery to a phone looks its AP up.
    pub(crate) async fn registered_ap(
        &self,
        ap_id: &str,
        fingerprint: Option<&str>,
    ) -> Result<Option<ApRecord>, mobileid_store::StoreError> {
        let key = (ap_id.to_string(), fingerprint.map(str::to_string));
        let now = self.now();
        if let Some(ap) = self.inner.aps.get(&key, now) {
            return Ok(Some(ap));
        }
        let ap = match fingerprint {
            Some(fingerprint) => self.store().find_ap_for_certificate(ap_id, fingerprint).await?,
            None => self.store().find_ap(ap_id).await?,
        };
        self.inner.aps.put(key, ap.as_ref(), now);
        Ok(ap)
    }
}
