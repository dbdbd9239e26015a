#!/usr/bin/env bash
# Side-by-side load test: Portcullis and panva's oidc-provider (bench/peer/provider.mjs),
# driven by portcullis-bench. See docs/performance.md, "Side by side with node-oidc-provider".
#
#   bench/peer/run.sh                       # every configuration
#   CONFIGS="peer-rs256" bench/peer/run.sh  # some of them
#
# Builds nothing: the release binaries must exist (the command is printed if not).
# Knobs (environment): CONFIGS, SCENARIOS, CONCURRENCY, DURATION, WARMUP, REPEATS,
# FULL_LOGIN_CONCURRENCY, PORT, RESULTS_DIR, CARGO_TARGET_DIR; COUNTS=1 also counts the
# server's system calls and context switches with perf ("server_counts").
# Writes one JSON line per run (the load generator's line plus "config", "repeat" and the
# server's CPU time "server_cpu_s" over the load generator's wall time "bench_wall_s", and for
# Portcullis its signatures "server_signatures" and their CPU time "server_signing_cpu_s" over
# the same span, from its /metrics) and one
# "rss" line per server to $RESULTS_DIR/<date>-<config>.jsonl. Any run with an error, or a
# non-zero exit, aborts the whole thing.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
bin=${CARGO_TARGET_DIR:-$root/target}/release
configs=${CONFIGS:-portcullis-rs256 peer-rs256 portcullis-es256 peer-es256 portcullis-rs256-unpinned}
scenarios=${SCENARIOS:-sso refresh client-credentials userinfo jwks}
concurrency=${CONCURRENCY:-1 8 32}
duration=${DURATION:-3}
warmup=${WARMUP:-1}
repeats=${REPEATS:-3}
full_login_c=${FULL_LOGIN_CONCURRENCY:-8}
port=${PORT:-18080}
results=${RESULTS_DIR:-$here/results}
day=$(date -u +%F)

die() { echo "run.sh: $*" >&2; exit 1; }

for b in portcullis portcullis-bench; do
  [[ -x $bin/$b ]] || die "no $bin/$b: build it first with
  cargo build --release -p portcullis -p portcullis-bench
(CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-<unset: $root/target>})"
done
if [[ ! -d $here/node_modules/oidc-provider ]]; then
  (cd "$here" && npm ci --no-audit --no-fund)
fi
command -v taskset >/dev/null || die "taskset (util-linux) is needed"
mkdir -p "$results"

# shellcheck source=bench/peer/lib.sh
source "$here/lib.sh"

started=$(date +%s)
for config in $configs; do
  out=$results/$day-$config.jsonl
  : >"$out"
  kind=${config%%-*}
  if [[ $config == *unpinned ]]; then server_cpus=0,1; bench_cpus=0,1; else server_cpus=0; bench_cpus=1; fi
  echo "== $config (server on CPU $server_cpus, load generator on CPU $bench_cpus) -> $out"
  for scenario in $scenarios full-login; do
    start_server "$config" "$scenario" "$server_cpus"
    idle=$(status_kib VmRSS)
    target=$work/$config-$scenario.toml
    target_file "$kind" "$issuer" "$scenario" "$target"
    if [[ $scenario == full-login ]]; then
      levels=$full_login_c; reps=1
    else
      levels=$concurrency; reps=$repeats
    fi
    for c in $levels; do
      echo " $scenario C=$c"
      for r in $(seq 1 "$reps"); do
        bench "$config" "$scenario" "$c" "$r" "$target" "$bench_cpus" "$out"
      done
    done
    jq -nc --arg config "$config" --arg scenario "$scenario" --argjson idle "$idle" \
      --argjson rss "$(status_kib VmRSS)" --argjson hwm "$(status_kib VmHWM)" \
      --arg after "C=${levels##* }" \
      '{config: $config, scenario: $scenario, rss: {idle_kib: $idle, after_kib: $rss, peak_kib: $hwm, after: $after}}' >>"$out"
    stop_server
  done
done
echo "done in $(( $(date +%s) - started )) s; results in $results"
