-- Registry, records and logs of the Dyno Edge gateway (D1).
-- Amounts are INTEGER minor units (TND: millimes); instants are INTEGER UTC milliseconds.

CREATE TABLE merchants (
    merchant_id   TEXT PRIMARY KEY,
    name          TEXT NOT NULL,
    affiliated    INTEGER NOT NULL DEFAULT 1 CHECK (affiliated IN (0, 1)),
    active        INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
    created_at_ms INTEGER NOT NULL
);

CREATE TABLE pos_clients (
    client_id       TEXT PRIMARY KEY,
    merchant_id     TEXT NOT NULL REFERENCES merchants (merchant_id),
    -- HMAC-SHA256(pepper, salt || secret), hex; the secret itself is never stored.
    secret_salt     TEXT NOT NULL,
    secret_hash     TEXT NOT NULL,
    -- The previous secret stays valid until this instant after a rotation.
    previous_salt   TEXT,
    previous_hash   TEXT,
    previous_valid_until_ms INTEGER,
    sandbox         INTEGER NOT NULL CHECK (sandbox IN (0, 1)),
    scopes          TEXT NOT NULL,
    read_only       INTEGER NOT NULL DEFAULT 0 CHECK (read_only IN (0, 1)),
    created_at_ms   INTEGER NOT NULL
);
CREATE INDEX pos_clients_by_merchant ON pos_clients (merchant_id);

CREATE TABLE webhook_endpoints (
    client_id        TEXT PRIMARY KEY REFERENCES pos_clients (client_id),
    url              TEXT NOT NULL,
    -- AES-GCM under the webhook key-encryption secret: nonce || ciphertext, base64.
    secret_encrypted TEXT NOT NULL,
    updated_at_ms    INTEGER NOT NULL
);

CREATE TABLE wallet_credentials (
    wallet_id        TEXT PRIMARY KEY,
    client_id        TEXT NOT NULL,
    display_name     TEXT NOT NULL,
    pin_salt         TEXT NOT NULL,
    pin_hash         TEXT NOT NULL,
    failed_attempts  INTEGER NOT NULL DEFAULT 0,
    locked_until_ms  INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE transactions (
    -- A payment or a refund: one row per money movement.
    movement_id         TEXT PRIMARY KEY,
    kind                TEXT NOT NULL CHECK (kind IN ('payment', 'refund')),
    transaction_id      TEXT NOT NULL,
    payment_request_id  TEXT,
    flow                TEXT NOT NULL CHECK (flow IN ('epm', 'ppm')),
    client_id           TEXT NOT NULL,
    merchant_id         TEXT NOT NULL,
    pos_reference       TEXT NOT NULL,
    status              TEXT NOT NULL,
    amount_minor        INTEGER NOT NULL,
    currency            TEXT NOT NULL,
    wallet_type         TEXT,
    card_last4          TEXT,
    cynod_reference     TEXT NOT NULL,
    confirmation_code   TEXT,
    occurred_at_ms      INTEGER NOT NULL,
    sandbox             INTEGER NOT NULL
);
CREATE INDEX transactions_by_client_time ON transactions (client_id, occurred_at_ms, movement_id);
CREATE INDEX transactions_by_merchant_time ON transactions (merchant_id, occurred_at_ms);
CREATE INDEX transactions_by_reference ON transactions (client_id, pos_reference);

CREATE TABLE audit_log (
    event_id      TEXT PRIMARY KEY,
    client_id     TEXT,
    actor         TEXT NOT NULL,
    action        TEXT NOT NULL,
    resource      TEXT,
    outcome       TEXT NOT NULL,
    status        INTEGER NOT NULL,
    request_id    TEXT NOT NULL,
    ip            TEXT,
    at_ms         INTEGER NOT NULL
);
CREATE INDEX audit_log_by_time ON audit_log (at_ms);
CREATE INDEX audit_log_by_client ON audit_log (client_id, at_ms);

CREATE TABLE webhook_deliveries (
    delivery_id     TEXT PRIMARY KEY,
    client_id       TEXT NOT NULL,
    event           TEXT NOT NULL,
    payment_id      TEXT NOT NULL,
    body            TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'failed', 'dead_lettered')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    created_at_ms   INTEGER NOT NULL,
    updated_at_ms   INTEGER NOT NULL
);
CREATE INDEX webhook_deliveries_by_client ON webhook_deliveries (client_id, created_at_ms);

CREATE TABLE webhook_attempts (
    delivery_id     TEXT NOT NULL REFERENCES webhook_deliveries (delivery_id),
    attempt         INTEGER NOT NULL,
    at_ms           INTEGER NOT NULL,
    http_status     INTEGER,
    latency_ms      INTEGER NOT NULL,
    error           TEXT,
    PRIMARY KEY (delivery_id, attempt)
);
