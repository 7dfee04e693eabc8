-- Direct card movements by operators (credit/debit through /api/v1/admin/cards/…): one row per
-- CYNOD reference, naming the operator. The per-day cap is decided by one atomic statement over
-- this table (the sum of the day's counted rows and the new row together), so concurrent
-- movements can never exceed it. A row is 'released' (no longer counted) only once CYNOD is known
-- not to have applied it; 'unknown' keeps counting until a retry of its reference settles it.
CREATE TABLE operator_movements (
    reference      TEXT PRIMARY KEY,
    day            TEXT NOT NULL,
    direction      TEXT NOT NULL CHECK (direction IN ('credit', 'debit')),
    card_number    TEXT NOT NULL,
    amount_minor   INTEGER NOT NULL CHECK (amount_minor > 0),
    operator       TEXT NOT NULL,
    status         TEXT NOT NULL CHECK (status IN ('reserved', 'applied', 'released', 'unknown')),
    request_id     TEXT NOT NULL,
    created_at_ms  INTEGER NOT NULL,
    updated_at_ms  INTEGER NOT NULL
);
CREATE INDEX operator_movements_by_day ON operator_movements (day, status);
