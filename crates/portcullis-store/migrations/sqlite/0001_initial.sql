-- Initial schema: tenant objects, users, consents, SSO sessions, login transactions,
-- authorization codes, revoked access tokens, signing keys and node secrets.
-- Times are unix seconds (integer) on every backend. Secrets and tokens are stored
-- only as hashes (columns named *_hash); private keys and node secrets are encrypted
-- with the master key (columns named *_enc).

create table clients (
    client_id text primary key,
    name text not null,
    app_type text not null,
    is_first_party integer not null,
    callbacks text not null,            -- json array of strings
    allowed_logout_urls text not null,  -- json array of strings
    web_origins text not null,          -- json array of strings
    grant_types text not null,          -- json array of strings
    token_endpoint_auth_method text not null,
    secret_hash text,                   -- sha-256 of the secret; null for public clients
    jwt_lifetime_in_seconds integer not null,
    jwt_alg text not null,
    created_at integer not null,
    updated_at integer not null,
    -- a public client never holds a secret
    check (token_endpoint_auth_method <> 'none' or secret_hash is null)
);
-- tenant files match clients by name, so a name identifies one client
create unique index clients_name on clients (name);

create table resource_servers (
    identifier text primary key,
    name text not null,
    scopes text not null,               -- json array of {value, description}
    allow_offline_access integer not null,
    token_lifetime integer not null,
    signing_alg text not null,
    skip_consent_for_verifiable_first_party_clients integer not null,
    created_at integer not null,
    updated_at integer not null
);

create table users (
    id text primary key,
    email text not null,                -- stored lower-cased
    email_verified integer not null,
    name text,
    given_name text,
    family_name text,
    nickname text,
    picture text,
    password_hash text,                 -- argon2 phc string
    blocked integer not null default 0,
    logins_count integer not null default 0,
    last_login integer,
    created_at integer not null,
    updated_at integer not null
);
create unique index users_email on users (email);

-- consents a user gave a client for an audience ('' = no api)
create table grants (
    id integer primary key,
    user_id text not null references users (id) on delete cascade,
    client_id text not null references clients (client_id) on delete cascade,
    audience text not null,
    scope text not null,
    created_at integer not null,
    updated_at integer not null,
    unique (user_id, client_id, audience)
);

create table sessions (
    id text primary key,                -- public id: the sid claim
    token_hash text not null unique,    -- sha-256 of the cookie value
    user_id text not null references users (id) on delete cascade,
    auth_time integer not null,
    last_seen_at integer not null,
    expires_at integer not null,
    created_at integer not null
);

create table login_transactions (
    handle_hash text primary key,       -- sha-256 of the state handle the hosted pages carry
    data text not null,                 -- json of the validated request and progress
    expires_at integer not null
);
create index login_transactions_expires_at on login_transactions (expires_at);

create table authorization_codes (
    code_hash text primary key,
    client_id text not null,
    user_id text not null,
    redirect_uri text not null,
    redirect_uri_sent integer not null,
    scope text not null,
    audience text,
    nonce text,
    code_challenge text,
    session_id text not null,
    auth_time integer not null,
    expires_at integer not null,
    created_at integer not null,
    used_at integer,                    -- set once, atomically, by the redemption
    access_token_jti text,              -- the token minted from it, revoked on replay
    access_token_expires_at integer
);
create index authorization_codes_expires_at on authorization_codes (expires_at);

-- access tokens revoked before their expiry (code replay); checked at /userinfo
create table revoked_access_tokens (
    jti text primary key,
    expires_at integer not null
);

create table signing_keys (
    kid text primary key,
    alg text not null,
    private_key_enc blob not null,
    public_jwk text not null,
    state text not null check (state in ('next', 'current', 'previous', 'retired')),
    created_at integer not null
);

-- secrets every node needs (cookie and csrf keys), encrypted with the master key
create table node_secrets (
    name text primary key,
    value_enc blob not null,
    created_at integer not null
);
