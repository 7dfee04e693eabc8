-- A delivery goes to its request's own webhook_url when the POS gave one on initiate (NULL: the
-- client's endpoint), and redeliveries follow it.
ALTER TABLE webhook_deliveries ADD COLUMN url TEXT;

-- What the sandbox's own webhook receiver got, so the merchant console can show integrators exactly
-- what their server will receive: headers, body, and whether the signature verified.
CREATE TABLE sandbox_receipts (
    receipt_id      INTEGER PRIMARY KEY AUTOINCREMENT,
    delivery_id     TEXT,
    received_at_ms  INTEGER NOT NULL,
    headers         TEXT NOT NULL,
    body            TEXT NOT NULL,
    verified        INTEGER NOT NULL
);
CREATE INDEX sandbox_receipts_by_delivery ON sandbox_receipts (delivery_id);
