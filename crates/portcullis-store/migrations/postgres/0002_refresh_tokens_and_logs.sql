-- Refresh-token families and their tokens, the access tokens minted from each family
-- (revoked with it), client refresh-token policies, and tenant logs.

-- json of Auth0's refresh_token object; null means the defaults for the app type
alter table clients add column refresh_token text;

-- the family started by redeeming the code, revoked if the code is replayed
alter table authorization_codes add column refresh_family_id text;

-- one authorization's chain of rotated refresh tokens
create table refresh_families (
    id text primary key,
    client_id text not null,
    user_id text not null,
    audience text,
    scope text not null,
    session_id text not null,
    auth_time bigint not null,
    policy text not null,               -- json: the client's policy when the family began
    current_generation bigint not null default 0,
    created_at bigint not null,
    expires_at bigint,                 -- absolute end, not extended by rotation; null = never
    revoked_at bigint,
    revoked_reason text,
    -- SQLite's implicit rowid: orders families made in the same second
    rowid bigint generated always as identity
);
create index refresh_families_user_client on refresh_families (user_id, client_id, created_at);
create index refresh_families_session on refresh_families (session_id);

create table refresh_tokens (
    token_hash text primary key,
    family_id text not null references refresh_families (id) on delete cascade,
    -- generations count rotations: the active token has the family's current generation
    generation bigint not null,
    created_at bigint not null,
    idle_expires_at bigint,
    used_at bigint                     -- rotated or superseded; null while active
);
create index refresh_tokens_family on refresh_tokens (family_id, generation);

-- access tokens minted from a family, recorded in the same transaction that minted them,
-- so revoking the family revokes them too (also when the two race)
create table family_access_tokens (
    jti text primary key,
    family_id text not null references refresh_families (id) on delete cascade,
    expires_at bigint not null
);
create index family_access_tokens_family on family_access_tokens (family_id);

-- tenant log events with Auth0's type codes
create table logs (
    id text primary key,
    date bigint not null,
    type text not null,
    description text,
    client_id text,
    user_id text,
    ip text,
    details text,                       -- json
    -- SQLite's implicit rowid: orders events of the same second
    rowid bigint generated always as identity
);
create index logs_date on logs (date);
