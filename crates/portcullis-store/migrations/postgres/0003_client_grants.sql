-- Client grants (Auth0 clientGrants): which APIs a client may get client-credentials
-- access tokens for, and with which scopes.
create table client_grants (
    id text primary key,
    client_id text not null references clients (client_id) on delete cascade,
    audience text not null references resource_servers (identifier) on delete cascade,
    scope text not null,                -- space-separated
    created_at bigint not null,
    updated_at bigint not null,
    -- one grant per client and API, as Auth0
    unique (client_id, audience)
);
