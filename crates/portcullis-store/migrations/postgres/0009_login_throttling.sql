-- Login throttling: attempt and failure counters per account+IP and per IP, in windows.
create table login_counters (
    key text primary key,
    count bigint not null,
    window_start bigint not null
);
create index login_counters_window_start on login_counters (window_start);
