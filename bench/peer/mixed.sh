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
# them (over its whole span, the gaps between the cheap runs included; the cheap runs
# start two seconds after it, when its setup logins are done); builds nothing.
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
# The load in the background is stopped with the server, also when a cheap run fails.
load_pid=
trap 'if [[ -n $load_pid ]]; then kill "$load_pid" 2>/dev/null || true; fi; stop_server; rm -rf "$work"' EXIT

# The load generator: scenario, concurrency, seconds, warm-up seconds. Call it in a
# subshell (`$(…)` or `&`), which it becomes: `$!` is then the load generator itself.
generator() {
  exec taskset -c "$bench_cpus" "$bin/portcullis-bench" --target "$work/target.toml" \
    --scenario "$1" --concurrency "$2" --duration "$3" --warmup "$4"
}
# One load-generator run in the foreground; its JSON line on stdout.
run() {
  local scenario=$1 c=$2 out rc=0
  out=$(generator "$@" 2>"$work/cheap.err") || rc=$?
  [[ $rc == 0 ]] || { cat "$work/cheap.err" >&2; die "$scenario C=$c exited $rc"; }
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
    generator "$load" "$load_c" "$load_secs" "$warmup" >"$work/load.out" 2>"$work/load.err" &
    load_pid=$!
    sleep $((warmup + 1))
    lines=
    for s in $cheap; do
      lines+=$(run "$s" "$cheap_c" "$duration" 1 | line "$b" "$r" cheap)$'\n'
      # The load must still run (not be a zombie waiting to be reaped) when each ends.
      [[ -e /proc/$load_pid ]] && ! grep -q '^[0-9]* ([^)]*) Z' "/proc/$load_pid/stat" ||
        die "the load ended before the cheap runs did"
    done
    rc=0
    wait "$load_pid" || rc=$?
    load_pid=
    [[ $rc == 0 ]] || { cat "$work/load.err" >&2; die "the load beside the cheap requests exited $rc"; }
    printf '%s' "$lines"
    tail -n1 "$work/load.out" | line "$b" "$r" load
    stop_server
  done
done
