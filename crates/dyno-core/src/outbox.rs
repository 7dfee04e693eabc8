//! The transactional outbox of a Durable Object: effects written in the same storage transaction as
//! the state change that caused them, then run in order, each removed only once it succeeded, and
//! retried with backoff when it failed. Invariants: an effect is either done or still here; effects
//! run in the order they were caused (a status is published before the webhook that announces it);
//! a failed effect is retried after 1 s, 2 s, 4 s… up to 5 minutes, never dropped.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use crate::time::Millis;

/// The first retry delay and the longest.
pub const RETRY_FIRST_MS: i64 = 1_000;
pub const RETRY_MAX_MS: i64 = 300_000;

/// One effect waiting to run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry<E> {
    /// Position in causal order; also the row's key in storage.
    pub seq: u64,
    pub effect: E,
    /// Failed runs so far.
    pub attempts: u32,
    /// Not before this instant.
    pub due_at: Millis,
}

/// The waiting effects of one object, oldest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outbox<E> {
    entries: VecDeque<Entry<E>>,
    next_seq: u64,
}

impl<E> Default for Outbox<E> {
    fn default() -> Self {
        Self {
            entries: VecDeque::new(),
            next_seq: 1,
        }
    }
}

impl<E: Clone> Outbox<E> {
    /// Rebuilds the outbox from stored entries (in any order).
    pub fn from_entries(mut entries: Vec<Entry<E>>) -> Self {
        entries.sort_by_key(|e| e.seq);
        let next_seq = entries.last().map_or(1, |e| e.seq + 1);
        Self {
            entries: entries.into(),
            next_seq,
        }
    }

    /// Adds effects caused by one transition; returns the new entries, to be stored with the state.
    pub fn push(&mut self, effects: impl IntoIterator<Item = E>, now: Millis) -> Vec<Entry<E>> {
        let added: Vec<Entry<E>> = effects
            .into_iter()
            .map(|effect| {
                let entry = Entry {
                    seq: self.next_seq,
                    effect,
                    attempts: 0,
                    due_at: now,
                };
                self.next_seq += 1;
                entry
            })
            .collect();
        self.entries.extend(added.iter().cloned());
        added
    }

    /// The effect to run next, if it is due: only the oldest, so order is kept.
    pub fn next_due(&self, now: Millis) -> Option<&Entry<E>> {
        self.entries.front().filter(|e| e.due_at <= now)
    }

    /// The oldest entry if it is due, with the due entries right after it that can go together
    /// with it (`together(head, next)`, e.g. messages to the same queue): one send for the run.
    pub fn next_run(&self, now: Millis, together: impl Fn(&E, &E) -> bool) -> Vec<Entry<E>> {
        let mut run = Vec::new();
        let mut entries = self.entries.iter().take_while(|e| e.due_at <= now);
        if let Some(head) = entries.next() {
            run.push(head.clone());
            run.extend(
                entries
                    .take_while(|e| together(&head.effect, &e.effect))
                    .cloned(),
            );
        }
        run
    }

    /// When the outbox next needs running.
    pub fn wake_at(&self) -> Option<Millis> {
        self.entries.front().map(|e| e.due_at)
    }

    /// The effect ran: it leaves the outbox.
    pub fn done(&mut self, seq: u64) {
        self.entries.retain(|e| e.seq != seq);
    }

    /// The effect failed: it stays, due again after a growing delay. Returns the updated entry.
    pub fn failed(&mut self, seq: u64, now: Millis) -> Option<Entry<E>> {
        let entry = self.entries.iter_mut().find(|e| e.seq == seq)?;
        entry.attempts += 1;
        let exponent = entry.attempts.saturating_sub(1).min(20);
        let delay = (RETRY_FIRST_MS << exponent).min(RETRY_MAX_MS);
        entry.due_at = now.plus_ms(delay);
        Some(entry.clone())
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn entries(&self) -> impl Iterator<Item = &Entry<E>> {
        self.entries.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn t(ms: i64) -> Millis {
        Millis(1_780_000_000_000 + ms)
    }

    #[test]
    fn runs_in_order_and_backs_off() {
        let mut outbox = Outbox::default();
        outbox.push(["publish", "webhook"], t(0));
        assert_eq!(outbox.next_due(t(0)).map(|e| e.effect), Some("publish"));
        let retry = outbox.failed(1, t(0)).unwrap();
        assert_eq!(retry.due_at, t(1_000));
        // The webhook waits behind the status it announces.
        assert!(outbox.next_due(t(500)).is_none());
        assert_eq!(outbox.wake_at(), Some(t(1_000)));
        assert_eq!(outbox.failed(1, t(1_000)).unwrap().due_at, t(3_000));
        outbox.done(1);
        assert_eq!(outbox.next_due(t(3_000)).map(|e| e.effect), Some("webhook"));
        outbox.done(2);
        assert!(outbox.is_empty() && outbox.wake_at().is_none());
    }

    #[test]
    fn consecutive_entries_that_go_together_run_together() {
        let mut outbox = Outbox::default();
        outbox.push(["row", "row", "hook", "row"], t(0));
        let same = |a: &&str, b: &&str| a == b;
        let run: Vec<_> = outbox
            .next_run(t(0), same)
            .into_iter()
            .map(|e| e.effect)
            .collect();
        assert_eq!(
            run,
            vec!["row", "row"],
            "only the consecutive ones, in order"
        );
        outbox.failed(1, t(0));
        assert!(
            outbox.next_run(t(0), same).is_empty(),
            "the head waits, so do the others"
        );
        outbox.done(1);
        outbox.done(2);
        assert_eq!(outbox.next_run(t(0), same)[0].effect, "hook");
    }

    #[test]
    fn backoff_is_capped() {
        let mut outbox = Outbox::default();
        outbox.push(["x"], t(0));
        let mut due = t(0);
        for _ in 0..40 {
            due = outbox.failed(1, t(0)).unwrap().due_at;
        }
        assert_eq!(due, t(RETRY_MAX_MS));
    }

    #[test]
    fn reload_keeps_order_and_numbering() {
        let mut outbox = Outbox::default();
        let stored = outbox.push(["a", "b", "c"], t(0));
        outbox.done(1);
        let mut reloaded = Outbox::from_entries(stored.into_iter().rev().collect());
        reloaded.done(1);
        assert_eq!(reloaded.next_due(t(0)).map(|e| e.effect), Some("b"));
        assert_eq!(reloaded.push(["d"], t(0))[0].seq, 4);
    }

    proptest! {
        /// Whatever fails, and however often: every effect is either done exactly once or still
        /// waiting, and they complete in the order they were caused.
        #[test]
        fn nothing_is_lost_or_reordered(
            batches in prop::collection::vec(1usize..4, 1..8),
            failures in prop::collection::vec(any::<bool>(), 0..200),
        ) {
            let mut outbox = Outbox::default();
            let mut caused = Vec::new();
            let mut done = Vec::new();
            let mut now = t(0);
            let mut fail = failures.into_iter();
            for (b, size) in batches.into_iter().enumerate() {
                let effects: Vec<(usize, usize)> = (0..size).map(|i| (b, i)).collect();
                caused.extend(effects.clone());
                outbox.push(effects, now);
                // Run what is due, with failures as drawn.
                for _ in 0..3 {
                    now = outbox.wake_at().unwrap_or(now).max(now);
                    while let Some(entry) = outbox.next_due(now).cloned() {
                        if fail.next().unwrap_or(false) {
                            outbox.failed(entry.seq, now);
                        } else {
                            outbox.done(entry.seq);
                            done.push(entry.effect);
                        }
                    }
                }
            }
            let waiting: Vec<_> = outbox.entries().map(|e| e.effect).collect();
            let mut all = done.clone();
            all.extend(waiting);
            prop_assert_eq!(all, caused);
        }
    }
}
