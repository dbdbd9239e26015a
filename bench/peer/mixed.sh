#!/usr/bin/env bash
# Cheap requests beside a signing load (docs/performance.md, "Cheap requests beside RSA
# signatures"): what a JWKS or UserInfo request waits while code exchanges sign. Each round,
# per build, on a fresh server and database: LOAD (sso) runs at LOAD_C (32) in the
# background, and meanwhile each of CHEAP (jwks userinfo) runs at CHEAP_C (2), one after
# the other, for DURATION (3) seconds each.
#
#   bench/peer/mixed.sh ROUNDS "DIR_A DIR_B…" [CONFIG]
#   bench/peer/mixed.sh 2 "/tmp/before /tmp/after" portcullis-rs256
#
# Each DIR holds a release `portcullis` and `portcullis-bench`, as for ab.sh. CONFIG is
# portcullis-rs256 (the default) or portcullis-es256. Knobs (environment): LOAD, LOAD_C,
# CHEAP, CHEAP_C, DURATION, SERVER_CPUS (0), BENCH_CPUS (1; both load generators), PORT.
# Prints one tab-separated line per run of a cheap scenario and one for the load beside
# them; builds nothing.
set -euo pipefail

[[ $# -ge 2 ]] || { sed -n '2,15p' "$0" >&2; exit 2; }
rounds=$1 builds=$2 config=${3:-portcullis-rs256}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
load=${LOAD:-sso} load_c=${LOAD_C:-32} cheap=${CHEAP:-jwks userinfo} cheap_c=${CHEAP_C:-2}
duration=${DURATION:-3}
warmup=1
port=${PORT:-18080}
server_cpus=${SERVER_CPUS:-0}
bench_cpus=${BENCH_CPUS:-1}

die() { echo "mixed.sh: $*" >&2; exit 1; }
first=
for b in $builds; do
  for f in portcullis portcullis-bench; do
    [[ -x $b/$f ]] || die "no $b/$f"
  done
  first=${first:-$b}
done
[[ $config == portcullis-* ]] || die "CONFIG is portcullis-rs256 or portcullis-es256"

bin=$first
# shellcheck source=bench/peer/lib.sh
source "$here/lib.sh"

# One run of the load generator; its JSON line on stdout (stderr kept in the work directory).
run() {
  local scenario=$1 c=$2 secs=$3 wu=$4 out rc=0
  out=$(taskset -c "$bench_cpus" "$bin/portcullis-bench" --target "$work/target.toml" \
    --scenario "$scenario" --concurrency "$c" --duration "$secs" --warmup "$wu" \
    2>>"$work/bench.err") || rc=$?
  [[ $rc == 0 ]] || { cat "$work/bench.err" >&2; die "$scenario C=$c exited $rc"; }
  tail -n1 <<<"$out"
}
line() {
  jq -r --arg b "$1" --arg r "$2" --arg what "$3" \
    '[$b, $r, $what, .scenario, .concurrency, (.throughput | floor), (.p50_ms * 100 | floor / 100), (.p99_ms * 100 | floor / 100)] | @tsv'
}

printf 'build\tround\trole\tscenario\tC\tit/s\tp50 ms\tp99 ms\n'
n_cheap=$(wc -w <<<"$cheap")
# The load covers every cheap run, each with its setup and one second of warm-up.
load_secs=$((2 + n_cheap * (duration + 3)))
for r in $(seq 1 "$rounds"); do
  for b in $builds; do
    bin=$b
    rm -rf "${work:?}/$config-$load"
    start_server "$config" "$load" "$server_cpus"
    target_file portcullis "$issuer" "$load" "$work/target.toml"
    run "$load" "$load_c" "$load_secs" "$warmup" >"$work/load.json" &
    load_pid=$!
    sleep $((warmup + 1))
    for s in $cheap; do
      run "$s" "$cheap_c" "$duration" 1 | line "$b" "$r" cheap
    done
    wait "$load_pid" || die "the load beside the cheap requests failed"
    line "$b" "$r" load <"$work/load.json"
    stop_server
  done
done
