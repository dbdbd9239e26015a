-- At most one current and one next signing key per algorithm, so nodes racing on first
-- start cannot both create one: the second insert is a conflict and that node loads the
-- first's key.
create unique index signing_keys_one_per_state on signing_keys (alg, state) where state in ('next', 'current');
