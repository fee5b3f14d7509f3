#!/usr/bin/env bash
# Admin API benchmarks for MyChat (issue #5). Usage, from anywhere:   bash bench/admin.sh
#
# What it does:
#   1. builds bench/admin-bench (release; a standalone crate that links the mychat library, built in the
#      shared CARGO_TARGET_DIR so mychat's dependencies are reused),
#   2. RBAC overhead, on a fresh SQLite data dir with 100 users:
#        admin-bench setup creates the administrator bench_viewer, whose only role grants
#        system:user:list, dashboard:view and business:order:statistics (the super admin "admin" holds
#        the wildcard); admin-bench enforce-cost times one RbacEnforcer::allows() call in a loop;
#        admin-bench serve serves, from ONE application state:
#          :19180 the real admin API (every admin route, the production middleware chain),
#          :19181 only the users routes behind the same chain: require_admin -> record_mutations ->
#                 rbac::require_permission,
#          :19182 the same users routes behind require_admin -> record_mutations only (no casbin; this
#                 exists only in the bench binary);
#        then wrk GET /api/admin/users?page=1&pageSize=10, interleaved round by round:
#          full/viewer, full/super admin, chain/viewer, chain/super admin, no-casbin/viewer.
#   3. Dashboard statistics, for each backend in BACKENDS (sqlite, postgres, mysql): a fresh database
#      (a new SQLite data dir, or CREATE DATABASE mychat_bench_<stamp> that is dropped afterwards),
#      admin-bench setup bulk-inserts USERS users, COUNSELORS counselors, ORDERS orders over the last
#      365 days and their payments; then one connection (wrk -t1 -c1) on each of
#        GET /api/admin/statistics, /api/admin/stats/order/trend?period=year,
#        /api/admin/orders/statistics, /api/admin/stats/counselor/ranking
#      interleaved round by round, as bench_viewer. The first response of each endpoint is saved, so
#      the backends' answers can be compared (the data are the same: the seed is deterministic).
#   4. prints a markdown summary (medians over the rounds) and writes it with every raw output to
#      bench/results/admin-<UTC timestamp>/ (git-ignored).
#
# Knobs (environment): RUNS (3), DURATION (10s), THREADS (2), CONNS (16), WARMUP (3s),
#   STATS_DURATION (5s), WRK_TIMEOUT (30s), ENFORCE_SECS (3), ORDERS (100000), USERS (10000),
#   COUNSELORS (200), BACKENDS ("sqlite postgres mysql"), SKIP_RBAC=1, SKIP_STATS=1, SKIP_BUILD=1,
#   PG_BASE (postgres://root@127.0.0.1:5432), MYSQL_BASE (mysql://root@127.0.0.1:3306),
#   BENCH_ADMIN_BASE_PORT (19180; the script uses it and the next two ports).
#
# Every load step is bounded in time: wrk runs for a fixed -d under `timeout`, setup and the cost loop
# run under `timeout`, the wait-for-health loops have a deadline. The server started here is killed on
# exit (trap), its temp data dirs are removed and the bench databases dropped.

set -euo pipefail
# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BENCH="$REPO/bench"
CRATE="$BENCH/admin-bench"

RUNS="${RUNS:-3}"
DURATION="${DURATION:-10s}"
THREADS="${THREADS:-2}"
CONNS="${CONNS:-16}"
WARMUP="${WARMUP:-3s}"
STATS_DURATION="${STATS_DURATION:-5s}"
WRK_TIMEOUT="${WRK_TIMEOUT:-30s}"
ENFORCE_SECS="${ENFORCE_SECS:-3}"
ORDERS="${ORDERS:-100000}"
USERS="${USERS:-10000}"
COUNSELORS="${COUNSELORS:-200}"
BACKENDS="${BACKENDS:-sqlite postgres mysql}"
PG_BASE="${PG_BASE:-postgres://root@127.0.0.1:5432}"
MYSQL_BASE="${MYSQL_BASE:-mysql://root@127.0.0.1:3306}"
BASE_PORT="${BENCH_ADMIN_BASE_PORT:-19180}"
FULL_PORT="$BASE_PORT"
CHAIN_PORT=$((BASE_PORT + 1))
NOAUTHZ_PORT=$((BASE_PORT + 2))
HOST="127.0.0.1"
ADMIN_PASSWORD="bench-admin-pass-$RANDOM$RANDOM"
VIEWER_PASSWORD="bench-viewer-pass-$RANDOM$RANDOM"

STAMP="$(date -u +%Y%m%dT%H%M%SZ)"
RESULTS="$BENCH/results/admin-$STAMP"
mkdir -p "$RESULTS"
# Every backend is seeded relative to this instant, so all of them hold the same rows.
SEED_NOW="$(date +%s)"
BENCH_DB="mychat_bench_$(tr 'A-Z' 'a-z' <<<"$STAMP")"

log() { printf '[admin-bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# --------------------------------------------------------------------------------------------
# Cleanup: kill only the process this script started, by pid; remove its data; drop its databases.
# --------------------------------------------------------------------------------------------
SERVER_PID=""
DATA_DIR=""
PG_CREATED=0
MYSQL_CREATED=0
EMPTY_RUNS=0
drop_pg() { timeout 60 psql "$PG_BASE/postgres" -qc "DROP DATABASE IF EXISTS $BENCH_DB" >/dev/null 2>&1 || true; }
drop_mysql() { timeout 60 mysql -h127.0.0.1 -uroot -e "DROP DATABASE IF EXISTS $BENCH_DB" >/dev/null 2>&1 || true; }
cleanup() {
    local rc=$?
    stop_pid "$SERVER_PID"
    if [[ -n "$DATA_DIR" && -d "$DATA_DIR" ]]; then rm -rf "$DATA_DIR"; fi
    ((PG_CREATED)) && drop_pg
    ((MYSQL_CREATED)) && drop_mysql
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

command -v wrk >/dev/null 2>&1 || die "wrk is required (apt-get install wrk; bench/run.sh installs it)"
for tool in curl jq; do command -v "$tool" >/dev/null 2>&1 || die "$tool is required"; done

# --------------------------------------------------------------------------------------------
# Build
# --------------------------------------------------------------------------------------------
BIN="${CARGO_TARGET_DIR:-$CRATE/target}/release/admin-bench"
if [[ "${SKIP_BUILD:-0}" != "1" ]]; then
    log "cargo build --release (bench/admin-bench, links the mychat library)"
    (cd "$CRATE" && cargo build --release) 2>&1 | tee "$RESULTS/build.log" | tail -n 3 >&2
fi
[[ -x "$BIN" ]] || die "missing binary $BIN (build failed?)"

# --------------------------------------------------------------------------------------------
# Helpers (wrk parsing as in bench/run.sh)
# --------------------------------------------------------------------------------------------
fmt() { awk -v v="$1" 'BEGIN { printf "%.1f", v }'; }
fmt2() { awk -v v="$1" 'BEGIN { printf "%.2f", v }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.3f", a / b; else print "n/a" }'; }

# wrk_run NAME LABEL URL TOKEN THREADS CONNS DURATION: one run, raw output in NAME.LABEL.txt; appends
# "req/s p50_ms p99_ms non2xx socket_errors" to NAME.tsv unless LABEL is "warmup".
wrk_run() {
    local name="$1" label="$2" url="$3" token="$4" t="$5" c="$6" d="$7" f row r p5 p9 n e
    f="$RESULTS/$name.$label.txt"
    timeout "$(($(secs_of "$d") + $(secs_of "$WRK_TIMEOUT") + 30))" \
        wrk -t"$t" -c"$c" -d"$d" --timeout "$WRK_TIMEOUT" --latency \
        -H "Authorization: Bearer $token" "$url" >"$f" 2>&1 || die "$name $label failed (see $f)"
    [[ "$label" == "warmup" ]] && return 0
    row="$(wrk_rps "$f") $(wrk_pct "$f" 50) $(wrk_pct "$f" 99) $(wrk_non2xx "$f") $(wrk_errors "$f")"
    echo "$row" >>"$RESULTS/$name.tsv"
    read -r r p5 p9 n e <<<"$row"
    if [[ "$(wrk_requests "$f")" == "0" ]]; then
        EMPTY_RUNS=$((EMPTY_RUNS + 1))
        log "  WARNING: $name $label completed no request; its zeros are not measurements"
    fi
    log "  $name $label (load $(loadavg)): $(wrk_requests "$f") requests, $r req/s, p50 $p5 ms, p99 $p9 ms, non-2xx $n, socket errors $e"
}
# stats NAME: MED_RPS MED_P50 MED_P99 BAD ALL_RPS
stats() {
    local f="$RESULTS/$1.tsv"
    MED_RPS="$(median $(cut -d' ' -f1 "$f"))"
    MED_P50="$(median $(cut -d' ' -f2 "$f"))"
    MED_P99="$(median $(cut -d' ' -f3 "$f"))"
    BAD="$(awk '{ s += $4 + $5 } END { print s + 0 }' "$f")"
    ALL_RPS="$(cut -d' ' -f1 "$f" | paste -sd' ')"
}
pair_ratio() { # median over rounds of A's req/s / B's req/s in the same round
    median $(paste -d' ' "$RESULTS/$1.tsv" "$RESULTS/$2.tsv" | awk '{ if ($6 > 0) printf "%.4f\n", $1 / $6 }')
}

# A clean environment for admin-bench (call it inside a subshell): nothing inherited may point it at
# another database, Redis or log level. It runs in the repo root, where config/ is.
bench_env() { # bench_env DATABASE_URL
    for v in $(compgen -e | grep -E '^MYCHAT_' || true); do unset "$v"; done
    unset DATABASE_URL REDIS_URL RUST_LOG
    cd "$REPO"
    export MYCHAT_DATA_DIR="$DATA_DIR" MYCHAT_ADMIN_PASSWORD="$ADMIN_PASSWORD" \
        BENCH_VIEWER_PASSWORD="$VIEWER_PASSWORD" BENCH_SEED_NOW="$SEED_NOW" MYCHAT_ENV=production MYCHAT__LOG__LEVEL=warn \
        MYCHAT__AUTH__LOGIN_RATE_PER_IP_PER_MINUTE=100000000 \
        MYCHAT__AUTH__LOGIN_RATE_PER_ACCOUNT_PER_MINUTE=100000000 MYCHAT_BIND="$HOST"
    if [[ -n "$1" ]]; then export DATABASE_URL="$1"; fi
}
run_bench() { # run_bench SECS DATABASE_URL ARGS...: admin-bench in the foreground, bounded by `timeout`
    local secs="$1" url="$2"
    shift 2
    (
        bench_env "$url"
        exec timeout "$secs" "$BIN" "$@"
    )
}

start_server() { # start_server DATABASE_URL LOGNAME
    for p in "$FULL_PORT" "$CHAIN_PORT" "$NOAUTHZ_PORT"; do
        port_in_use "$p" && die "port $p on $HOST is already in use; set BENCH_ADMIN_BASE_PORT"
    done
    # One subshell that execs the server, so $! is the server's own pid (stop_pid signals it directly).
    (
        bench_env "$1"
        exec "$BIN" serve "$FULL_PORT" "$CHAIN_PORT" "$NOAUTHZ_PORT"
    ) >"$RESULTS/$2.log" 2>&1 &
    SERVER_PID=$!
    wait_http "http://$HOST:$FULL_PORT/health" "$SERVER_PID" 120 \
        || die "admin-bench serve did not answer /health within 120 s (see $RESULTS/$2.log)"
}

login() { # login USER PASSWORD: prints the admin token
    local body
    body="$(curl -s --max-time 30 -H 'Content-Type: application/json' \
        -d "{\"username\":\"$1\",\"password\":\"$2\"}" "http://$HOST:$FULL_PORT/api/admin2/login")"
    jq -er '.data.token' <<<"$body" || die "login of $1 failed: $body"
}

expect() { # expect CODE URL TOKEN [OUTFILE]
    local code out="${4:-/dev/null}"
    code="$(curl -s -o "$out" -w '%{http_code}' --max-time 60 -H "Authorization: Bearer $3" "$2")"
    [[ "$code" == "$1" ]] || die "GET $2 answered $code, expected $1"
}

GIT_REV="$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)"
GIT_DIRTY="$(git -C "$REPO" status --porcelain -- src migrations Cargo.toml Cargo.lock config bench/admin-bench 2>/dev/null | wc -l)"
SUMMARY="$RESULTS/summary.md"
{
    echo "## MyChat admin benchmark, $STAMP"
    echo
    echo "Host: $(nproc) cores; wrk shares them with the server. $(rustc --version 2>/dev/null || true)."
    echo "Code: git $GIT_REV, $GIT_DIRTY uncommitted change(s) under src/ migrations/ config/ Cargo.* bench/admin-bench when run."
    echo "Load average (1/5/15 min) at the start: $(loadavg)."
    echo
} >"$SUMMARY"

# --------------------------------------------------------------------------------------------
# RBAC overhead
# --------------------------------------------------------------------------------------------
if [[ "${SKIP_RBAC:-0}" != "1" ]]; then
    DATA_DIR="$(mktemp -d -t mychat-admin-bench.XXXXXX)"
    log "RBAC: setup on SQLite in $DATA_DIR (100 users)"
    run_bench 300 "" setup --users 100 --counselors 20 --orders 0 >"$RESULTS/rbac-setup.txt" 2>&1 \
        || die "setup failed (see $RESULTS/rbac-setup.txt)"
    log "RBAC: enforce() cost, $ENFORCE_SECS s per case (load $(loadavg))"
    run_bench $((ENFORCE_SECS * 6 + 120)) "" enforce-cost "$ENFORCE_SECS" >"$RESULTS/enforce-cost.txt" 2>&1 \
        || die "enforce-cost failed (see $RESULTS/enforce-cost.txt)"
    cat "$RESULTS/enforce-cost.txt" >&2
    start_server "" rbac-server
    SUPER_TOKEN="$(login admin "$ADMIN_PASSWORD")"
    VIEWER_TOKEN="$(login bench_viewer "$VIEWER_PASSWORD")"
    USERS_PATH="/api/admin/users?page=1&pageSize=10"
    for p in "$FULL_PORT" "$CHAIN_PORT" "$NOAUTHZ_PORT"; do
        expect 200 "http://$HOST:$p$USERS_PATH" "$VIEWER_TOKEN" "$RESULTS/users.$p.json"
        expect 200 "http://$HOST:$p$USERS_PATH" "$SUPER_TOKEN"
    done
    # The guard is really on: the viewer is refused a route its role does not grant.
    expect 403 "http://$HOST:$FULL_PORT/api/admin/roles" "$VIEWER_TOKEN"
    expect 200 "http://$HOST:$FULL_PORT/api/admin/roles" "$SUPER_TOKEN"
    expect 401 "http://$HOST:$NOAUTHZ_PORT$USERS_PATH" "not-a-token"
    log "RBAC: tokens work, the viewer gets 403 on /api/admin/roles; $RUNS rounds of wrk -t$THREADS -c$CONNS -d$DURATION"
    SERIES=(full-viewer full-super chain-viewer chain-super noauthz-viewer)
    declare -A S_URL=(
        [full-viewer]="http://$HOST:$FULL_PORT$USERS_PATH" [full-super]="http://$HOST:$FULL_PORT$USERS_PATH"
        [chain-viewer]="http://$HOST:$CHAIN_PORT$USERS_PATH" [chain-super]="http://$HOST:$CHAIN_PORT$USERS_PATH"
        [noauthz-viewer]="http://$HOST:$NOAUTHZ_PORT$USERS_PATH"
    )
    declare -A S_TOKEN=(
        [full-viewer]="$VIEWER_TOKEN" [full-super]="$SUPER_TOKEN" [chain-viewer]="$VIEWER_TOKEN"
        [chain-super]="$SUPER_TOKEN" [noauthz-viewer]="$VIEWER_TOKEN"
    )
    for s in "${SERIES[@]}"; do
        wrk_run "rbac-$s" warmup "${S_URL[$s]}" "${S_TOKEN[$s]}" "$THREADS" "$CONNS" "$WARMUP"
    done
    for i in $(seq 1 "$RUNS"); do
        for s in "${SERIES[@]}"; do
            wrk_run "rbac-$s" "run$i" "${S_URL[$s]}" "${S_TOKEN[$s]}" "$THREADS" "$CONNS" "$DURATION"
        done
    done
    stop_pid "$SERVER_PID"
    SERVER_PID=""
    rm -rf "$DATA_DIR"
    DATA_DIR=""
    stats rbac-noauthz-viewer
    BASE_RPS=$MED_RPS BASE_P50=$MED_P50
    {
        echo "### RBAC overhead: GET $USERS_PATH (SQLite, 100 users)"
        echo
        echo "wrk -t$THREADS -c$CONNS -d$DURATION --latency, $RUNS interleaved rounds after a $WARMUP warm-up each; medians. Load average at the end: $(loadavg)."
        echo
        echo "| series | req/s (median) | p50 ms | p99 ms | failed | req/s of each run | req/s ÷ no-casbin (of medians) | median of per-round ratios |"
        echo "|---|---:|---:|---:|---:|---|---:|---:|"
        for s in "${SERIES[@]}"; do
            stats "rbac-$s"
            echo "| $s | $(fmt "$MED_RPS") | $(fmt2 "$MED_P50") | $(fmt2 "$MED_P99") | $BAD | $ALL_RPS | $(ratio "$MED_RPS" "$BASE_RPS") | $(fmt2 "$(pair_ratio "rbac-$s" rbac-noauthz-viewer)") |"
        done
        echo
        echo "full = the real admin API on :$FULL_PORT; chain = users routes behind require_admin → record_mutations → require_permission; noauthz = the same without require_permission. viewer = bench_viewer (one role, 3 permissions), super = admin (super_admin, wildcard)."
        echo
        echo "enforce() cost (admin-bench enforce-cost $ENFORCE_SECS, no HTTP; per call, median and minimum of 1,000-call batch means):"
        echo
        echo '```'
        cat "$RESULTS/enforce-cost.txt"
        echo '```'
        echo
    } >>"$SUMMARY"
fi

# --------------------------------------------------------------------------------------------
# Dashboard statistics with ORDERS orders
# --------------------------------------------------------------------------------------------
if [[ "${SKIP_STATS:-0}" != "1" ]]; then
    ENDPOINTS=(
        "dashboard|/api/admin/statistics"
        "trend-year|/api/admin/stats/order/trend?period=year"
        "order-stats|/api/admin/orders/statistics"
        "ranking|/api/admin/stats/counselor/ranking"
    )
    {
        echo "### Dashboard statistics with $ORDERS orders ($USERS users, $COUNSELORS counselors)"
        echo
        echo "One connection (wrk -t1 -c1 -d$STATS_DURATION --latency), the four endpoints interleaved, $RUNS rounds; medians. As bench_viewer."
        echo
        echo "| backend | endpoint | p50 ms | p99 ms | req/s | failed | req/s of each run |"
        echo "|---|---|---:|---:|---:|---:|---|"
    } >"$RESULTS/stats-table.md"
    SETUP_LINES=""
    for backend in $BACKENDS; do
        DATA_DIR="$(mktemp -d -t mychat-admin-bench.XXXXXX)"
        case "$backend" in
            sqlite) URL="" ;;
            postgres)
                drop_pg
                timeout 60 psql "$PG_BASE/postgres" -qc "CREATE DATABASE $BENCH_DB" >/dev/null || die "cannot create $BENCH_DB on PostgreSQL"
                PG_CREATED=1
                URL="$PG_BASE/$BENCH_DB"
                ;;
            mysql)
                drop_mysql
                timeout 60 mysql -h127.0.0.1 -uroot -e "CREATE DATABASE $BENCH_DB CHARACTER SET utf8mb4" || die "cannot create $BENCH_DB on MariaDB"
                MYSQL_CREATED=1
                URL="$MYSQL_BASE/$BENCH_DB"
                ;;
            *) die "unknown backend $backend" ;;
        esac
        log "stats/$backend: setup ($USERS users, $COUNSELORS counselors, $ORDERS orders; load $(loadavg))"
        run_bench 1200 "$URL" setup --users "$USERS" --counselors "$COUNSELORS" --orders "$ORDERS" \
            >"$RESULTS/stats-$backend-setup.txt" 2>&1 || die "setup failed (see $RESULTS/stats-$backend-setup.txt)"
        SETUP_LINES+="$(grep '^setup ' "$RESULTS/stats-$backend-setup.txt")"$'\n'
        log "  $(grep '^setup ' "$RESULTS/stats-$backend-setup.txt")"
        start_server "$URL" "stats-$backend-server"
        VIEWER_TOKEN="$(login bench_viewer "$VIEWER_PASSWORD")"
        for e in "${ENDPOINTS[@]}"; do
            name="${e%%|*}" path="${e#*|}"
            expect 200 "http://$HOST:$FULL_PORT$path" "$VIEWER_TOKEN" "$RESULTS/stats-$backend-$name.json"
            wrk_run "stats-$backend-$name" warmup "http://$HOST:$FULL_PORT$path" "$VIEWER_TOKEN" 1 1 1s
        done
        for i in $(seq 1 "$RUNS"); do
            for e in "${ENDPOINTS[@]}"; do
                name="${e%%|*}" path="${e#*|}"
                wrk_run "stats-$backend-$name" "run$i" "http://$HOST:$FULL_PORT$path" "$VIEWER_TOKEN" 1 1 "$STATS_DURATION"
            done
        done
        stop_pid "$SERVER_PID"
        SERVER_PID=""
        rm -rf "$DATA_DIR"
        DATA_DIR=""
        case "$backend" in
            postgres) drop_pg && PG_CREATED=0 ;;
            mysql) drop_mysql && MYSQL_CREATED=0 ;;
        esac
        for e in "${ENDPOINTS[@]}"; do
            name="${e%%|*}" path="${e#*|}"
            stats "stats-$backend-$name"
            echo "| $backend | \`$path\` | $(fmt2 "$MED_P50") | $(fmt2 "$MED_P99") | $(fmt "$MED_RPS") | $BAD | $ALL_RPS |" >>"$RESULTS/stats-table.md"
        done
    done
    {
        cat "$RESULTS/stats-table.md"
        echo
        echo "Seeding (admin-bench setup: migrations + RBAC seed, then multi-row INSERTs in one transaction):"
        echo
        echo '```'
        printf '%s' "$SETUP_LINES"
        echo '```'
        echo
        echo "Load average at the end: $(loadavg)."
        echo
    } >>"$SUMMARY"
    # The same deterministic data on every backend: the dashboards should agree (bar a day boundary).
    for e in "${ENDPOINTS[@]}"; do
        name="${e%%|*}"
        first=""
        for backend in $BACKENDS; do
            f="$RESULTS/stats-$backend-$name.json"
            if [[ -z "$first" ]]; then
                first="$f"
            elif ! cmp -s <(jq -S .data "$first") <(jq -S .data "$f"); then
                log "NOTE: $name differs between $(basename "$first") and $(basename "$f")"
                echo "NOTE: \`$name\` differs between backends ($(basename "$first") vs $(basename "$f"))." >>"$SUMMARY"
            fi
        done
    done
fi

if ((EMPTY_RUNS > 0)); then
    echo "WARNING: $EMPTY_RUNS run(s) completed no request; their zeros are not measurements." >>"$SUMMARY"
fi
echo "Raw outputs: bench/results/admin-$STAMP/" >>"$SUMMARY"
cat "$SUMMARY"
log "done; results in $RESULTS"
