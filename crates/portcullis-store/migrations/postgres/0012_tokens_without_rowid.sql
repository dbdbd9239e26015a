-- SQLite only: its refresh_tokens and family_access_tokens become WITHOUT ROWID tables
-- (migrations/sqlite/0012). PostgreSQL's are unchanged; this keeps the versions in step.
select 1;
