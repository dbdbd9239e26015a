-- Management API v2: users carry Auth0's app_metadata and user_metadata (json objects).
alter table users add column app_metadata text not null default '{}';
alter table users add column user_metadata text not null default '{}';
