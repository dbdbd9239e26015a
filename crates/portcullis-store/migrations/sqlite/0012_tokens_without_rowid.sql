-- Refresh tokens and the access tokens minted from a family are keyed by random values (a
-- hash, a jti) and nothing uses their rowid, so they are stored in their primary key's
-- B-tree (WITHOUT ROWID) rather than in a rowid table plus an index on that key, and a
-- refresh writes fewer pages to the WAL (docs/performance.md, "Fewer pages per refresh").
-- The columns, keys and indexes are unchanged.

create table refresh_tokens_keyed (
    token_hash text primary key,
    family_id text not null references refresh_families (id) on delete cascade,
    -- generations count rotations: the active token has the family's current generation
    generation integer not null,
    created_at integer not null,
    idle_expires_at integer,
    used_at integer                     -- rotated or superseded; null while active
) without rowid;
insert into refresh_tokens_keyed (token_hash, family_id, generation, created_at, idle_expires_at, used_at)
    select token_hash, family_id, generation, created_at, idle_expires_at, used_at from refresh_tokens;
drop table refresh_tokens;
alter table refresh_tokens_keyed rename to refresh_tokens;
create index refresh_tokens_family on refresh_tokens (family_id, generation);

create table family_access_tokens_keyed (
    jti text primary key,
    family_id text not null references refresh_families (id) on delete cascade,
    expires_at integer not null
) without rowid;
insert into family_access_tokens_keyed (jti, family_id, expires_at)
    select jti, family_id, expires_at from family_access_tokens;
drop table family_access_tokens;
alter table family_access_tokens_keyed rename to family_access_tokens;
create index family_access_tokens_family on family_access_tokens (family_id);
