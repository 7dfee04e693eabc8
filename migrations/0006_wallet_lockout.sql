-- Wallet PIN guessing guard (issue 15): one row per keyed hash of a wallet id, enrolled or not, so
-- an unknown id is counted, locked and answered exactly like a real one. Every PIN comparison is
-- reserved here first, by one atomic UPDATE … RETURNING (dyno_core::auth::lockout::reserve_sql).
-- wallet_credentials.failed_attempts and .locked_until_ms are no longer used.
CREATE TABLE wallet_pin_guards (
    guard_key        TEXT PRIMARY KEY,
    failures         INTEGER NOT NULL DEFAULT 0,
    lock_level       INTEGER NOT NULL DEFAULT 0,
    locked_until_ms  INTEGER NOT NULL DEFAULT 0,
    locked_at_ms     INTEGER NOT NULL DEFAULT 0,
    window_start_ms  INTEGER NOT NULL DEFAULT 0,
    window_count     INTEGER NOT NULL DEFAULT 0,
    evaluations      INTEGER NOT NULL DEFAULT 0,
    outcome          INTEGER NOT NULL DEFAULT 0
);
