//! Wallet PIN guessing policy. Every PIN comparison is *reserved* before it happens, by one atomic
//! statement on a guard row keyed by a hash of the wallet id, so an unknown id is counted exactly
//! like a real one. Invariant: a guard window (at least 24 h long) admits at most
//! `WINDOW_BUDGET` comparisons that were not a success, so no 24 h span holds more than
//! `MAX_GUESSES_PER_24H` wrong PINs; five failures in a row lock for 15 min, then 1 h, then 24 h,
//! then until an operator re-PINs the wallet.
//!
//! [`Guard::reserve`] is the reference model; [`reserve_sql`] is the same transition written for
//! D1 (SQLite), and a native test runs both on the same inputs.

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::time::Millis;

const MINUTE_MS: i64 = 60_000;
const HOUR_MS: i64 = 60 * MINUTE_MS;

/// Failures in a row (since the last success or lock) that lock the wallet.
pub const MAX_CONSECUTIVE_FAILURES: i64 = 5;
/// How long the first, second and third locks last; the fourth lasts until a re-PIN.
pub const LOCK_LADDER_MS: [i64; 3] = [15 * MINUTE_MS, HOUR_MS, 24 * HOUR_MS];
/// `locked_until_ms` of a wallet that only an operator's re-PIN reopens: the largest instant a
/// JavaScript `Date` holds, exactly representable as the double D1 binds numbers as.
pub const LOCKED_UNTIL_RE_PIN_MS: i64 = 8_640_000_000_000_000;
/// A guard window starts at the first attempt at least this long after the previous window began.
pub const WINDOW_MS: i64 = 24 * HOUR_MS;
/// Comparisons per window, a success giving its own back.
pub const WINDOW_BUDGET: i64 = 10;
/// For this long after a lock is set, a right PIN whose comparison was already running may still
/// lift it (the streak counts comparisons in flight: five concurrent right PINs lock too, for a
/// moment). A refusal on such a lock waits for it to lift or to outlive this.
pub const LOCK_SETTLE_MS: i64 = 1_000;
/// The longest a PIN check waits for locks to settle before answering.
pub const MAX_SETTLE_WAIT_MS: i64 = 5_000;
/// Any 24 h span meets at most two windows, hence at most this many wrong PINs.
pub const MAX_GUESSES_PER_24H: i64 = 2 * WINDOW_BUDGET;

/// `outcome` of the latest reservation.
pub const OUTCOME_EVALUATE: i64 = 1;
pub const OUTCOME_LOCKED: i64 = 2;
pub const OUTCOME_BUDGET_SPENT: i64 = 3;

/// The guard row of one wallet id (its columns, in this order, in D1 `wallet_pin_guards`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Guard {
    /// Comparisons in a row not followed by a success (reserved ones included).
    pub failures: i64,
    /// Locks so far; a success or a re-PIN clears it.
    pub lock_level: i64,
    pub locked_until_ms: i64,
    /// When the current lock was set.
    pub locked_at_ms: i64,
    pub window_start_ms: i64,
    /// Comparisons reserved in the current window and not given back by a success.
    pub window_count: i64,
    /// Every comparison since the last re-PIN, for operators.
    pub evaluations: i64,
    /// What the latest reservation decided (`OUTCOME_*`).
    pub outcome: i64,
}

/// Until when a wallet is locked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lock {
    Until(Millis),
    UntilRePin,
}

/// What a reservation allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Compare the PIN. If it is wrong, this reservation has locked the wallet (`lock_if_wrong`).
    /// A success gives the reservation back with [`Guard::settle_success`] for `window_start_ms`.
    Evaluate {
        window_start_ms: i64,
        lock_if_wrong: Option<Lock>,
    },
    /// Not compared: the wallet is locked, or the window's budget is spent.
    Refused(Lock),
}

/// The guard row's key: `HMAC-SHA256(pepper, "wallet-pin-guard\n" ‖ wallet_id)`, hex. The wallet
/// id does not appear in the table, and the key exists for ids that are not enrolled.
pub fn guard_key(pepper: &[u8], wallet_id: &str) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(pepper).expect("HMAC takes any key length");
    mac.update(b"wallet-pin-guard\n");
    mac.update(wallet_id.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

fn lock_until(lock_level: i64, now_ms: i64) -> i64 {
    usize::try_from(lock_level)
        .ok()
        .and_then(|level| LOCK_LADDER_MS.get(level))
        .map_or(LOCKED_UNTIL_RE_PIN_MS, |ms| now_ms.saturating_add(*ms))
}

impl Guard {
    /// Reserves one comparison at `now`, or records why none is allowed.
    pub fn reserve(&self, now: Millis) -> Guard {
        let now = now.0;
        let mut next = *self;
        if now >= self.window_start_ms.saturating_add(WINDOW_MS) {
            next.window_start_ms = now;
            next.window_count = 0;
        }
        let locked = self.locked_until_ms > now;
        let spent = next.window_count >= WINDOW_BUDGET;
        next.outcome = if locked {
            OUTCOME_LOCKED
        } else if spent {
            OUTCOME_BUDGET_SPENT
        } else {
            OUTCOME_EVALUATE
        };
        if locked || spent {
            return next;
        }
        next.window_count += 1;
        next.evaluations += 1;
        if self.failures + 1 >= MAX_CONSECUTIVE_FAILURES {
            next.failures = 0;
            next.locked_until_ms = lock_until(self.lock_level, now);
            next.locked_at_ms = now;
            next.lock_level += 1;
        } else {
            next.failures += 1;
        }
        next
    }

    /// The current lock, if any at `now`.
    pub fn lock(&self, now: Millis) -> Option<Lock> {
        if self.locked_until_ms >= LOCKED_UNTIL_RE_PIN_MS {
            Some(Lock::UntilRePin)
        } else {
            (self.locked_until_ms > now.0).then_some(Lock::Until(Millis(self.locked_until_ms)))
        }
    }

    /// Whether a lock is in place that a right PIN already being compared may still lift.
    pub fn lock_may_lift(&self, now: Millis) -> bool {
        self.lock(now).is_some() && now.0 - self.locked_at_ms <= LOCK_SETTLE_MS
    }

    /// What the reservation that produced this row allows.
    pub fn decision(&self, now: Millis) -> Decision {
        match self.outcome {
            OUTCOME_EVALUATE => Decision::Evaluate {
                window_start_ms: self.window_start_ms,
                lock_if_wrong: self.lock(now),
            },
            OUTCOME_BUDGET_SPENT => Decision::Refused(Lock::Until(Millis(
                self.window_start_ms.saturating_add(WINDOW_MS),
            ))),
            _ => Decision::Refused(self.lock(now).unwrap_or(Lock::Until(now))),
        }
    }

    /// The right PIN: the streak, the ladder and any lock are cleared, and the reservation made in
    /// window `window_start_ms` is given back if that window is still current.
    pub fn settle_success(&self, window_start_ms: i64) -> Guard {
        let give_back = self.window_start_ms == window_start_ms && self.window_count > 0;
        Guard {
            failures: 0,
            lock_level: 0,
            locked_until_ms: 0,
            window_count: self.window_count - i64::from(give_back),
            ..*self
        }
    }
}

impl Lock {
    /// The French detail of a `WALLET_LOCKED` answer and its `Retry-After` seconds. Both depend
    /// only on the lock, never on whether the wallet id is enrolled.
    pub fn answer(self, now: Millis) -> (String, Option<i64>) {
        match self {
            Lock::Until(until) => {
                let secs = ((until.0 - now.0 + 999) / 1000).max(1);
                (
                    format!(
                        "Trop de codes PIN erronés: wallet verrouillé, réessayez dans {} min.",
                        (secs + 59) / 60
                    ),
                    Some(secs),
                )
            }
            Lock::UntilRePin => (
                "Trop de codes PIN erronés: wallet verrouillé jusqu'à ce que votre gestionnaire \
                 vous attribue un nouveau code PIN."
                    .to_string(),
                None,
            ),
        }
    }
}

/// What an operator sees of a guard (`GET /api/v1/admin/wallets/{id}/pin-lockout`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GuardView {
    /// PIN comparisons made since the last re-PIN.
    pub evaluations: i64,
    pub consecutive_failures: i64,
    pub lock_level: i64,
    pub locked: bool,
    pub locked_until: Option<String>,
    pub locked_until_re_pin: bool,
    pub window_started_at: Option<String>,
    pub window_evaluations: i64,
    pub window_budget: i64,
}

impl Guard {
    pub fn view(&self, now: Millis) -> GuardView {
        let lock = self.lock(now);
        GuardView {
            evaluations: self.evaluations,
            consecutive_failures: self.failures,
            lock_level: self.lock_level,
            locked: lock.is_some(),
            locked_until: match lock {
                Some(Lock::Until(until)) => Some(until.to_rfc3339()),
                _ => None,
            },
            locked_until_re_pin: lock == Some(Lock::UntilRePin),
            window_started_at: (self.window_start_ms > 0)
                .then(|| Millis(self.window_start_ms).to_rfc3339()),
            window_evaluations: self.window_count,
            window_budget: WINDOW_BUDGET,
        }
    }
}

/// Columns of [`Guard`], as `RETURNING` lists them.
const COLUMNS: &str = "failures, lock_level, locked_until_ms, locked_at_ms, window_start_ms, \
     window_count, evaluations, outcome";

/// Creates the guard row of `?1` if it does not exist yet (all zero: nothing attempted).
pub const INSERT_GUARD_SQL: &str =
    "INSERT OR IGNORE INTO wallet_pin_guards (guard_key) VALUES (?1)";

/// [`Guard::reserve`] as one statement: `?1` the key, `?2` now. SQLite evaluates every `SET`
/// expression on the row as it was, as the model reads `self`.
pub fn reserve_sql() -> String {
    let fresh = format!("(?2 >= window_start_ms + {WINDOW_MS})");
    let count = format!("(CASE WHEN {fresh} THEN 0 ELSE window_count END)");
    let locked = "(locked_until_ms > ?2)";
    let spent = format!("({count} >= {WINDOW_BUDGET})");
    let evaluate = format!("(NOT {locked} AND NOT {spent})");
    let locking = format!("({evaluate} AND failures + 1 >= {MAX_CONSECUTIVE_FAILURES})");
    let [first, second, third] = LOCK_LADDER_MS;
    format!(
        "UPDATE wallet_pin_guards SET
            window_start_ms = CASE WHEN {fresh} THEN ?2 ELSE window_start_ms END,
            window_count = {count} + {evaluate},
            evaluations = evaluations + {evaluate},
            failures = CASE WHEN {locking} THEN 0 WHEN {evaluate} THEN failures + 1 ELSE failures END,
            locked_until_ms = CASE WHEN NOT {locking} THEN locked_until_ms
                WHEN lock_level = 0 THEN ?2 + {first} WHEN lock_level = 1 THEN ?2 + {second}
                WHEN lock_level = 2 THEN ?2 + {third} ELSE {LOCKED_UNTIL_RE_PIN_MS} END,
            locked_at_ms = CASE WHEN {locking} THEN ?2 ELSE locked_at_ms END,
            lock_level = lock_level + {locking},
            outcome = CASE WHEN {locked} THEN {OUTCOME_LOCKED} WHEN {spent} THEN {OUTCOME_BUDGET_SPENT}
                ELSE {OUTCOME_EVALUATE} END
         WHERE guard_key = ?1
         RETURNING {COLUMNS}"
    )
}

/// [`Guard::settle_success`]: `?1` the key, `?2` the reservation's window.
pub const SETTLE_SUCCESS_SQL: &str = "UPDATE wallet_pin_guards SET failures = 0, lock_level = 0,
        locked_until_ms = 0,
        window_count = window_count - (window_start_ms = ?2 AND window_count > 0)
     WHERE guard_key = ?1";

/// An operator lifts a temporary lock (`?1` the key): the ladder and the window's budget stay, so
/// the next failures lock for longer. A lock until re-PIN stays (no row is returned).
pub fn unlock_sql() -> String {
    format!(
        "UPDATE wallet_pin_guards SET locked_until_ms = 0, failures = 0
         WHERE guard_key = ?1 AND locked_until_ms < {LOCKED_UNTIL_RE_PIN_MS}
         RETURNING {COLUMNS}"
    )
}

/// The guard as it is (`?1` the key).
pub fn read_sql() -> String {
    format!("SELECT {COLUMNS} FROM wallet_pin_guards WHERE guard_key = ?1")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const T0: i64 = 1_780_000_000_000;

    fn at(ms: i64) -> Millis {
        Millis(T0 + ms)
    }

    /// One attempt with the PIN `right` or not; returns the decision and the guard after it.
    fn attempt(guard: &mut Guard, now: Millis, right: bool) -> Decision {
        *guard = guard.reserve(now);
        let decision = guard.decision(now);
        if let (
            Decision::Evaluate {
                window_start_ms, ..
            },
            true,
        ) = (decision, right)
        {
            *guard = guard.settle_success(window_start_ms);
        }
        decision
    }

    #[test]
    fn five_failures_lock_then_the_ladder_climbs_to_an_operator_re_pin() {
        let mut g = Guard::default();
        let mut now = at(0);
        for i in 1..=4 {
            assert_eq!(
                attempt(&mut g, now, false),
                Decision::Evaluate {
                    window_start_ms: T0,
                    lock_if_wrong: None
                },
                "attempt {i}"
            );
        }
        assert_eq!(
            attempt(&mut g, now, false),
            Decision::Evaluate {
                window_start_ms: T0,
                lock_if_wrong: Some(Lock::Until(now.plus_ms(15 * MINUTE_MS)))
            }
        );
        // Locked: not even the right PIN is compared.
        assert_eq!(
            attempt(&mut g, now.plus_ms(60_000), true),
            Decision::Refused(Lock::Until(now.plus_ms(15 * MINUTE_MS)))
        );
        assert_eq!(g.evaluations, 5);

        // 15 min later: five more lock for an hour, and the window's budget is then spent.
        now = now.plus_ms(15 * MINUTE_MS);
        for _ in 0..4 {
            attempt(&mut g, now, false);
        }
        assert_eq!(
            attempt(&mut g, now, false),
            Decision::Evaluate {
                window_start_ms: T0,
                lock_if_wrong: Some(Lock::Until(now.plus_ms(HOUR_MS)))
            }
        );
        assert_eq!(
            attempt(&mut g, now.plus_ms(HOUR_MS), false),
            Decision::Refused(Lock::Until(at(WINDOW_MS))),
            "budget of the day spent"
        );
        assert_eq!(g.evaluations, 10);

        // The next window: five lock for 24 h, then five more lock until a re-PIN.
        now = at(WINDOW_MS);
        for _ in 0..4 {
            attempt(&mut g, now, false);
        }
        assert_eq!(
            attempt(&mut g, now, false),
            Decision::Evaluate {
                window_start_ms: T0 + WINDOW_MS,
                lock_if_wrong: Some(Lock::Until(now.plus_ms(24 * HOUR_MS)))
            }
        );
        now = now.plus_ms(24 * HOUR_MS);
        for _ in 0..4 {
            attempt(&mut g, now, false);
        }
        assert_eq!(
            attempt(&mut g, now, false),
            Decision::Evaluate {
                window_start_ms: now.0,
                lock_if_wrong: Some(Lock::UntilRePin)
            }
        );
        assert_eq!(
            attempt(&mut g, now.plus_ms(365 * 24 * HOUR_MS), true),
            Decision::Refused(Lock::UntilRePin)
        );
        assert_eq!(g.evaluations, 20, "20 guesses in all, then an operator");
    }

    #[test]
    fn a_success_clears_the_streak_and_gives_its_reservation_back() {
        let mut g = Guard::default();
        for _ in 0..4 {
            attempt(&mut g, at(0), false);
        }
        attempt(&mut g, at(1), true);
        assert_eq!((g.failures, g.lock_level, g.window_count), (0, 0, 4));
        // The streak starts again: four more wrong PINs do not lock.
        for _ in 0..4 {
            assert!(matches!(
                attempt(&mut g, at(2), false),
                Decision::Evaluate {
                    lock_if_wrong: None,
                    ..
                }
            ));
        }
        // …but the window's budget counts every wrong PIN: after another success and two more
        // wrong PINs (ten in the window), even the right PIN waits for the window to end.
        attempt(&mut g, at(3), true);
        attempt(&mut g, at(3), false);
        attempt(&mut g, at(3), false);
        assert_eq!(g.window_count, WINDOW_BUDGET);
        assert_eq!(
            attempt(&mut g, at(4), true),
            Decision::Refused(Lock::Until(at(WINDOW_MS)))
        );
        // A success in a window that has ended gives nothing back to the new one.
        let mut h = Guard::default().reserve(at(0));
        h = h.reserve(at(WINDOW_MS));
        assert_eq!(h.settle_success(T0).window_count, 1);
    }

    #[test]
    fn the_right_pin_on_the_locking_attempt_opens_the_wallet() {
        let mut g = Guard::default();
        for _ in 0..4 {
            attempt(&mut g, at(0), false);
        }
        assert!(matches!(
            attempt(&mut g, at(0), true),
            Decision::Evaluate {
                lock_if_wrong: Some(_),
                ..
            }
        ));
        assert_eq!(g.lock(at(1)), None);
        assert!(matches!(
            attempt(&mut g, at(1), true),
            Decision::Evaluate { .. }
        ));
    }

    #[test]
    fn five_concurrent_right_pins_lock_only_for_a_moment() {
        // Five comparisons in flight fill the streak: the fifth reservation locks…
        let mut g = Guard::default();
        let mut windows = Vec::new();
        for _ in 0..5 {
            g = g.reserve(at(0));
            if let Decision::Evaluate {
                window_start_ms, ..
            } = g.decision(at(0))
            {
                windows.push(window_start_ms);
            }
        }
        let refused = g.reserve(at(10));
        assert!(matches!(refused.decision(at(10)), Decision::Refused(_)));
        assert!(
            refused.lock_may_lift(at(10)),
            "a right PIN may still lift it"
        );
        assert!(!refused.lock_may_lift(at(LOCK_SETTLE_MS + 1)));
        // …and the first right PIN to finish lifts it: the waiting attempt is then compared.
        g = refused.settle_success(windows[0]);
        assert_eq!(g.lock(at(20)), None);
        assert!(matches!(
            g.reserve(at(20)).decision(at(20)),
            Decision::Evaluate { .. }
        ));
    }

    #[test]
    fn lock_answers_say_how_long_and_operators_see_the_counts() {
        let (detail, retry) = Lock::Until(at(15 * MINUTE_MS)).answer(at(0));
        assert_eq!(retry, Some(900));
        assert!(detail.ends_with("réessayez dans 15 min."), "{detail}");
        assert_eq!(Lock::Until(at(1_500)).answer(at(0)).1, Some(2));
        assert_eq!(Lock::UntilRePin.answer(at(0)).1, None);
        let mut g = Guard::default();
        for _ in 0..5 {
            attempt(&mut g, at(0), false);
        }
        let view = g.view(at(1));
        assert_eq!(
            (
                view.evaluations,
                view.lock_level,
                view.locked,
                view.window_evaluations
            ),
            (5, 1, true, 5)
        );
        assert_eq!(view.locked_until, Some(at(15 * MINUTE_MS).to_rfc3339()));
        assert!(!Guard::default().view(at(0)).locked);
    }

    #[test]
    fn guard_keys_hide_the_wallet_id_and_depend_on_the_pepper() {
        let key = guard_key(b"pepper", "+21620000001");
        assert_eq!(key.len(), 64);
        assert!(!key.contains("21620000001"));
        assert_ne!(key, guard_key(b"pepper", "+21620000002"));
        assert_ne!(key, guard_key(b"other", "+21620000001"));
    }

    /// An attempt of the property test: made at `gap_ms` after the previous one, with the right PIN
    /// or not; `settle_after` other attempts are reserved before its comparison finishes.
    #[derive(Debug, Clone)]
    struct Step {
        gap_ms: i64,
        right: bool,
        settle_after: usize,
    }

    fn steps() -> impl Strategy<Value = Vec<Step>> {
        let gap = prop_oneof![
            4 => 0i64..5_000,
            3 => 0i64..2 * HOUR_MS,
            1 => 0i64..3 * WINDOW_MS,
        ];
        proptest::collection::vec(
            (gap, proptest::bool::weighted(0.3), 0usize..4).prop_map(
                |(gap_ms, right, settle_after)| Step {
                    gap_ms,
                    right,
                    settle_after,
                },
            ),
            1..300,
        )
    }

    proptest! {
        /// Whatever the timing, the mix of right and wrong PINs, and the interleaving of
        /// concurrent attempts, no 24 h span holds more than 20 wrong PINs compared.
        #[test]
        fn no_24h_span_holds_more_than_twenty_wrong_pins(steps in steps()) {
            let mut guard = Guard::default();
            let mut now = T0;
            // (attempts still to reserve before it settles, window, right)
            let mut in_flight: Vec<(usize, i64, bool)> = Vec::new();
            let mut wrong_at: Vec<i64> = Vec::new();
            for step in &steps {
                now += step.gap_ms;
                guard = guard.reserve(Millis(now));
                if let Decision::Evaluate { window_start_ms, .. } = guard.decision(Millis(now)) {
                    if step.right {
                        in_flight.push((step.settle_after, window_start_ms, true));
                    } else {
                        wrong_at.push(now);
                    }
                }
                for pending in in_flight.iter_mut() {
                    pending.0 = pending.0.saturating_sub(1);
                }
                for (_, window, _) in in_flight.iter().filter(|p| p.0 == 0) {
                    guard = guard.settle_success(*window);
                }
                in_flight.retain(|p| p.0 > 0);
            }
            for (i, &start) in wrong_at.iter().enumerate() {
                let in_span = wrong_at[i..].iter().take_while(|&&t| t < start + WINDOW_MS).count();
                prop_assert!(in_span as i64 <= MAX_GUESSES_PER_24H, "{in_span} wrong PINs within 24 h");
            }
        }

        /// With no success at all, a wallet allows 20 wrong PINs in its whole life.
        #[test]
        fn without_a_success_twenty_guesses_in_all(gaps in proptest::collection::vec(0i64..2 * WINDOW_MS, 1..200)) {
            let mut guard = Guard::default();
            let mut now = T0;
            for gap in gaps {
                now += gap;
                guard = guard.reserve(Millis(now));
            }
            prop_assert!(guard.evaluations <= 4 * MAX_CONSECUTIVE_FAILURES);
        }

        /// The D1 statements do exactly what the model does.
        #[test]
        fn the_sql_statements_match_the_model(
            failures in 0i64..6,
            lock_level in 0i64..5,
            locked in prop_oneof![Just(0i64), 0i64..2 * WINDOW_MS, Just(LOCKED_UNTIL_RE_PIN_MS - T0)],
            window_start in 0i64..2 * WINDOW_MS,
            window_count in 0i64..12,
            evaluations in 0i64..40,
            now in 0i64..3 * WINDOW_MS,
            settle_window in prop_oneof![Just(None), (0i64..2 * WINDOW_MS).prop_map(Some)],
        ) {
            let before = Guard {
                failures,
                lock_level,
                locked_until_ms: if locked == 0 { 0 } else { T0 + locked },
                locked_at_ms: T0,
                window_start_ms: T0 + window_start,
                window_count,
                evaluations,
                outcome: 0,
            };
            let db = sqlite_with(&before);
            let reserved: Guard = db
                .query_row(&reserve_sql(), rusqlite::params!["k", T0 + now], row_to_guard)
                .unwrap();
            prop_assert_eq!(reserved, before.reserve(Millis(T0 + now)));
            let window = settle_window.map_or(reserved.window_start_ms, |w| T0 + w);
            db.execute(SETTLE_SUCCESS_SQL, rusqlite::params!["k", window]).unwrap();
            let settled: Guard = db.query_row(&read_sql(), ["k"], row_to_guard).unwrap();
            prop_assert_eq!(settled, reserved.settle_success(window));
        }
    }

    fn sqlite_with(guard: &Guard) -> rusqlite::Connection {
        let db = rusqlite::Connection::open_in_memory().unwrap();
        db.execute_batch(include_str!(
            "../../../../migrations/0006_wallet_lockout.sql"
        ))
        .unwrap();
        db.execute(INSERT_GUARD_SQL, ["k"]).unwrap();
        db.execute(
            "UPDATE wallet_pin_guards SET failures = ?2, lock_level = ?3, locked_until_ms = ?4,
                window_start_ms = ?5, window_count = ?6, evaluations = ?7, locked_at_ms = ?8
             WHERE guard_key = ?1",
            rusqlite::params![
                "k",
                guard.failures,
                guard.lock_level,
                guard.locked_until_ms,
                guard.window_start_ms,
                guard.window_count,
                guard.evaluations,
                guard.locked_at_ms
            ],
        )
        .unwrap();
        db
    }

    fn row_to_guard(row: &rusqlite::Row<'_>) -> rusqlite::Result<Guard> {
        Ok(Guard {
            failures: row.get(0)?,
            lock_level: row.get(1)?,
            locked_until_ms: row.get(2)?,
            locked_at_ms: row.get(3)?,
            window_start_ms: row.get(4)?,
            window_count: row.get(5)?,
            evaluations: row.get(6)?,
            outcome: row.get(7)?,
        })
    }

    #[test]
    fn an_unknown_guard_starts_empty_and_an_operator_unlock_keeps_the_ladder() {
        let db = sqlite_with(&Guard::default());
        let mut g = Guard::default();
        for _ in 0..5 {
            g = db
                .query_row(&reserve_sql(), rusqlite::params!["k", T0], row_to_guard)
                .unwrap();
        }
        assert_eq!(g.lock(at(1)), Some(Lock::Until(at(15 * MINUTE_MS))));
        let unlocked: Guard = db.query_row(&unlock_sql(), ["k"], row_to_guard).unwrap();
        assert_eq!((unlocked.locked_until_ms, unlocked.lock_level), (0, 1));
        db.execute(
            "UPDATE wallet_pin_guards SET locked_until_ms = ?1",
            [LOCKED_UNTIL_RE_PIN_MS],
        )
        .unwrap();
        assert!(db.query_row(&unlock_sql(), ["k"], row_to_guard).is_err());
    }
}
