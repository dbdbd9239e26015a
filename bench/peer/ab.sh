#!/usr/bin/env bash
# Alternating runs of two or more builds (docs/performance.md, "Comparing two builds"): each
# round runs every scenario once per build, in the order given, each run on a fresh server
# and a fresh database, so no run meets what an earlier one wrote.
#
#   bench/peer/ab.sh ROUNDS C "SCENARIOS" "DIR_A DIR_B…" [CONFIG]
#   bench/peer/ab.sh 3 8 "sso refresh" "/tmp/before /tmp/after" portcullis-rs256
#
# Each DIR holds a release `portcullis` and `portcullis-bench` (copy them there after each
# build); the word `peer` instead of a directory runs the peer with the first DIR's load
# generator. CONFIG is portcullis-rs256 (the default) or portcullis-es256. Knobs
# (environment): DURATION (3), WARMUP (1), SERVER_CPUS (0), BENCH_CPUS (1), PORT, COUNTS=1
# (adds the server's pwrite64, pread64 and context switches per iteration, from perf).
# Prints one tab-separated line per run, with what a signature cost the server in it;
# builds nothing.
set -euo pipefail

[[ $# -ge 4 ]] || { sed -n '2,14p' "$0" >&2; exit 2; }
rounds=$1 c=$2 scenarios=$3 builds=$4 config=${5:-portcullis-rs256}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
duration=${DURATION:-3}
warmup=${WARMUP:-1}
port=${PORT:-18080}
server_cpus=${SERVER_CPUS:-0}
bench_cpus=${BENCH_CPUS:-1}

die() { echo "ab.sh: $*" >&2; exit 1; }
first=
for b in $builds; do
  [[ $b == peer ]] && continue
  for f in portcullis portcullis-bench; do
    [[ -x $b/$f ]] || die "no $b/$f"
  done
  first=${first:-$b}
done
[[ -n $first ]] || die "name at least one build directory"
if [[ " $builds " == *" peer "* && ! -d $here/node_modules/oidc-provider ]]; then
  (cd "$here" && npm ci --no-audit --no-fund)
fi

bin=$first
# shellcheck source=bench/peer/lib.sh
source "$here/lib.sh"

printf 'build\tscenario\tround\tit/s\tserver CPU µs/it\tserver cores\tp99 ms\tpwrite64/it\tpread64/it\tswitches/it\tµs/signature\tidle MiB\tpeak MiB\n'
out=$work/run.jsonl
for r in $(seq 1 "$rounds"); do
  for s in $scenarios; do
    for b in $builds; do
      if [[ $b == peer ]]; then cfg=${config/portcullis/peer} kind=peer bin=$first; else cfg=$config kind=portcullis bin=$b; fi
      rm -rf "${work:?}/$cfg-$s" # a fresh database
      start_server "$cfg" "$s" "$server_cpus"
      idle=$(status_kib VmRSS)
      target_file "$kind" "$issuer" "$s" "$work/target.toml"
      : >"$out"
      bench "$cfg" "$s" "$c" "$r" "$work/target.toml" "$bench_cpus" "$out" >/dev/null
      peak=$(status_kib VmHWM)
      stop_server
      # Iterations over the server's whole measured span: its signatures ÷ 2 for the token
      # scenarios, throughput × the load generator's wall time otherwise (and for the peer).
      jq -r --arg b "$b" --arg r "$r" --argjson idle "$idle" --argjson peak "$peak" '
        (if .server_signatures > 0 and (.scenario == "sso" or .scenario == "refresh")
         then .server_signatures / 2 else .throughput * .bench_wall_s end) as $n
        | [$b, .scenario, $r, (.throughput | floor),
           (.server_cpu_s / $n * 1e6 | floor), (.server_cpu_s / .bench_wall_s * 100 | floor / 100),
           (.p99_ms * 100 | floor / 100),
           (if .server_counts then (.server_counts.pwrite64 / $n * 10 | floor / 10) else "-" end),
           (if .server_counts then (.server_counts.pread64 / $n * 10 | floor / 10) else "-" end),
           (if .server_counts then (.server_counts.sched_switch / $n * 10 | floor / 10) else "-" end),
           (if .server_signatures > 0 then (.server_signing_cpu_s / .server_signatures * 1e6 * 10 | floor / 10) else "-" end),
           ($idle / 1024 * 10 | floor / 10), ($peak / 1024 * 10 | floor / 10)] | @tsv' "$out"
    done
  done
done
