-- What Auth0 shows of an SSO session: where it began and which applications used it.
alter table sessions add column initial_ip text;
alter table sessions add column user_agent text;

create table session_clients (
    session_id text not null references sessions (id) on delete cascade,
    client_id text not null,
    first_used_at bigint not null,
    primary key (session_id, client_id)
);
