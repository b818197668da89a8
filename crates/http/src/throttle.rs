//! Failure budgets against guessing: a client network that failed too often in a window
//! gets 429 until the window ends. Only failures count, so a user who gets it right is never
//! slowed down by their own successes.
//!
//! Budgets are kept per node, in memory: a cluster of N nodes allows N times as many
//! guesses, still far too few to matter against the codes and signatures guessed. IPv6
//! sources count by their /64, which one customer usually holds whole. At most
//! [`CAPACITY`] sources are tracked; past that (expired ones dropped first), new sources
//! go uncounted rather than refused, and a warning says so.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

const CAPACITY: usize = 100_000;

/// What a budget counts failures by: the client's network (an IPv4 address, an IPv6 /64).
///
/// Not by the user the request names: then anyone who learnt a device's id, or a phone
/// number, could lock its owner out with a few forged requests. The user's own secret,
/// the PIN, is counted per device by the engine.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Source(IpAddr);

impl Source {
    pub fn address(ip: IpAddr) -> Source {
        match ip {
            IpAddr::V4(_) => Source(ip),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => Source(IpAddr::V4(v4)),
                None => Source(IpAddr::V6((u128::from(v6) & !((1u128 << 64) - 1)).into())),
            },
        }
    }
}

/// At most `failures` failures per source in each `window`.
pub struct Budget {
    failures: u32,
    window: Duration,
    windows: Mutex<HashMap<Source, Window>>,
}

struct Window {
    started: Instant,
    failures: u32,
}

impl Budget {
    pub fn new(failures: u32, window: Duration) -> Budget {
        Budget { failures, window, windows: Mutex::new(HashMap::new()) }
    }

    /// `Err(retry after)` when the source has used up its failures in this window.
    pub fn check(&self, source: &Source) -> Result<(), Duration> {
        let now = Instant::now();
        let windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        match windows.get(source) {
            Some(w) if w.failures >= self.failures && now < w.started + self.window => {
                Err(w.started + self.window - now)
            }
            _ => Ok(()),
        }
    }

    /// Counts one failure of the source.
    pub fn failed(&self, source: &Source) {
        let now = Instant::now();
        let mut windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        if windows.len() >= CAPACITY && !windows.contains_key(source) {
            windows.retain(|_, w| now < w.started + self.window);
            if windows.len() >= CAPACITY {
                tracing::warn!("failure budgets: {CAPACITY} sources tracked, not counting new ones");
                return;
            }
        }
        let window = windows.entry(source.clone()).or_insert(Window { started: now, failures: 0 });
        if now >= window.started + self.window {
            *window = Window { started: now, failures: 0 };
        }
        window.failures = window.failures.saturating_add(1);
    }
}

/// The budgets of the device API and the portal.
pub struct Throttles {
    /// Wrong activation codes, per address.
    pub activation: Budget,
    /// Device requests refused as unauthenticated, per address.
    pub device_auth: Budget,
    /// Portal logins refused (wrong or locked) and wrong recovery codes, per address.
    pub portal_login: Budget,
    /// Portal sign-ups, each of which may send an e-mail, per address.
    pub portal_signup: Budget,
}

impl Default for Throttles {
    fn default() -> Self {
        Throttles {
            activation: Budget::new(10, Duration::from_secs(600)),
            device_auth: Budget::new(30, Duration::from_secs(60)),
            portal_login: Budget::new(20, Duration::from_secs(600)),
            portal_signup: Budget::new(10, Duration::from_secs(3600)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn refuses_after_the_budget_until_the_window_ends() {
        let budget = Budget::new(3, Duration::from_secs(60));
        let source = Source::address("192.0.2.7".parse().unwrap());
        for _ in 0..3 {
            assert_eq!(budget.check(&source), Ok(()));
            budget.failed(&source);
        }
        assert_eq!(budget.check(&source), Err(Duration::from_secs(60)));
        assert_eq!(budget.check(&Source::address("192.0.2.8".parse().unwrap())), Ok(()));
        tokio::time::advance(Duration::from_secs(45)).await;
        assert_eq!(budget.check(&source), Err(Duration::from_secs(15)));
        tokio::time::advance(Duration::from_secs(15)).await;
        assert_eq!(budget.check(&source), Ok(()));
        budget.failed(&source);
        assert_eq!(budget.check(&source), Ok(()), "a new window starts from zero");
    }

    #[test]
    fn ipv6_counts_by_its_64_and_mapped_ipv4_as_ipv4() {
        let a = Source::address("2001:db8:1:2::1".parse().unwrap());
        let b = Source::address("2001:db8:1:2:ffff::9".parse().unwrap());
        let c = Source::address("2001:db8:1:3::1".parse().unwrap());
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(Source::address("::ffff:192.0.2.1".parse().unwrap()), Source::address("192.0.2.1".parse().unwrap()));
    }
}
