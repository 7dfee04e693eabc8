-- Signing a wallet out everywhere: its tokens carry the generation current at login, and a token
-- is honoured only while that is still the wallet's generation. Logout and a PIN reset bump it.
ALTER TABLE wallet_credentials ADD COLUMN token_generation INTEGER NOT NULL DEFAULT 0;
