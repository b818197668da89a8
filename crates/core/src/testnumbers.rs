//! Swisscom's public test numbers (contract §12): MSISDNs that always answer
//! a given fault, and robot users that always sign. Client test suites rely
//! on them, so they behave the same on every installation.

use crate::fault::FaultCode;
use crate::msisdn::Msisdn;

/// Robot user that always succeeds with an EC key.
pub const ROBOT_EC: &str = "41700092501";
/// Robot user that always succeeds with an RSA key.
pub const ROBOT_RSA: &str = "41700092502";

/// `41000092` followed by a three-digit fault code.
const FAULT_NUMBER_PREFIX: &str = "41000092";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RobotKey {
    Ec,
    Rsa,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TestBehaviour {
    /// Always answers this fault, with the code's default detail.
    Fault(FaultCode),
    /// Always signs, with this kind of key.
    Robot(RobotKey),
}

pub fn classify(msisdn: &Msisdn) -> Option<TestBehaviour> {
    match msisdn.normalized() {
        ROBOT_EC => return Some(TestBehaviour::Robot(RobotKey::Ec)),
        ROBOT_RSA => return Some(TestBehaviour::Robot(RobotKey::Rsa)),
        _ => {}
    }
    let code = msisdn.normalized().strip_prefix(FAULT_NUMBER_PREFIX)?;
    if code.len() != 3 {
        return None;
    }
    // 450 postdates the documented test range and has no test number.
    FaultCode::from_number(code.parse().ok()?)
        .filter(|code| *code != FaultCode::GeofencingPolicyViolation)
        .map(TestBehaviour::Fault)
}

/// Faults that depend on the user appear where a real one would: at the end
/// of a sync wait, or on an async status query. Request-level faults fire at once.
pub fn fires_late(code: FaultCode) -> bool {
    matches!(
        code,
        FaultCode::ExpiredTransaction
            | FaultCode::OtaError
            | FaultCode::UserCancel
            | FaultCode::PinNrBlocked
            | FaultCode::PbSignatureProcess
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn classify_raw(raw: &str) -> Option<TestBehaviour> {
        classify(&Msisdn::parse(raw).unwrap())
    }

    #[test]
    fn fault_numbers() {
        for n in [101, 102, 103, 104, 105, 107, 108, 109, 208, 209, 401, 402, 403, 404, 406, 422, 900] {
            let code = FaultCode::from_number(n).unwrap();
            assert_eq!(classify_raw(&format!("+41000092{n}")), Some(TestBehaviour::Fault(code)));
            assert_eq!(classify_raw(&format!("41000092{n}")), Some(TestBehaviour::Fault(code)));
        }
    }

    #[test]
    fn robots() {
        assert_eq!(classify_raw("+41700092501"), Some(TestBehaviour::Robot(RobotKey::Ec)));
        assert_eq!(classify_raw("41700092502"), Some(TestBehaviour::Robot(RobotKey::Rsa)));
    }

    #[test]
    fn ordinary_and_near_miss_numbers() {
        for raw in [
            "+41791234567",
            "+41000092450",
            "+41000092106",
            "+41000092000",
            "+410000921010",
            "+4100009210",
            "+41700092503",
            "+41700092500",
            "+42000092101",
        ] {
            assert_eq!(classify_raw(raw), None, "{raw}");
        }
    }

    #[test]
    fn late_faults() {
        let late: Vec<u16> = FaultCode::ALL.into_iter().filter(|c| fires_late(*c)).map(FaultCode::number).collect();
        assert_eq!(late, vec![208, 209, 401, 402, 406]);
    }
}
