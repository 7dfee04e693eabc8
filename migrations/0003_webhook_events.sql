-- The events each webhook endpoint receives, as a JSON array of event names. The seed's URL gets
-- the seed's event only (payment.confirmed); the others are opt-in per endpoint.
ALTER TABLE webhook_endpoints ADD COLUMN events TEXT NOT NULL DEFAULT '["payment.confirmed"]';
