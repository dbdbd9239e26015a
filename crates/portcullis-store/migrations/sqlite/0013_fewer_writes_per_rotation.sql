-- Two B-tree pages fewer written by a refresh-token rotation (docs/performance.md, "Two
-- pages fewer per rotation"):
--
-- 1. A rotation records its time on the family (`rotated_at`) instead of on the token it
--    rotated (`refresh_tokens.used_at`), since it updates the family's row anyway. A token
--    older than the family's current generation is used; the immediate predecessor's
--    rotation time is the family's `rotated_at`. `used_at` is still set when the current
--    token is superseded (a reuse within the leeway), and on the tokens rotated before
--    this migration, which keep it.
-- 2. The access tokens minted from a family are keyed by the family first, in a WITHOUT
--    ROWID table: a family's `jti`s share the pages of its B-tree, and the separate index
--    on `family_id` (a second random page per access token) goes.

alter table refresh_families add column rotated_at integer;

create table family_access_tokens_clustered (
    family_id text not null references refresh_families (id) on delete cascade,
    jti text not null,
    expires_at integer not null,
    primary key (family_id, jti)
) without rowid;
insert into family_access_tokens_clustered (family_id, jti, expires_at)
    select family_id, jti, expires_at from family_access_tokens;
drop table family_access_tokens;
alter table family_access_tokens_clustered rename to family_access_tokens;
