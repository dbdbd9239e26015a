-- OIDC Core §5.1 claims released by the address and phone scopes.
alter table users add column address text;             -- json object (formatted, street_address, locality, region, postal_code, country)
alter table users add column phone_number text;
alter table users add column phone_number_verified boolean not null default false;
