//! The geofencing service (contract §7.2): the final answer carries where the phone was
//! when it approved, as it reported; a policy sent with the request is enforced, and a
//! location that breaks it (or none at all) is fault 450.

use mobileid_core::device_api::DeviceLocation;
use mobileid_core::{Fault, FaultCode, Timestamp};
use serde::{Deserialize, Serialize};

use super::messages::{GeofencingInput, ServiceResponse};

/// How the policy is kept among the transaction's service tokens: `geofencing-policy=`
/// and the policy as JSON, which has no spaces (countries are two letters, the rest
/// numbers).
const POLICY_TOKEN: &str = "geofencing-policy=";

/// A policy the AP sent with its request; every field is optional.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct Policy {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    countries_allowed: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    countries_refused: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    min_device_confidence: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    min_location_confidence: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    max_age_minutes: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    max_accuracy_meters: Option<f64>,
}

impl Policy {
    /// The request's policy, or 101 naming the field that is not what the contract says.
    pub(crate) fn parse(input: &GeofencingInput) -> Result<Policy, Fault> {
        let countries = |field: &str, values: &[String]| -> Result<Vec<String>, Fault> {
            values
                .iter()
                .flat_map(|v| v.split([',', ' ']))
                .filter(|c| !c.is_empty())
                .map(|c| {
                    let upper = c.to_ascii_uppercase();
                    if upper.len() == 2 && upper.bytes().all(|b| b.is_ascii_uppercase()) {
                        Ok(upper)
                    } else {
                        Err(Fault::wrong_param(format!("GeoFencingRequest {field}: {c:?} is not an ISO 3166 country")))
                    }
                })
                .collect()
        };
        let confidence = |field: &str, value: &Option<String>| -> Result<Option<f64>, Fault> {
            value
                .as_deref()
                .map(|v| match v.trim().parse::<f64>() {
                    Ok(n) if (0.0..=1.0).contains(&n) => Ok(n),
                    _ => {
                        Err(Fault::wrong_param(format!("GeoFencingRequest {field}: {v:?} is not a number from 0 to 1")))
                    }
                })
                .transpose()
        };
        let max_age_minutes = input
            .max_timestamp_minutes
            .as_deref()
            .map(|v| {
                v.trim().parse::<u64>().map_err(|_| {
                    Fault::wrong_param(format!("GeoFencingRequest maxtimestampminutes: {v:?} is not a whole number"))
                })
            })
            .transpose()?;
        let max_accuracy_meters = input
            .max_accuracy_meters
            .as_deref()
            .map(|v| match v.trim().parse::<f64>() {
                Ok(n) if n >= 0.0 && n.is_finite() => Ok(n),
                _ => Err(Fault::wrong_param(format!("GeoFencingRequest maxaccuracymeters: {v:?} is not a distance"))),
            })
            .transpose()?;
        Ok(Policy {
            countries_allowed: countries("countrywhitelist", &input.country_whitelist)?,
            countries_refused: countries("countryblacklist", &input.country_blacklist)?,
            min_device_confidence: confidence("mindeviceconfidence", &input.min_device_confidence)?,
            min_location_confidence: confidence("minlocationconfidence", &input.min_location_confidence)?,
            max_age_minutes,
            max_accuracy_meters,
        })
    }

    /// The service token that keeps this policy with the transaction.
    pub(crate) fn token(&self) -> String {
        format!("{POLICY_TOKEN}{}", serde_json::to_string(self).unwrap_or_default())
    }

    /// The policy among a transaction's service tokens, if it has one.
    pub(crate) fn from_tokens(tokens: &[&str]) -> Option<Policy> {
        tokens.iter().find_map(|t| t.strip_prefix(POLICY_TOKEN)).and_then(|json| serde_json::from_str(json).ok())
    }

    /// Whether a location taken at `taken` satisfies the policy at `now`.
    fn allows(&self, location: &DeviceLocation, taken: Timestamp, now: Timestamp) -> bool {
        let country = location.country.to_ascii_uppercase();
        let age_minutes = (now.as_millis() - taken.as_millis()).max(0) / 60_000;
        (self.countries_allowed.is_empty() || self.countries_allowed.contains(&country))
            && !self.countries_refused.contains(&country)
            && self.min_device_confidence.is_none_or(|min| location.device_confidence >= min)
            && self.min_location_confidence.is_none_or(|min| location.location_confidence >= min)
            && self.max_age_minutes.is_none_or(|max| u64::try_from(age_minutes).unwrap_or(u64::MAX) <= max)
            && self.max_accuracy_meters.is_none_or(|max| location.accuracy <= max)
    }
}

/// The geofencing part of a successful final answer, or fault 450 when the request's
/// policy is broken. `permitted`: the AP may use geofencing (else in-band 122).
pub(crate) fn answer(
    permitted: bool,
    policy: Option<&Policy>,
    reported: Option<&DeviceLocation>,
    taken: Timestamp,
    now: Timestamp,
) -> Result<ServiceResponse, Fault> {
    if !permitted {
        return Ok(ServiceResponse::GeofencingError { code: 122, message: "AP not allowed to use geofencing".into() });
    }
    match (reported, policy) {
        (Some(location), Some(policy)) if !policy.allows(location, taken, now) => Err(violation()),
        (None, Some(_)) => Err(violation()),
        (Some(location), _) => Ok(reported_location(location, taken)),
        (None, None) => {
            Ok(ServiceResponse::GeofencingError { code: 200, message: "No location returned by the App".into() })
        }
    }
}

fn violation() -> Fault {
    Fault::of(FaultCode::GeofencingPolicyViolation)
}

/// What the phone reported, in the contract's notation: accuracy in whole metres,
/// confidences like `0.75` (`{:?}` writes a float's shortest exact form and keeps `.0`),
/// the time in RFC 3339 with milliseconds.
fn reported_location(location: &DeviceLocation, taken: Timestamp) -> ServiceResponse {
    ServiceResponse::Geofencing {
        country: location.country.clone(),
        accuracy: format!("{}", location.accuracy.max(0.0).round() as u64),
        device_confidence: format!("{:?}", location.device_confidence),
        location_confidence: format!("{:?}", location.location_confidence),
        timestamp: taken
            .to_datetime()
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, false))
            .unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input() -> GeofencingInput {
        GeofencingInput {
            country_whitelist: vec!["CH,de".into()],
            country_blacklist: vec![],
            min_device_confidence: Some("0.7".into()),
            min_location_confidence: Some("0.7".into()),
            max_timestamp_minutes: Some("10".into()),
            max_accuracy_meters: Some("1000".into()),
        }
    }

    fn at(country: &str, accuracy: f64, confidence: f64) -> DeviceLocation {
        DeviceLocation {
            country: country.into(),
            accuracy,
            device_confidence: confidence,
            location_confidence: confidence,
        }
    }

    const T: Timestamp = Timestamp::from_millis(1_800_000_000_000);

    #[test]
    fn a_policy_is_enforced_field_by_field() {
        let policy = Policy::parse(&input()).unwrap();
        assert!(policy.allows(&at("CH", 16.0, 0.8), T, T));
        assert!(policy.allows(&at("DE", 1000.0, 0.7), T, T.plus(std::time::Duration::from_secs(600))));
        assert!(!policy.allows(&at("FR", 16.0, 0.8), T, T), "not on the list");
        assert!(!policy.allows(&at("CH", 1001.0, 0.8), T, T), "too vague");
        assert!(!policy.allows(&at("CH", 16.0, 0.69), T, T), "too little confidence");
        assert!(!policy.allows(&at("CH", 16.0, 0.8), T, T.plus(std::time::Duration::from_secs(660))), "too old");
        let refused =
            Policy::parse(&GeofencingInput { country_blacklist: vec!["CH".into()], ..Default::default() }).unwrap();
        assert!(!refused.allows(&at("CH", 0.0, 1.0), T, T));
        assert!(refused.allows(&at("AT", 0.0, 1.0), T, T));
    }

    #[test]
    fn a_policy_travels_with_the_transaction_as_one_token() {
        let policy = Policy::parse(&input()).unwrap();
        let token = policy.token();
        assert!(!token.contains(' '), "{token}");
        assert_eq!(Policy::from_tokens(&["geofencing", &token, "validate"]), Some(policy));
        assert_eq!(Policy::from_tokens(&["geofencing"]), None);
    }

    #[test]
    fn malformed_policies_are_wrong_parameters() {
        for bad in [
            GeofencingInput { country_whitelist: vec!["Switzerland".into()], ..Default::default() },
            GeofencingInput { min_device_confidence: Some("high".into()), ..Default::default() },
            GeofencingInput { min_location_confidence: Some("1.5".into()), ..Default::default() },
            GeofencingInput { max_timestamp_minutes: Some("-1".into()), ..Default::default() },
            GeofencingInput { max_accuracy_meters: Some("far".into()), ..Default::default() },
        ] {
            let fault = Policy::parse(&bad).unwrap_err();
            assert_eq!(fault.code, FaultCode::WrongParam, "{bad:?}");
            assert!(fault.detail.contains("GeoFencingRequest"), "{fault:?}");
        }
    }

    #[test]
    fn the_answer_follows_permission_report_and_policy() {
        let policy = Policy::parse(&input()).unwrap();
        let here = at("CH", 16.4, 0.75);
        assert!(matches!(
            answer(false, Some(&policy), Some(&here), T, T),
            Ok(ServiceResponse::GeofencingError { code: 122, .. })
        ));
        assert!(matches!(answer(true, None, None, T, T), Ok(ServiceResponse::GeofencingError { code: 200, .. })));
        assert_eq!(answer(true, Some(&policy), None, T, T).unwrap_err().code, FaultCode::GeofencingPolicyViolation);
        assert_eq!(
            answer(true, Some(&policy), Some(&at("FR", 1.0, 1.0)), T, T).unwrap_err().code,
            FaultCode::GeofencingPolicyViolation
        );
        let Ok(ServiceResponse::Geofencing { country, accuracy, device_confidence, location_confidence, timestamp }) =
            answer(true, Some(&policy), Some(&here), T, T)
        else {
            panic!("a location")
        };
        assert_eq!((country.as_str(), accuracy.as_str()), ("CH", "16"));
        assert_eq!((device_confidence.as_str(), location_confidence.as_str()), ("0.75", "0.75"));
        assert!(timestamp.ends_with("+00:00") && timestamp.contains('.'), "{timestamp}");
    }
}
