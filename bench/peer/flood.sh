#!/usr/bin/env bash
# A login flood against token requests (docs/performance.md, "Logins"). Portcullis (RS256)
# is pinned to CPU 0 and the load generators to CPU 1. Three cases, each repeated:
#   refresh alone at C=$TOKEN_C; full-login alone at C=$LOGIN_C (every iteration verifies a
#   password with Argon2id at the default cost); and both at once, the refreshes starting
#   after the flood has.
#
#   bench/peer/flood.sh
#
# Knobs (environment): TOKEN_C (8), LOGIN_C (32), DURATION (10), WARMUP (1), REPEATS (3),
# PORT, RESULTS_DIR, CARGO_TARGET_DIR. Writes the load generator's JSON lines, labelled
# "flood/<case>", to $RESULTS_DIR/<date>-flood.jsonl. Builds nothing, like run.sh.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
bin=${CARGO_TARGET_DIR:-$root/target}/release
token_c=${TOKEN_C:-8}
login_c=${LOGIN_C:-32}
duration=${DURATION:-10}
warmup=${WARMUP:-1}
repeats=${REPEATS:-3}
port=${PORT:-18080}
results=${RESULTS_DIR:-$here/results}
out=$results/$(date -u +%F)-flood.jsonl

die() { echo "flood.sh: $*" >&2; exit 1; }
for b in portcullis portcullis-bench; do
  [[ -x $bin/$b ]] || die "no $bin/$b: build it first (cargo build --release -p portcullis -p portcullis-bench)"
done
command -v taskset >/dev/null || die "taskset (util-linux) is needed"
mkdir -p "$results"
: >"$out"

# shellcheck source=bench/peer/lib.sh
source "$here/lib.sh"

start_server portcullis-rs256 refresh 0
refresh=$work/refresh.toml
login=$work/full-login.toml
target_file portcullis "$issuer" refresh "$refresh"
target_file portcullis "$issuer" full-login "$login"

for r in $(seq 1 "$repeats"); do
  echo " refresh alone, C=$token_c"
  bench flood/refresh-alone refresh "$token_c" "$r" "$refresh" 1 "$out"
  echo " full-login alone, C=$login_c"
  bench flood/logins-alone full-login "$login_c" "$r" "$login" 1 "$out"
  echo " both at once"
  # The flood runs a second longer on each side than the refreshes it surrounds.
  duration=$((duration + 2)) bench flood/logins-during-refresh full-login "$login_c" "$r" "$login" 1 "$out" &
  flood=$!
  sleep 1
  bench flood/refresh-during-logins refresh "$token_c" "$r" "$refresh" 1 "$out"
  wait "$flood" || die "the login flood failed"
done
jq -nc --argjson rss "$(status_kib VmRSS)" --argjson hwm "$(status_kib VmHWM)" \
  '{config: "flood", rss: {after_kib: $rss, peak_kib: $hwm}}' >>"$out"
echo "results in $out"
