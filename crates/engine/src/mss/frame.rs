//! The checks every MSS request goes through first, in the contract's order (§11.1):
//! the AP (104), the versions (108), required fields (102), then field syntax (101).

use mobileid_core::clip::Clipped;
use mobileid_core::request::{check_versions, parse_instant, Operation};
use mobileid_core::{ApTransId, Fault};

use super::ap::{Ap, ClientIdentity};
use super::messages::{Echo, FrameInput};
use super::{internal, Mss};

impl Mss<'_> {
    pub(crate) async fn check_frame(
        &self,
        operation: Operation,
        identity: &ClientIdentity,
        frame: &FrameInput,
    ) -> Result<(Ap, Echo), Fault> {
        let ap = self.authenticate_ap(identity, frame.ap_id.as_deref()).await?;
        let (Some(major), Some(minor)) = (frame.major_version.as_deref(), frame.minor_version.as_deref()) else {
            return Err(Fault::missing_param("MajorVersion and MinorVersion are required"));
        };
        check_versions(operation, major, minor)?;
        let ap_trans_id = frame.ap_trans_id.as_deref().ok_or_else(|| Fault::missing_param("AP_TransID is missing"))?;
        let instant = frame.instant.as_deref().ok_or_else(|| Fault::missing_param("Instant is missing"))?;
        let ap_trans_id = ApTransId::parse(ap_trans_id)?;
        let now = self.engine.now().to_datetime().ok_or_else(|| internal("the clock is out of range"))?;
        let instant = parse_instant(instant, now, self.engine.config().instant_tolerance)?;
        let echo = Echo {
            ap_id: ap.ap_id.clone(),
            ap_pwd: frame.ap_pwd.clone(),
            ap_trans_id: ap_trans_id.as_str().to_string(),
            instant,
        };
        Ok((ap, echo))
    }

    /// 104 unless the client certificate is registered for the AP_ID (AP_PWD is ignored).
    async fn authenticate_ap(&self, identity: &ClientIdentity, ap_id: Option<&str>) -> Result<Ap, Fault> {
        let ap_id = ap_id.filter(|id| !id.is_empty()).ok_or_else(Fault::wrong_ssl_credentials)?;
        let record = match identity {
            ClientIdentity::Certificate(fingerprint) => self.engine.registered_ap(ap_id, Some(fingerprint)).await,
            ClientIdentity::Sandbox => self.engine.registered_ap(ap_id, None).await,
        }
        .map_err(internal)?;
        match record {
            Some(record) => Ap::from_record(&record),
            None => {
                tracing::info!(ap_id = %Clipped(ap_id), ?identity, "refused: client certificate not registered for this AP_ID");
                Err(Fault::wrong_ssl_credentials())
            }
        }
    }
}
