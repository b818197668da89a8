-- The server's part of a phone's PIN (docs/device-api.md, "PIN: enforced by the server"):
-- a random share key and the check of the right PIN proof, sealed under the master key.
-- NULL for robot keys and for phones activated before it, which must activate again.
ALTER TABLE devices ADD COLUMN pin_guard BYTEA;
