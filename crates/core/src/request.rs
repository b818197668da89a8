//! Rules shared by every MSS request frame (contract §2, §5.1): messaging
//! mode, timeout, interface versions and the `Instant` timestamp.

use std::time::Duration;

use chrono::{DateTime, FixedOffset, NaiveDateTime, Utc};

use crate::fault::{Fault, FaultCode};

/// Used when a signature request carries no `TimeOut`; Swisscom's
/// recommendation for SIM and what clients send most.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(80);
const MAX_TIMEOUT_SECS: u64 = 300;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessagingMode {
    Synch,
    Asynch,
}

impl MessagingMode {
    /// JSON clients say `asynch`, SOAP clients `asynchClientServer`; both
    /// mean "answer at once and let me poll".
    pub fn parse(raw: &str) -> Result<MessagingMode, Fault> {
        match raw {
            "synch" => Ok(MessagingMode::Synch),
            "asynch" | "asynchClientServer" => Ok(MessagingMode::Asynch),
            "asynchServerServer" => Err(Fault::wrong_param(
                "MessagingMode asynchServerServer (call-back to the AP) is not supported; use synch or asynch",
            )),
            other => Err(Fault::wrong_param(format!("Unknown MessagingMode '{other}'; use synch or asynch"))),
        }
    }
}

/// The transaction's lifetime from `TimeOut`, whole seconds in 1..=300.
/// A blank value counts as absent because some serialisers write "" for an
/// unset optional field.
pub fn parse_timeout(raw: Option<&str>) -> Result<Duration, Fault> {
    let raw = match raw.map(str::trim) {
        None | Some("") => return Ok(DEFAULT_TIMEOUT),
        Some(raw) => raw,
    };
    match raw.parse::<u64>() {
        Ok(secs) if (1..=MAX_TIMEOUT_SECS).contains(&secs) => Ok(Duration::from_secs(secs)),
        _ => Err(Fault::wrong_param(format!(
            "TimeOut '{raw}' is invalid: give whole seconds from 1 to {MAX_TIMEOUT_SECS}"
        ))),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    Signature,
    Status,
    Receipt,
    Profile,
}

/// Accepts the MajorVersion/MinorVersion pairs real clients send (§2.1).
pub fn check_versions(op: Operation, major: &str, minor: &str) -> Result<(), Fault> {
    let pair = (major.trim().parse::<u32>(), minor.trim().parse::<u32>());
    let accepted = matches!(
        (op, pair),
        (Operation::Signature | Operation::Status | Operation::Receipt, (Ok(1), Ok(1 | 2)))
            | (Operation::Profile, (Ok(2), Ok(0)) | (Ok(1), Ok(1)))
    );
    if accepted {
        Ok(())
    } else {
        Err(Fault::of(FaultCode::IncompatibleInterface))
    }
}

/// Reads `AP_Info/@Instant` and checks it against the server clock.
///
/// The timestamp is part of the AP's replay protection, so a value too far
/// from `now` is refused. A value without a zone is read as UTC, which is
/// what every zone-less client observed meant.
pub fn parse_instant(raw: &str, now: DateTime<Utc>, tolerance: chrono::Duration) -> Result<DateTime<Utc>, Fault> {
    let text = raw.trim();
    let instant = DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .or_else(|_| NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f").map(|t| t.and_utc()))
        .map_err(|_| {
            Fault::wrong_param(format!("Instant '{raw}' is not an xs:dateTime such as 2024-07-02T06:53:09.542Z"))
        })?;
    if (instant - now).abs() > tolerance {
        return Err(Fault::wrong_param(format!(
            "Instant '{raw}' differs from the server time {} by more than {} seconds; check the client's clock",
            format_instant_json(now),
            tolerance.num_seconds()
        )));
    }
    Ok(instant)
}

/// The JSON rendering of an instant: UTC with milliseconds.
pub fn format_instant_json(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

/// The SOAP rendering: the server's zone, milliseconds and the offset,
/// e.g. `2015-02-11T10:17:21.000+01:00`.
pub fn format_instant_with_offset(t: DateTime<Utc>, offset: FixedOffset) -> String {
    t.with_timezone(&offset).format("%Y-%m-%dT%H:%M:%S%.3f%:z").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn messaging_modes() {
        assert_eq!(MessagingMode::parse("synch").unwrap(), MessagingMode::Synch);
        assert_eq!(MessagingMode::parse("asynch").unwrap(), MessagingMode::Asynch);
        assert_eq!(MessagingMode::parse("asynchClientServer").unwrap(), MessagingMode::Asynch);
        let callback = MessagingMode::parse("asynchServerServer").unwrap_err();
        assert_eq!(callback.code, FaultCode::WrongParam);
        assert!(callback.detail.contains("not supported"), "{}", callback.detail);
        for raw in ["", "SYNCH", "sync", "async"] {
            let fault = MessagingMode::parse(raw).unwrap_err();
            assert_eq!(fault.code, FaultCode::WrongParam);
            assert!(fault.detail.contains("Unknown MessagingMode"), "{}", fault.detail);
        }
    }

    #[test]
    fn timeouts() {
        assert_eq!(parse_timeout(None).unwrap(), Duration::from_secs(80));
        assert_eq!(parse_timeout(Some("")).unwrap(), Duration::from_secs(80));
        assert_eq!(parse_timeout(Some("1")).unwrap(), Duration::from_secs(1));
        assert_eq!(parse_timeout(Some("60")).unwrap(), Duration::from_secs(60));
        assert_eq!(parse_timeout(Some(" 300 ")).unwrap(), Duration::from_secs(300));
        for raw in ["0", "301", "-5", "80.5", "abc", "99999999999999999999999"] {
            let fault = parse_timeout(Some(raw)).expect_err(raw);
            assert_eq!(fault.code, FaultCode::WrongParam);
            assert!(fault.detail.contains("1 to 300"), "{}", fault.detail);
        }
    }

    #[test]
    fn versions() {
        for op in [Operation::Signature, Operation::Status, Operation::Receipt] {
            assert!(check_versions(op, "1", "1").is_ok());
            assert!(check_versions(op, "1", "2").is_ok());
            for (major, minor) in [("2", "0"), ("1", "0"), ("1", "3"), ("x", "1"), ("", "")] {
                let fault = check_versions(op, major, minor).unwrap_err();
                assert_eq!(fault, Fault::of(FaultCode::IncompatibleInterface));
            }
        }
        assert!(check_versions(Operation::Profile, "2", "0").is_ok());
        assert!(check_versions(Operation::Profile, "1", "1").is_ok());
        for (major, minor) in [("1", "2"), ("2", "1"), ("3", "0"), ("two", "0")] {
            assert_eq!(
                check_versions(Operation::Profile, major, minor).unwrap_err().code,
                FaultCode::IncompatibleInterface
            );
        }
    }

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2024, 7, 2, 6, 53, 9).unwrap()
    }

    fn ten_minutes() -> chrono::Duration {
        chrono::Duration::minutes(10)
    }

    #[test]
    fn instants_in_all_observed_forms() {
        let cases = [
            ("2024-07-02T06:53:09Z", now()),
            ("2024-07-02T06:53:09.542Z", now() + chrono::Duration::milliseconds(542)),
            ("2024-07-02T08:53:09.616+02:00", now() + chrono::Duration::milliseconds(616)),
            ("2024-07-02T06:53:09", now()),
            ("2024-07-02T06:53:09.5", now() + chrono::Duration::milliseconds(500)),
            (" 2024-07-02T06:53:09Z ", now()),
        ];
        for (raw, expected) in cases {
            assert_eq!(parse_instant(raw, now(), ten_minutes()).unwrap(), expected, "{raw}");
        }
    }

    #[test]
    fn unparsable_instants() {
        for raw in ["", "yesterday", "2024-07-02", "2024-13-02T06:53:09Z", "1720000000"] {
            let fault = parse_instant(raw, now(), ten_minutes()).expect_err(raw);
            assert_eq!(fault.code, FaultCode::WrongParam);
            assert!(fault.detail.contains("xs:dateTime"), "{}", fault.detail);
        }
    }

    #[test]
    fn skewed_instants() {
        assert!(parse_instant("2024-07-02T07:03:09Z", now(), ten_minutes()).is_ok());
        assert!(parse_instant("2024-07-02T06:43:09Z", now(), ten_minutes()).is_ok());
        for raw in ["2024-07-02T07:03:10Z", "2024-07-02T06:43:08Z", "2015-02-11T09:17:21Z"] {
            let fault = parse_instant(raw, now(), ten_minutes()).expect_err(raw);
            assert_eq!(fault.code, FaultCode::WrongParam);
            assert!(fault.detail.contains("clock"), "{}", fault.detail);
            assert!(fault.detail.contains("600 seconds"), "{}", fault.detail);
        }
    }

    #[test]
    fn instant_formats() {
        let t = Utc.with_ymd_and_hms(2015, 1, 1, 11, 0, 0).unwrap();
        assert_eq!(format_instant_json(t), "2015-01-01T11:00:00.000Z");
        let t = Utc.with_ymd_and_hms(2015, 2, 11, 9, 17, 21).unwrap() + chrono::Duration::milliseconds(42);
        assert_eq!(format_instant_json(t), "2015-02-11T09:17:21.042Z");
        let cet = FixedOffset::east_opt(3600).unwrap();
        assert_eq!(format_instant_with_offset(t, cet), "2015-02-11T10:17:21.042+01:00");
    }
}
