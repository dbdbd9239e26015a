# Shared by run.sh and flood.sh (sourced, after they set bin, port, here, root, duration and
# warmup): the work directory, the tenant and target files, starting and stopping a server,
# reading its CPU time and memory, and one load-generator run.

work=$(mktemp -d)
server_pid=
stop_server() {
  if [[ -n $server_pid ]]; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
    server_pid=
  fi
}
trap 'stop_server; rm -rf "$work"' EXIT

m2m_id=bench-m2m
m2m_secret=bench-m2m-secret-0123456789abcdefghijklmnop

# tests/e2e/tenant.yaml plus the bench's machine-to-machine client and its grant (as
# crates/portcullis-bench/tests/against_portcullis.rs builds it); $1 = RS256 or ES256.
tenant_file() {
  local alg=$1 out=$2
  {
    awk -v alg="$alg" -v id="$m2m_id" -v secret="$m2m_secret" '
      /^clients:$/ {
        print
        print "  - name: Bench M2M"
        print "    client_id: " id
        print "    client_secret: " secret
        print "    app_type: non_interactive"
        print "    grant_types: [client_credentials]"
        print "    token_endpoint_auth_method: client_secret_basic"
        next
      }
      { print }
      alg != "RS256" && /^  - name: E2E Web App$/ { print "    jwt_configuration: {alg: " alg "}" }
      alg != "RS256" && /^    identifier: https:\/\/e2e-api.test\/$/ { print "    signing_alg: " alg }
    ' "$root/tests/e2e/tenant.yaml"
    printf 'clientGrants:\n  - client_id: %s\n    audience: "https://e2e-api.test/"\n    scope: ["read:items"]\n' "$m2m_id"
  } >"$out"
}

# Target file: $1 = portcullis or peer, $2 = issuer, $3 = scenario.
target_file() {
  local kind=$1 issuer=$2 scenario=$3 out=$4
  {
    cat <<EOF
issuer = "$issuer"
client_id = "e2e-web"
client_secret = "e2e-web-secret-0123456789abcdefghijklmnop"
token_auth = "client_secret_basic"
redirect_uri = "http://127.0.0.1:8976/callback"
username = "alice@example.com"
password = "correct horse battery staple"
scope = "openid profile email"
refresh_scope = "openid offline_access read:items"
cc_client_id = "$m2m_id"
cc_client_secret = "$m2m_secret"
EOF
    if [[ $kind == portcullis ]]; then
      echo 'audience = "https://e2e-api.test/"'
    else
      echo 'resource = "https://e2e-api.test/"'
      # The peer issues a refresh token only on a consented prompt=consent request.
      if [[ $scenario == refresh ]]; then
        echo 'extra_authorize_params = { prompt = "consent" }'
      fi
    fi
  } >"$out"
}

# Starts the server of config $1 for scenario $2 pinned to CPU list $3; sets server_pid, issuer.
start_server() {
  local config=$1 scenario=$2 cpus=$3 alg log
  alg=$( [[ $config == *es256* ]] && echo ES256 || echo RS256 )
  log=$work/$config-$scenario.log
  : >"$log"
  case $config in
    portcullis-*)
      local dir=$work/$config-$scenario
      mkdir -p "$dir"
      tenant_file "$alg" "$dir/tenant.yaml"
      (cd "$dir" && exec env -i PATH="$PATH" HOME="$HOME" \
        RUST_LOG=warn \
        PORTCULLIS_DEMO=false \
        PORTCULLIS_MASTER_KEY=bench-peer-master-key-0123456789abcdefghijklmnop \
        PORTCULLIS_RATE_LIMITS__REFRESH_BURST=1000000 \
        PORTCULLIS_RATE_LIMITS__REFRESH_PER_MINUTE=1000000 \
        taskset -c "$cpus" "$bin/portcullis" serve --listen "127.0.0.1:$port" \
          --database "sqlite://$dir/b.db" --tenant "$dir/tenant.yaml") >"$log" 2>&1 &
      server_pid=$!
      ;;
    peer-*)
      (cd "$here" && exec env -i PATH="$PATH" HOME="$HOME" NODE_ENV=production \
        SIGNING_ALG="$alg" PORT="$port" taskset -c "$cpus" node provider.mjs) >"$log" 2>&1 &
      server_pid=$!
      ;;
    *) die "unknown configuration $config" ;;
  esac
  issuer=
  for _ in $(seq 1 300); do
    issuer=$(sed -n 's/.* is listening\. Issuer: \([^ ]*\).*/\1/p' "$log" | head -n1)
    [[ -n $issuer ]] && break
    kill -0 "$server_pid" 2>/dev/null || { cat "$log" >&2; die "$config did not start"; }
    sleep 0.1
  done
  [[ -n $issuer ]] || { cat "$log" >&2; die "$config: no issuer line after 30 s"; }
  sleep 0.5 # let it settle before the idle RSS is read
}

# The server's user + system CPU time so far, in clock ticks (/proc/PID/stat fields 14, 15;
# the command name, field 2, has no spaces here).
clk_tck=$(getconf CLK_TCK)
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$server_pid/stat"; }

# VmRSS / VmHWM of the server, in KiB.
status_kib() { awk -v k="$1:" '$1 == k { print $2 }' "/proc/$server_pid/status"; }

# Portcullis's signing counters (`GET /metrics`), summed over the algorithms: "signatures
# cpu_seconds"; "0 0" for the peer, which has none.
command -v curl >/dev/null || die "curl is needed (to read Portcullis's /metrics)"
signing_totals() {
  if [[ $1 != portcullis-* ]]; then echo "0 0"; return; fi
  curl -fsS "${issuer%/}/metrics" | awk '
    /^portcullis_signatures_total/ { n += $2 }
    /^portcullis_signing_cpu_seconds_total/ { s += $2 }
    END { printf "%d %.6f\n", n, s }'
}

# With COUNTS=1, what the server does that a busy host cannot change: its system calls that
# read and write the database, its fsyncs, the sleeps of SQLite's busy handler and its
# context switches, counted by `perf stat` over one load-generator run.
count_events=syscalls:sys_enter_pread64,syscalls:sys_enter_pwrite64,syscalls:sys_enter_fsync,syscalls:sys_enter_clock_nanosleep,sched:sched_switch
if [[ ${COUNTS:-0} == 1 ]]; then
  command -v perf >/dev/null || die "COUNTS=1 needs perf"
fi
counts_pid=
start_counts() {
  [[ ${COUNTS:-0} == 1 ]] || return 0
  perf stat -x, -e "$count_events" -p "$server_pid" -o "$work/counts.csv" &
  counts_pid=$!
  sleep 0.3 # perf attaches
}
# Sets counts to a JSON object ({} without COUNTS=1): {"pread64": n, …, "sched_switch": n}.
# Not in a subshell: perf is this shell's child, and writes its file when it exits.
stop_counts() {
  counts='{}'
  [[ -n $counts_pid ]] || return 0
  kill -INT "$counts_pid"
  wait "$counts_pid" || true
  counts_pid=
  counts=$(awk -F, '$3 ~ /:/ { sub(/.*:(sys_enter_)?/, "", $3); printf "%s\"%s\": %d", (n++ ? ", " : "{"), $3, $1 }
    END { print (n ? "}" : "{}") }' "$work/counts.csv")
}

# One load-generator run; appends its JSON line (with config and repeat) to $out.
bench() {
  local config=$1 scenario=$2 c=$3 repeat=$4 target=$5 cpus=$6 out=$7 stdout rc=0 cpu0 t0 cpu1 t1 sig0 sig1 counts
  sig0=$(signing_totals "$config")
  start_counts
  cpu0=$(cpu_ticks); t0=$(date +%s%N)
  stdout=$(taskset -c "$cpus" "$bin/portcullis-bench" --target "$target" --scenario "$scenario" \
    --concurrency "$c" --duration "$duration" --warmup "$warmup" 2>"$work/bench.err") || rc=$?
  cpu1=$(cpu_ticks); t1=$(date +%s%N)
  stop_counts
  sig1=$(signing_totals "$config")
  echo "  $config #$repeat: $(head -n1 <<<"$stdout")"
  local json
  json=$(tail -n1 <<<"$stdout")
  if [[ $rc != 0 ]] || ! jq -e '.errors == 0' >/dev/null 2>&1 <<<"$json"; then
    echo "$stdout" >&2
    cat "$work/bench.err" >&2
    die "ABORT: $config $scenario C=$c repeat $repeat exited $rc or counted errors"
  fi
  # The server's CPU time (user + system) over the whole load-generator process (setup and
  # warm-up included), against that process's wall time; and, over the same span, the
  # signatures Portcullis made and the CPU time they took (its own count: the signing cost
  # in this very run, for the signing bound).
  jq -c --arg config "$config" --argjson repeat "$repeat" \
    --argjson sigs "$(awk -v a="${sig0% *}" -v b="${sig1% *}" 'BEGIN { print b - a }')" \
    --argjson sign "$(awk -v a="${sig0#* }" -v b="${sig1#* }" 'BEGIN { printf "%.6f", b - a }')" \
    --argjson cpu "$(awk -v a="$cpu0" -v b="$cpu1" -v hz="$clk_tck" 'BEGIN { printf "%.3f", (b - a) / hz }')" \
    --argjson wall "$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", (b - a) / 1e9 }')" \
    --argjson counts "$counts" \
    '{config: $config, repeat: $repeat} + . + {server_cpu_s: $cpu, bench_wall_s: $wall, server_signatures: $sigs, server_signing_cpu_s: $sign} + (if $counts == {} then {} else {server_counts: $counts} end)' \
    <<<"$json" >>"$out"
}

