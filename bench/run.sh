#!/usr/bin/env bash
# Benchmark harness for MyChat. Usage, from anywhere:   bash bench/run.sh
#
# What it does:
#   1. installs wrk (apt-get) if it is missing,
#   2. builds the release binaries: mychat (repo root) and the bare actix-web baseline
#      (bench/baseline-hello, a standalone crate with its own target dir),
#   3. starts target/release/mychat on 127.0.0.1:18080/18081/18082 with a fresh temp data dir
#      (SQLite, in-memory Redis stand-ins), waits for GET /health, registers "benchuser".
#      It also starts the bare actix-web baseline on 127.0.0.1:18090.
#   4. wrk, RUNS times each after a short warm-up:
#        interleaved round by round: mychat GET /health (SQLite ping + outbox count behind the full
#        middleware stack), mychat GET of an unknown route (404 envelope: the middleware stack alone,
#        no database) and the baseline's GET /health;
#        then mychat POST /api/login (bench/login.lua) at CONNS connections, at one connection per
#        core, and serially (one connection),
#   5. measures the raw argon2id verify cost with the parameters of config/default.toml, on one
#      thread and on every core at once (no server involved),
#   6. prints a markdown table of medians (and the mychat/baseline ratio for /health) and writes it,
#      with every raw wrk output, to bench/results/<timestamp>/ (git-ignored).
#
# Knobs (environment): RUNS (3), DURATION (10s), THREADS (2), CONNS (32), WARMUP (3s),
#   SERIAL_DURATION (5s), WRK_TIMEOUT (30s: slower responses would be dropped from wrk's latency
#   distribution and counted as "timeout" socket errors, which hides the slow logins),
#   BENCH_USER_PORT (18080), BENCH_ADMIN_PORT (18081), BENCH_WS_PORT (18082),
#   BENCH_BASELINE_PORT (18090), SKIP_BUILD=1 (use the existing release binaries).
#
# Every load loop is bounded in time: wrk runs for a fixed -d and is wrapped in `timeout`;
# the wait-for-health loops have a deadline. The servers started here are killed on exit (trap).

set -euo pipefail
# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BENCH="$REPO/bench"
BASELINE_DIR="$BENCH/baseline-hello"

RUNS="${RUNS:-3}"
DURATION="${DURATION:-10s}"
THREADS="${THREADS:-2}"
CONNS="${CONNS:-32}"
WARMUP="${WARMUP:-3s}"
SERIAL_DURATION="${SERIAL_DURATION:-5s}"
WRK_TIMEOUT="${WRK_TIMEOUT:-30s}"
NPROC="$(nproc)"
USER_PORT="${BENCH_USER_PORT:-18080}"
ADMIN_PORT="${BENCH_ADMIN_PORT:-18081}"
WS_PORT="${BENCH_WS_PORT:-18082}"
BASELINE_PORT="${BENCH_BASELINE_PORT:-18090}"
HOST="127.0.0.1"

STAMP="$(date -u +%Y%m%dT%H%M%SZ)"
RESULTS="$BENCH/results/$STAMP"
mkdir -p "$RESULTS"

log() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# --------------------------------------------------------------------------------------------
# Cleanup: kill only the processes this script started, by pid.
# --------------------------------------------------------------------------------------------
MYCHAT_PID=""
BASELINE_PID=""
DATA_DIR=""
EMPTY_RUNS=0
cleanup() {
    local rc=$?
    stop_pid "$MYCHAT_PID"
    stop_pid "$BASELINE_PID"
    if [[ -n "$DATA_DIR" && -d "$DATA_DIR" ]]; then rm -rf "$DATA_DIR"; fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --------------------------------------------------------------------------------------------
# 1. wrk
# --------------------------------------------------------------------------------------------
ensure_wrk "$RESULTS/apt.log"
command -v wrk >/dev/null 2>&1 || die "wrk is still missing"
command -v curl >/dev/null 2>&1 || die "curl is required"

# --------------------------------------------------------------------------------------------
# 2. Build
# --------------------------------------------------------------------------------------------
MYCHAT_BIN="${CARGO_TARGET_DIR:-$REPO/target}/release/mychat"
BASELINE_BIN="$BASELINE_DIR/target/release/baseline-hello"
ARGON2_BIN="$BASELINE_DIR/target/release/argon2-cost"
if [[ "${SKIP_BUILD:-0}" != "1" ]]; then
    log "cargo build --release (mychat, repo root); the first build takes several minutes"
    (cd "$REPO" && cargo build --release) 2>&1 | tee "$RESULTS/build-mychat.log" | tail -n 3 >&2
    log "cargo build --release (bench/baseline-hello, standalone crate)"
    (cd "$BASELINE_DIR" && cargo build --release --target-dir "$BASELINE_DIR/target") 2>&1 \
        | tee "$RESULTS/build-baseline.log" | tail -n 3 >&2
fi
for bin in "$MYCHAT_BIN" "$BASELINE_BIN" "$ARGON2_BIN"; do
    [[ -x "$bin" ]] || die "missing binary $bin (build failed?)"
done

# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------



# warmup NAME URL THREADS CONNS [LUA]: one short unrecorded run.
warmup() {
    local name="$1" url="$2" t="$3" c="$4" lua="${5:-}"
    local -a script=()
    [[ -n "$lua" ]] && script=(-s "$lua")
    timeout "$(($(secs_of "$WARMUP") + $(secs_of "$WRK_TIMEOUT") + 30))" \
        wrk -t"$t" -c"$c" -d"$WARMUP" --timeout "$WRK_TIMEOUT" "${script[@]}" "$url" \
        >"$RESULTS/$name.warmup.txt" 2>&1 || die "$name warm-up failed (see $RESULTS/$name.warmup.txt)"
}

# run_one NAME I URL THREADS CONNS DURATION [LUA]: one measured run, raw output in NAME.runI.txt;
# appends "req/s p50_ms p99_ms non2xx socket_errors" to NAME.tsv.
run_one() {
    local name="$1" i="$2" url="$3" t="$4" c="$5" d="$6" lua="${7:-}" f row r p5 p9 n e
    local -a script=()
    [[ -n "$lua" ]] && script=(-s "$lua")
    f="$RESULTS/$name.run$i.txt"
    timeout "$(($(secs_of "$d") + $(secs_of "$WRK_TIMEOUT") + 30))" \
        wrk -t"$t" -c"$c" -d"$d" --timeout "$WRK_TIMEOUT" --latency "${script[@]}" "$url" >"$f" 2>&1 \
        || die "$name run $i failed (see $f)"
    row="$(wrk_rps "$f") $(wrk_pct "$f" 50) $(wrk_pct "$f" 99) $(wrk_non2xx "$f") $(wrk_errors "$f")"
    echo "$row" >>"$RESULTS/$name.tsv"
    read -r r p5 p9 n e <<<"$row"
    if [[ "$(wrk_requests "$f")" == "0" ]]; then
        EMPTY_RUNS=$((EMPTY_RUNS + 1))
        log "  WARNING: $name run $i completed no request within $d; its zeros are not measurements (use a longer DURATION)"
    fi
    log "  $name run $i (load $(loadavg)): $(wrk_requests "$f") requests, $r req/s, p50 $p5 ms, p99 $p9 ms, non-2xx $n, socket errors $e"
}

# stats NAME: MED_RPS, MED_P50, MED_P99 (ms), SUM_NON2XX, SUM_ERRORS, ALL_RPS from NAME.tsv.
stats() {
    local f="$RESULTS/$1.tsv"
    MED_RPS="$(median $(cut -d' ' -f1 "$f"))"
    MED_P50="$(median $(cut -d' ' -f2 "$f"))"
    MED_P99="$(median $(cut -d' ' -f3 "$f"))"
    SUM_NON2XX="$(awk '{ s += $4 } END { print s + 0 }' "$f")"
    SUM_ERRORS="$(awk '{ s += $5 } END { print s + 0 }' "$f")"
    ALL_RPS="$(cut -d' ' -f1 "$f" | paste -sd' ')"
}

# pair_ratio A B: the median over runs of A's req/s divided by B's req/s in the same round.
pair_ratio() {
    median $(paste -d' ' "$RESULTS/$1.tsv" "$RESULTS/$2.tsv" | awk '{ if ($6 > 0) printf "%.4f\n", $1 / $6 }')
}

# bench NAME URL THREADS CONNS DURATION [LUA]: a warm-up, RUNS measured runs, then stats.
bench() {
    local name="$1" url="$2" t="$3" c="$4" d="$5" lua="${6:-}" i
    log "$name: warm-up $WARMUP, then $RUNS x wrk -t$t -c$c -d$d --timeout $WRK_TIMEOUT --latency $url"
    warmup "$name" "$url" "$t" "$c" "$lua"
    for i in $(seq 1 "$RUNS"); do
        run_one "$name" "$i" "$url" "$t" "$c" "$d" "$lua"
    done
    stats "$name"
}

GIT_REV="$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)"
GIT_DIRTY="$(git -C "$REPO" status --porcelain -- src migrations Cargo.toml Cargo.lock config 2>/dev/null | wc -l)"
# peak_rss PID: the process's peak resident set size so far (VmHWM), in MiB.
peak_rss() { awk '/^VmHWM:/ { printf "%.0f", $2 / 1024 }' "/proc/$1/status" 2>/dev/null || echo "n/a"; }
LOAD_START="$(loadavg)"
if awk -v l="${LOAD_START%% *}" -v n="$NPROC" 'BEGIN { exit !(l > n) }'; then
    log "WARNING: load average $LOAD_START is above $NPROC cores: other work is running, expect noisy numbers"
fi

# --------------------------------------------------------------------------------------------
# 3. Start mychat and the baseline (both stay up; an idle server costs no CPU)
# --------------------------------------------------------------------------------------------
for p in "$USER_PORT" "$ADMIN_PORT" "$WS_PORT" "$BASELINE_PORT"; do
    port_in_use "$p" && die "port $p on $HOST is already in use; set BENCH_*_PORT"
done

DATA_DIR="$(mktemp -d -t mychat-bench.XXXXXX)"
log "starting mychat (data dir $DATA_DIR, ports $USER_PORT/$ADMIN_PORT/$WS_PORT)"
(
    # A clean environment for the server: nothing inherited may point it at a real database,
    # Redis, other ports or another log level.
    for v in $(compgen -e | grep -E '^MYCHAT_' || true); do unset "$v"; done
    unset DATABASE_URL REDIS_URL RUST_LOG
    cd "$REPO" # mychat reads config/<env>.toml relative to the working directory
    export MYCHAT_DATA_DIR="$DATA_DIR" \
        MYCHAT_ADMIN_PASSWORD=bench-admin-pass \
        MYCHAT_ENV=production \
        MYCHAT__LOG__LEVEL=warn \
        MYCHAT__AUTH__LOGIN_RATE_PER_IP_PER_MINUTE=100000000 \
        MYCHAT__AUTH__LOGIN_RATE_PER_ACCOUNT_PER_MINUTE=100000000 \
        MYCHAT_BIND="$HOST" \
        MYCHAT_USER_PORT="$USER_PORT" \
        MYCHAT_ADMIN_PORT="$ADMIN_PORT" \
        MYCHAT_WS_PORT="$WS_PORT"
    exec "$MYCHAT_BIN"
) >"$RESULTS/mychat.log" 2>&1 &
MYCHAT_PID=$!
wait_http "http://$HOST:$USER_PORT/health" "$MYCHAT_PID" 90 \
    || die "mychat did not answer GET /health with 200 within 90 s (see $RESULTS/mychat.log)"
curl -s "http://$HOST:$USER_PORT/health" >"$RESULTS/mychat.health.json"
log "mychat is up: $(cat "$RESULTS/mychat.health.json")"

log "starting the baseline on $HOST:$BASELINE_PORT"
"$BASELINE_BIN" "$BASELINE_PORT" >"$RESULTS/baseline.log" 2>&1 &
BASELINE_PID=$!
wait_http "http://$HOST:$BASELINE_PORT/health" "$BASELINE_PID" 30 \
    || die "the baseline did not answer GET /health within 30 s (see $RESULTS/baseline.log)"
curl -s "http://$HOST:$BASELINE_PORT/health" >"$RESULTS/baseline.health.json"
log "baseline is up: $(cat "$RESULTS/baseline.health.json")"

# Register the bench user, then check that a login really succeeds (200 and a token).
code="$(curl -s -o "$RESULTS/register.json" -w '%{http_code}' --max-time 10 \
    -H 'Content-Type: application/json' -d '{"username":"benchuser","password":"benchpass1"}' \
    "http://$HOST:$USER_PORT/api/register")"
[[ "$code" == "200" ]] || die "POST /api/register answered $code: $(cat "$RESULTS/register.json")"
code="$(curl -s -o "$RESULTS/login.json" -w '%{http_code}' --max-time 10 \
    -H 'Content-Type: application/json' -d '{"username":"benchuser","password":"benchpass1"}' \
    "http://$HOST:$USER_PORT/api/login")"
[[ "$code" == "200" ]] && grep -q '"token"' "$RESULTS/login.json" \
    || die "POST /api/login answered $code: $(cat "$RESULTS/login.json")"
log "registered benchuser; a test login returned a token"
RSS_IDLE="$(awk '/^VmRSS:/ { printf "%.0f", $2 / 1024 }' "/proc/$MYCHAT_PID/status")"

# --------------------------------------------------------------------------------------------
# 4. Load
# --------------------------------------------------------------------------------------------
# /health on mychat, an unknown route on mychat, /health on the baseline: interleaved run by run,
# so the three series see the same background noise and each round gives its own ratio.
# The unknown route goes through every middleware and the JSON error envelope, with no handler and
# no database; all its responses are 404 by design, so only socket errors count as failures there.
H_URL="http://$HOST:$USER_PORT/health"
N_URL="http://$HOST:$USER_PORT/bench-no-such-route"
B_URL="http://$HOST:$BASELINE_PORT/health"
log "GET: warm-ups of $WARMUP, then $RUNS rounds of wrk -t$THREADS -c$CONNS -d$DURATION --latency on $H_URL, $N_URL, $B_URL"
warmup mychat-health "$H_URL" "$THREADS" "$CONNS"
warmup mychat-404 "$N_URL" "$THREADS" "$CONNS"
warmup baseline-health "$B_URL" "$THREADS" "$CONNS"
for i in $(seq 1 "$RUNS"); do
    run_one mychat-health "$i" "$H_URL" "$THREADS" "$CONNS" "$DURATION"
    run_one mychat-404 "$i" "$N_URL" "$THREADS" "$CONNS" "$DURATION"
    run_one baseline-health "$i" "$B_URL" "$THREADS" "$CONNS" "$DURATION"
done
stats mychat-health
H_RPS=$MED_RPS H_P50=$MED_P50 H_P99=$MED_P99 H_BAD=$((SUM_NON2XX + SUM_ERRORS)) H_ALL=$ALL_RPS
stats mychat-404
N_RPS=$MED_RPS N_P50=$MED_P50 N_P99=$MED_P99 N_BAD=$SUM_ERRORS N_ALL=$ALL_RPS N_404=$SUM_NON2XX
stats baseline-health
B_RPS=$MED_RPS B_P50=$MED_P50 B_P99=$MED_P99 B_BAD=$((SUM_NON2XX + SUM_ERRORS)) B_ALL=$ALL_RPS
RSS_GET="$(peak_rss "$MYCHAT_PID")"
H_PAIR="$(pair_ratio mychat-health baseline-health)"
N_PAIR="$(pair_ratio mychat-404 baseline-health)"

bench mychat-login "http://$HOST:$USER_PORT/api/login" "$THREADS" "$CONNS" "$DURATION" "$BENCH/login.lua"
L_RPS=$MED_RPS L_P50=$MED_P50 L_P99=$MED_P99 L_BAD=$((SUM_NON2XX + SUM_ERRORS)) L_ALL=$ALL_RPS

# One connection per core: enough to keep every core busy hashing, without oversubscribing them.
bench mychat-login-percore "http://$HOST:$USER_PORT/api/login" "$NPROC" "$NPROC" "$DURATION" "$BENCH/login.lua"
C_RPS=$MED_RPS C_P50=$MED_P50 C_P99=$MED_P99 C_BAD=$((SUM_NON2XX + SUM_ERRORS)) C_ALL=$ALL_RPS

# One connection, one login at a time: latency ~ one argon2id verify plus the request overhead.
bench mychat-login-serial "http://$HOST:$USER_PORT/api/login" 1 1 "$SERIAL_DURATION" "$BENCH/login.lua"
S_RPS=$MED_RPS S_P50=$MED_P50 S_P99=$MED_P99 S_BAD=$((SUM_NON2XX + SUM_ERRORS)) S_ALL=$ALL_RPS

RSS_LOGIN="$(peak_rss "$MYCHAT_PID")"
stop_pid "$MYCHAT_PID"
MYCHAT_PID=""
stop_pid "$BASELINE_PID"
BASELINE_PID=""

# --------------------------------------------------------------------------------------------
# 5. argon2id: the parameters mychat uses, and their raw cost
# --------------------------------------------------------------------------------------------
toml_auth() { # toml_auth FILE KEY: the value of KEY in the [auth] table of FILE, if any
    [[ -f "$1" ]] || return 0
    awk -v k="$2" '/^\[/ { s = ($0 == "[auth]") } s && $1 == k { print $3; exit }' "$1"
}
A_MEM="$(toml_auth "$REPO/config/default.toml" argon2_memory_kib)"
A_IT="$(toml_auth "$REPO/config/default.toml" argon2_iterations)"
A_PAR="$(toml_auth "$REPO/config/default.toml" argon2_parallelism)"
for k in argon2_memory_kib argon2_iterations argon2_parallelism; do
    if [[ -n "$(toml_auth "$REPO/config/production.toml" "$k")" ]]; then
        log "WARNING: config/production.toml overrides auth.$k; the server ran with that value"
    fi
done
log "argon2id raw cost: m=$A_MEM KiB, t=$A_IT, p=$A_PAR (one thread for 5 s, then $NPROC processes at once for 5 s)"
timeout 60 "$ARGON2_BIN" "$A_MEM" "$A_IT" "$A_PAR" 5 >"$RESULTS/argon2-cost.txt"
A_LINE="$(cat "$RESULTS/argon2-cost.txt")"
A_MEAN="$(sed -E 's/.*mean_ms=([0-9.]+).*/\1/' <<<"$A_LINE")"
A_P50="$(sed -E 's/.*p50_ms=([0-9.]+).*/\1/' <<<"$A_LINE")"
# Every core at once: the most verifications per second this machine can do, i.e. the login ceiling.
A_PIDS=()
for i in $(seq 1 "$NPROC"); do
    timeout 60 "$ARGON2_BIN" "$A_MEM" "$A_IT" "$A_PAR" 5 >"$RESULTS/argon2-cost.parallel$i.txt" &
    A_PIDS+=($!)
done
for pid in "${A_PIDS[@]}"; do wait "$pid"; done
A_PAR_RATE="$(cat "$RESULTS"/argon2-cost.parallel*.txt \
    | sed -E 's/verifies=([0-9]+) total_s=([0-9.]+).*/\1 \2/' | awk '{ s += $1 / $2 } END { printf "%.1f", s }')"
A_PAR_MEAN="$(cat "$RESULTS"/argon2-cost.parallel*.txt \
    | sed -E 's/.*mean_ms=([0-9.]+).*/\1/' | awk '{ s += $1 } END { printf "%.2f", s / NR }')"

# --------------------------------------------------------------------------------------------
# 6. Report
# --------------------------------------------------------------------------------------------
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
fmt() { awk -v v="$1" 'BEGIN { printf "%.1f", v }'; }
fmt2() { awk -v v="$1" 'BEGIN { printf "%.2f", v }'; }
# Core-milliseconds per login, assuming the login load keeps every core busy: cores x 1000 / throughput.
per_login() { awk -v n="$NPROC" -v r="$1" 'BEGIN { if (r > 0) printf "%.1f", n * 1000 / r; else print "n/a" }'; }

{
    echo "## MyChat benchmark, $STAMP"
    echo
    echo "wrk -t$THREADS -c$CONNS -d$DURATION --timeout $WRK_TIMEOUT --latency unless noted, $RUNS runs each (after a $WARMUP warm-up); medians over the runs."
    echo "The three GET series ran interleaved (mychat /health, mychat 404, baseline /health, repeated $RUNS times)."
    echo "Host: $NPROC cores; wrk shares them with the server. $(rustc --version 2>/dev/null || true)."
    echo "Code: git $GIT_REV, $GIT_DIRTY uncommitted change(s) under src/ migrations/ config/ Cargo.* when built."
    echo "Load average (1/5/15 min): $LOAD_START after the build, $(loadavg) at the end."
    echo
    echo "| target | req/s (median) | p50 ms | p99 ms | failed (non-2xx + socket errors) | req/s of each run |"
    echo "|---|---:|---:|---:|---:|---|"
    echo "| mychat \`GET /health\` | $(fmt "$H_RPS") | $(fmt2 "$H_P50") | $(fmt2 "$H_P99") | $H_BAD | $H_ALL |"
    echo "| baseline \`GET /health\` (bare actix-web) | $(fmt "$B_RPS") | $(fmt2 "$B_P50") | $(fmt2 "$B_P99") | $B_BAD | $B_ALL |"
    echo "| **ratio mychat / baseline, \`/health\`** (of the medians) | **$(ratio "$H_RPS" "$B_RPS")** | $(ratio "$H_P50" "$B_P50") | $(ratio "$H_P99" "$B_P99") | | median of per-round ratios: $(fmt2 "$H_PAIR") |"
    echo "| mychat unknown route (404 envelope, middleware only, no DB; $N_404 404s expected) | $(fmt "$N_RPS") | $(fmt2 "$N_P50") | $(fmt2 "$N_P99") | $N_BAD | $N_ALL |"
    echo "| ratio mychat 404 / baseline \`/health\` (of the medians) | $(ratio "$N_RPS" "$B_RPS") | $(ratio "$N_P50" "$B_P50") | $(ratio "$N_P99" "$B_P99") | | median of per-round ratios: $(fmt2 "$N_PAIR") |"
    echo "| mychat \`POST /api/login\` (-t$THREADS -c$CONNS) | $(fmt "$L_RPS") | $(fmt2 "$L_P50") | $(fmt2 "$L_P99") | $L_BAD | $L_ALL |"
    echo "| mychat \`POST /api/login\`, one connection per core (-t$NPROC -c$NPROC) | $(fmt "$C_RPS") | $(fmt2 "$C_P50") | $(fmt2 "$C_P99") | $C_BAD | $C_ALL |"
    echo "| mychat \`POST /api/login\`, serial (-t1 -c1 -d$SERIAL_DURATION) | $(fmt "$S_RPS") | $(fmt2 "$S_P50") | $(fmt2 "$S_P99") | $S_BAD | $S_ALL |"
    echo
    echo "argon2id (config/default.toml): argon2_memory_kib=$A_MEM, argon2_iterations=$A_IT, argon2_parallelism=$A_PAR."
    echo
    echo "| argon2id cost per login | ms |"
    echo "|---|---:|"
    echo "| raw verify, one thread, no server (bench/baseline-hello argon2-cost), median | $(fmt2 "$A_P50") |"
    echo "| raw verify, one thread, no server, mean | $(fmt2 "$A_MEAN") |"
    echo "| raw verify, $NPROC processes at once, mean per verify | $A_PAR_MEAN |"
    echo "| serial login latency p50 (verify + HTTP + SQLite lookup + JWT) | $(fmt2 "$S_P50") |"
    echo "| core-ms per login inferred from one-connection-per-core throughput ($NPROC x 1000 / $(fmt "$C_RPS") req/s; an upper bound when the machine is busy) | $(per_login "$C_RPS") |"
    echo "| core-ms per login inferred from -c$CONNS throughput ($NPROC x 1000 / $(fmt "$L_RPS") req/s; an upper bound when the machine is busy) | $(per_login "$L_RPS") |"
    echo
    echo "mychat memory: $RSS_IDLE MiB resident after start-up and one login; peak (VmHWM) $RSS_GET MiB after the GET series, $RSS_LOGIN MiB after the login series (each login holds a $((A_MEM / 1024)) MiB argon2 buffer while it verifies)."
    echo
    echo "Raw argon2id ceiling on this machine ($NPROC processes verifying at once, no server): $A_PAR_RATE verifications/s."
    echo
    echo "Raw argon2-cost output (one thread): \`$A_LINE\`"
    echo
    if ((EMPTY_RUNS > 0)); then
        echo "WARNING: $EMPTY_RUNS run(s) completed no request; their zeros are not measurements."
        echo
    fi
    echo "Raw wrk outputs: bench/results/$STAMP/"
} | tee "$RESULTS/summary.md"

if ((H_BAD + B_BAD + N_BAD + L_BAD + C_BAD + S_BAD > 0)); then
    log "WARNING: some requests failed (non-2xx or socket errors); see the table and the raw outputs"
fi
log "done; results in $RESULTS"
