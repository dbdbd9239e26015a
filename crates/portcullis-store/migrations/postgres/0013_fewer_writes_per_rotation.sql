-- Fewer index writes per refresh-token rotation (migrations/sqlite/0013; docs/performance.md,
-- "Two pages fewer per rotation"):
--
-- 1. A rotation records its time on the family (`rotated_at`) instead of on the token it
--    rotated (`refresh_tokens.used_at`), since it updates the family's row anyway.
-- 2. The access tokens minted from a family are keyed by the family first, and the separate
--    index on `family_id` goes.

alter table refresh_families add column rotated_at bigint;

alter table family_access_tokens drop constraint family_access_tokens_pkey;
alter table family_access_tokens add primary key (family_id, jti);
drop index family_access_tokens_family;
