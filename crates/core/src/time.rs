//! A point in time as the platform stores it: Unix milliseconds, UTC.
//!
//! The database keeps integers (both engines compare them cheaply and they sort the same);
//! this newtype keeps milliseconds from being mixed up with seconds or durations past
//! the store's edge.

use std::fmt;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct Timestamp(i64);

impl Timestamp {
    pub const fn from_millis(millis: i64) -> Timestamp {
        Timestamp(millis)
    }

    pub const fn as_millis(self) -> i64 {
        self.0
    }

    pub fn from_datetime(t: DateTime<Utc>) -> Timestamp {
        Timestamp(t.timestamp_millis())
    }

    /// None for the far ends of i64, which chrono cannot represent.
    pub fn to_datetime(self) -> Option<DateTime<Utc>> {
        Utc.timestamp_millis_opt(self.0).single()
    }

    /// Saturates instead of overflowing: a deadline "forever" stays forever.
    pub fn plus(self, d: Duration) -> Timestamp {
        Timestamp(self.0.saturating_add(i64::try_from(d.as_millis()).unwrap_or(i64::MAX)))
    }

    pub fn minus(self, d: Duration) -> Timestamp {
        Timestamp(self.0.saturating_sub(i64::try_from(d.as_millis()).unwrap_or(i64::MAX)))
    }

    /// How long from `self` until `later`; zero if `later` is not later.
    pub fn until(self, later: Timestamp) -> Duration {
        Duration::from_millis(u64::try_from(later.0.saturating_sub(self.0)).unwrap_or(0))
    }

    /// True when `other` is at most `window` away, in either direction. Computed without
    /// overflow, so any `other` (a client's i64::MIN, say) gets an answer, not a panic.
    pub fn within(self, other: Timestamp, window: Duration) -> bool {
        let distance = (i128::from(self.0) - i128::from(other.0)).unsigned_abs();
        distance <= window.as_millis()
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.to_datetime() {
            Some(t) => write!(f, "{}", t.format("%Y-%m-%dT%H:%M:%S%.3fZ")),
            None => write!(f, "{}ms", self.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_checks_never_overflow() {
        let now = Timestamp::from_millis(1_700_000_000_000);
        let window = Duration::from_secs(300);
        assert!(now.within(now.plus(window), window));
        assert!(now.within(now.minus(window), window));
        assert!(!now.within(now.plus(window).plus(Duration::from_millis(1)), window));
        assert!(!now.within(now.minus(window).minus(Duration::from_millis(1)), window));
        for extreme in [i64::MIN, i64::MAX] {
            assert!(!now.within(Timestamp::from_millis(extreme), window));
            assert!(!Timestamp::from_millis(extreme).within(now, window));
        }
        assert!(!Timestamp::from_millis(i64::MIN).within(Timestamp::from_millis(i64::MAX), window));
    }

    #[test]
    fn arithmetic_saturates() {
        assert_eq!(Timestamp::from_millis(i64::MAX - 1).plus(Duration::from_secs(1)).as_millis(), i64::MAX);
        assert_eq!(Timestamp::from_millis(i64::MIN + 1).minus(Duration::from_secs(1)).as_millis(), i64::MIN);
        let t = Timestamp::from_millis(1000);
        assert_eq!(t.until(Timestamp::from_millis(3500)), Duration::from_millis(2500));
        assert_eq!(Timestamp::from_millis(3500).until(t), Duration::ZERO);
        assert_eq!(t.to_string(), "1970-01-01T00:00:01.000Z");
    }
}
