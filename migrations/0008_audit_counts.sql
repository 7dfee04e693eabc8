-- Repeated status polls are audited as one row with a count (the first poll's time in at_ms, the
-- last one's in last_at_ms): every call is still accounted for, at a row per batch rather than a
-- row per poll. Every other call keeps its own row, with a count of 1.
ALTER TABLE audit_log ADD COLUMN count INTEGER NOT NULL DEFAULT 1;
ALTER TABLE audit_log ADD COLUMN last_at_ms INTEGER;
