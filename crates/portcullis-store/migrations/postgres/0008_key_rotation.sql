-- Signing-key rotation: when a key stopped being current, so it stays published until
-- every token it signed has expired.
alter table signing_keys add column rotated_at bigint;
