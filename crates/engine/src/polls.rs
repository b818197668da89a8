//! How often APs poll a pending transaction. The wire contract expects polls every second
//! or more slowly, and asks that those are never throttled. A poll that comes sooner after
//! the previous pending answer of its transaction (a status poll's 504, or the async
//! MSS_Signature's acceptance) is held until the transaction ends or that second is up,
//! whichever comes first. A client that polls every few milliseconds then costs what one
//! polling every second costs, and it hears of the end at once.
//!
//! A node keeps, per pending transaction it answered in the last second, when it did; an
//! end forgets the entry. The hold re-reads the store, so an entry can only delay an
//! answer, never change it.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use mobileid_core::Timestamp;

/// The least time between two answers to polls of one pending transaction.
pub(crate) const SPACING: Duration = Duration::from_secs(1);
/// Past this many entries, those older than [`SPACING`] (they hold nothing any more) are
/// dropped, at most once per [`SPACING`].
const SWEEP_ABOVE: usize = 1024;

#[derive(Default)]
pub(crate) struct Polls {
    state: Mutex<State>,
}

struct State {
    answered: HashMap<String, Timestamp>,
    swept_at: Timestamp,
}

impl Default for State {
    fn default() -> Self {
        State { answered: HashMap::new(), swept_at: Timestamp::from_millis(0) }
    }
}

impl Polls {
    /// Until when a poll of `id` that arrives at `now` is held; None: answered at once.
    pub(crate) fn held_until(&self, id: &str, now: Timestamp) -> Option<Timestamp> {
        let until = self.lock().answered.get(id)?.plus(SPACING);
        (now < until).then_some(until)
    }

    /// A poll of `id` was answered "pending" at `now`.
    pub(crate) fn answered(&self, id: &str, now: Timestamp) {
        let mut state = self.lock();
        state.answered.insert(id.to_string(), now);
        if state.answered.len() > SWEEP_ABOVE && now >= state.swept_at.plus(SPACING) {
            state.answered.retain(|_, at| now < at.plus(SPACING));
            state.answered.shrink_to_fit();
            state.swept_at = now;
        }
    }

    /// The transaction ended: later polls are answered at once.
    pub(crate) fn forget(&self, id: &str) {
        self.lock().answered.remove(id);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(millis: i64) -> Timestamp {
        Timestamp::from_millis(millis)
    }

    #[test]
    fn a_poll_within_a_second_of_the_last_pending_answer_is_held_until_that_second_is_up() {
        let polls = Polls::default();
        assert_eq!(polls.held_until("H1", at(10_000)), None, "the first poll");
        polls.answered("H1", at(10_000));
        assert_eq!(polls.held_until("H1", at(10_010)), Some(at(11_000)));
        assert_eq!(polls.held_until("H1", at(10_999)), Some(at(11_000)));
        assert_eq!(polls.held_until("H1", at(11_000)), None, "a poll a second later");
        assert_eq!(polls.held_until("H2", at(10_010)), None, "another transaction");
        polls.forget("H1");
        assert_eq!(polls.held_until("H1", at(10_020)), None, "the transaction ended");
    }

    #[test]
    fn entries_that_hold_nothing_any_more_are_swept() {
        let polls = Polls::default();
        for i in 0..=SWEEP_ABOVE {
            polls.answered(&format!("H{i}"), at(10_000));
        }
        assert_eq!(polls.lock().answered.len(), SWEEP_ABOVE + 1, "all recent: nothing to sweep");
        polls.answered("late", at(11_000));
        assert_eq!(polls.lock().answered.len(), 1);
        assert_eq!(polls.held_until("late", at(11_500)), Some(at(12_000)));
    }
}
