-- How each payment ended, money moved or not (the ledger, `transactions`, holds only money that
-- moved): the merchant console's success and failure counts by flow. Written through the events
-- queue, idempotent by payment id.
CREATE TABLE payment_outcomes (
    payment_id    TEXT PRIMARY KEY,
    client_id     TEXT NOT NULL,
    merchant_id   TEXT NOT NULL,
    flow          TEXT NOT NULL CHECK (flow IN ('epm', 'ppm')),
    status        TEXT NOT NULL CHECK (status IN ('succeeded', 'failed', 'expired', 'cancelled')),
    reason        TEXT,
    amount_minor  INTEGER NOT NULL,
    at_ms         INTEGER NOT NULL,
    sandbox       INTEGER NOT NULL
);
CREATE INDEX payment_outcomes_by_merchant ON payment_outcomes (merchant_id, at_ms);
