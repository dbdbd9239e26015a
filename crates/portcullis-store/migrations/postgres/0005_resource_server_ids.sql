-- Management API v2: resource servers get a stable id besides their identifier (Auth0's
-- `id`, which the API's paths use).
alter table resource_servers add column id text;
update resource_servers set id = 'rs_' || substr(md5(random()::text || identifier), 1, 24) where id is null;
create unique index resource_servers_id on resource_servers (id);
