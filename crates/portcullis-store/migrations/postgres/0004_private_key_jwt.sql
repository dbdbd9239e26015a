-- private_key_jwt: client public keys, and the jti of every client assertion seen, so an
-- assertion is accepted once (also across nodes) until it expires.

-- json array of {id, name, kid, alg, public_key}
alter table clients add column credentials text not null default '[]';

create table client_assertion_jtis (
    client_id text not null,
    jti text not null,
    expires_at bigint not null,
    -- the uniqueness is the replay check
    primary key (client_id, jti)
);
create index client_assertion_jtis_expires_at on client_assertion_jtis (expires_at);
