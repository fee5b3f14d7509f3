#!/usr/bin/env bash
# REST benchmark (issue #3): MyChat against a Node.js fastify peer (bench/peer-node/api-server.js) and a
# bare actix-web hello world (bench/baseline-hello), side by side, on PostgreSQL.
# Usage, from anywhere:   bash bench/api.sh
#
# What it does:
#   1. checks wrk, curl, node/npm, psql, python3 (installs wrk with apt-get if missing) and the peer's
#      node_modules (npm ci),
#   2. builds the release binaries: mychat and bench/baseline-hello (unless SKIP_BUILD=1),
#   3. creates two fresh PostgreSQL databases (one for MyChat, one for the peer: each server's own writes
#      and background work stay its own), migrates both with `mychat migrate`, seeds the same 50
#      counselors with statistics into both (SQL), starts MyChat, registers and logs in "benchuser" through
#      MyChat's API, copies that user row to the peer's database, starts the peer and the baseline,
#      and checks that both directories answer the same page and that one order flow completes on both,
#   4. wrk, after warm-ups, RUNS interleaved rounds of:
#        GET /api/counselor/list?page=1&page_size=10&keyword=&sort_by=rating&sort_order=desc
#        (what the client's Counselors.vue sends) on MyChat, the same on the peer, GET /health on the
#        baseline;
#      then RUNS interleaved rounds of the order flow (bench/flow.lua: create order → sandbox payment →
#      sandbox pay → GET the payment, which must be paid) on MyChat and on the peer; after each MyChat
#      round it waits until MyChat's outbox is delivered (so its dispatcher does not run in the peer's
#      round) and also reports MyChat's rate with that wait counted,
#   5. prints a markdown table of medians and ratios and writes it, with every raw output, to
#      bench/results/api-<timestamp>/ (git-ignored).
#
# Knobs (environment): RUNS (5), DURATION (10s), THREADS (2), CONNS (32), FLOW_CONNS (8: one wrk thread per
#   connection), WARMUP (3s), WRK_TIMEOUT (10s), PG_URL (postgres://root@127.0.0.1:5432), PEER_WORKERS
#   (nproc), SKIP_BUILD=1, MYCHAT_BIN (a prebuilt binary, with SKIP_BUILD=1), KEEP_DB=1 (keep the two
#   databases), MYCHAT_SETTINGS (space-separated MYCHAT__SECTION__KEY=value settings for MyChat, e.g.
#   "MYCHAT__AUTH__ACCOUNT_CACHE_MS=0"; everything else of the caller's MYCHAT_* environment is dropped).
# Ports: MyChat 19280/19281/19282, the baseline 19290, the peer 19291.
#
# Every load step is bounded in time: wrk runs for a fixed -d under `timeout`; every wait has a deadline.
# On exit the script kills the processes it started (by pid) and drops the databases it created.

set -euo pipefail
# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BENCH="$REPO/bench"
BASELINE_DIR="$BENCH/baseline-hello"
PEER_DIR="$BENCH/peer-node"

RUNS="${RUNS:-5}"
SETTINGS="${MYCHAT_SETTINGS:-}"
DURATION="${DURATION:-10s}"
THREADS="${THREADS:-2}"
CONNS="${CONNS:-32}"
FLOW_CONNS="${FLOW_CONNS:-8}"
WARMUP="${WARMUP:-3s}"
WRK_TIMEOUT="${WRK_TIMEOUT:-10s}"
PG_URL="${PG_URL:-postgres://root@127.0.0.1:5432}"
NPROC="$(nproc)"
PEER_WORKERS="${PEER_WORKERS:-$NPROC}"
HOST="127.0.0.1"
USER_PORT=19280
ADMIN_PORT=19281
WS_PORT=19282
BASELINE_PORT=19290
PEER_PORT=19291
COUNSELORS=50
LIST_PATH="/api/counselor/list?page=1&page_size=10&keyword=&sort_by=rating&sort_order=desc"

STAMP="$(date -u +%Y%m%dT%H%M%SZ)"
RESULTS="$BENCH/results/api-$STAMP"
mkdir -p "$RESULTS"
DB_TAG="$(tr 'A-Z' 'a-z' <<<"$STAMP")_$$"
DB_RS="mychat_api_${DB_TAG}_rs"
DB_JS="mychat_api_${DB_TAG}_js"

log() { printf '[api-bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# --------------------------------------------------------------------------------------------
# Cleanup: only what this script started, by pid; only the databases it created.
# --------------------------------------------------------------------------------------------
MYCHAT_PID=""
PEER_PID=""
BASELINE_PID=""
DATA_DIR=""
DBS_CREATED=0
psql_admin() { timeout 60 psql "$PG_URL/postgres?sslmode=disable" -v ON_ERROR_STOP=1 -qAt "$@"; }
cleanup() {
    local rc=$?
    stop_pid "$MYCHAT_PID"
    stop_pid "$PEER_PID"
    stop_pid "$BASELINE_PID"
    if ((DBS_CREATED)) && [[ "${KEEP_DB:-0}" != "1" ]]; then
        psql_admin -c "DROP DATABASE IF EXISTS $DB_RS WITH (FORCE)" -c "DROP DATABASE IF EXISTS $DB_JS WITH (FORCE)" \
            >/dev/null 2>&1 || log "could not drop $DB_RS / $DB_JS"
    fi
    if [[ -n "$DATA_DIR" && -d "$DATA_DIR" ]]; then rm -rf "$DATA_DIR"; fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --------------------------------------------------------------------------------------------
# 1. Tools
# --------------------------------------------------------------------------------------------
ensure_wrk "$RESULTS/apt.log"
for tool in wrk curl node npm psql python3; do
    command -v "$tool" >/dev/null 2>&1 || die "$tool is required"
done
if [[ ! -d "$PEER_DIR/node_modules/fastify" || ! -d "$PEER_DIR/node_modules/pg" ]]; then
    log "npm ci in bench/peer-node"
    (cd "$PEER_DIR" && timeout 300 npm ci --no-audit --no-fund) >"$RESULTS/npm.log" 2>&1 \
        || die "npm ci failed (see $RESULTS/npm.log)"
fi
psql_admin -c "SELECT 1" >/dev/null || die "PostgreSQL is not reachable at $PG_URL"

# --------------------------------------------------------------------------------------------
# 2. Build
# --------------------------------------------------------------------------------------------
MYCHAT_BIN="${MYCHAT_BIN:-${CARGO_TARGET_DIR:-$REPO/target}/release/mychat}"
BASELINE_BIN="$BASELINE_DIR/target/release/baseline-hello"
if [[ "${SKIP_BUILD:-0}" != "1" ]]; then
    log "cargo build --release (mychat)"
    (cd "$REPO" && cargo build --release) >"$RESULTS/build-mychat.log" 2>&1 \
        || die "mychat build failed (see $RESULTS/build-mychat.log)"
    log "cargo build --release (bench/baseline-hello, standalone crate)"
    (cd "$BASELINE_DIR" && cargo build --release --target-dir "$BASELINE_DIR/target") \
        >"$RESULTS/build-baseline.log" 2>&1 || die "baseline build failed (see $RESULTS/build-baseline.log)"
fi
for bin in "$MYCHAT_BIN" "$BASELINE_BIN"; do
    [[ -x "$bin" ]] || die "missing binary $bin (build failed?)"
done

# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------
for p in "$USER_PORT" "$ADMIN_PORT" "$WS_PORT" "$BASELINE_PORT" "$PEER_PORT"; do
    port_in_use "$p" && die "port $p on $HOST is already in use"
done

wrk_ms() { # wrk_ms FILE PCT: a latency percentile in ms
    awk -v p="$2%" '$1 == p { v = $2; if (v ~ /us$/) { sub(/us$/, "", v); v /= 1000 } else if (v ~ /ms$/) { sub(/ms$/, "", v) } else if (v ~ /s$/) { sub(/s$/, "", v); v *= 1000 } print v }' "$1"
}
wrk_bad() { # non-2xx + socket errors
    awk '/Non-2xx or 3xx responses:/ { n += $NF } /Socket errors:/ { gsub(",", ""); n += $4 + $6 + $8 + $10 } END { print n + 0 }' "$1"
}

# run_wrk NAME I URL THREADS CONNS DURATION [LUA]: one bounded wrk run, output in NAME.runI.txt.
run_wrk() {
    local name="$1" i="$2" url="$3" t="$4" c="$5" d="$6" lua="${7:-}" f
    local -a script=()
    [[ -n "$lua" ]] && script=(-s "$lua")
    f="$RESULTS/$name.run$i.txt"
    timeout "$(($(secs_of "$d") + $(secs_of "$WRK_TIMEOUT") + 30))" \
        wrk -t"$t" -c"$c" -d"$d" --timeout "$WRK_TIMEOUT" --latency "${script[@]}" "$url" >"$f" 2>&1 \
        || die "$name run $i failed (see $f)"
    echo "$f"
}
# GET series: "req/s p50 p99 bad load1" per run in NAME.tsv.
get_run() {
    local name="$1" i="$2" url="$3" f l
    l="$(loadavg)"
    f="$(run_wrk "$name" "$i" "$url" "$THREADS" "$CONNS" "$DURATION")"
    echo "$(wrk_rps "$f") $(wrk_ms "$f" 50) $(wrk_ms "$f" 99) $(wrk_bad "$f") ${l%% *}" >>"$RESULTS/$name.tsv"
    log "  $name round $i (load $l): $(wrk_rps "$f") req/s, p50 $(wrk_ms "$f" 50) ms, p99 $(wrk_ms "$f" 99) ms, failed $(wrk_bad "$f")"
}
# Flow series: "flows/s req/s p50 p99 failures load1" per run in NAME.tsv.
flow_run() {
    local name="$1" i="$2" url="$3" token="$4" f l fps fails
    l="$(loadavg)"
    f="$(BENCH_TOKEN="$token" BENCH_COUNSELORS="$COUNSELORS" \
        run_wrk "$name" "$i" "$url" "$FLOW_CONNS" "$FLOW_CONNS" "$DURATION" "$BENCH/flow.lua")"
    fps="$(sed -nE 's/.*flows_per_sec=([0-9.]+).*/\1/p' "$f")"
    fails="$(sed -nE 's/.*failures=([0-9]+).*/\1/p' "$f")"
    [[ -n "$fps" ]] || die "$name run $i printed no flow count (see $f)"
    echo "$fps $(wrk_rps "$f") $(wrk_ms "$f" 50) $(wrk_ms "$f" 99) $((fails + $(wrk_bad "$f"))) ${l%% *}" >>"$RESULTS/$name.tsv"
    log "  $name round $i (load $l): $fps flows/s ($(wrk_rps "$f") req/s), p50 $(wrk_ms "$f" 50) ms, p99 $(wrk_ms "$f" 99) ms, failed steps $fails"
}
col() { cut -d' ' -f"$2" "$RESULTS/$1.tsv"; }
med() { median $(col "$1" "$2"); }
# pair_ratio A B COL: the median over rounds of A/B in the same round.
pair_ratio() {
    median $(paste -d' ' <(col "$1" "$3") <(col "$2" "$3") | awk '{ if ($2 > 0) printf "%.4f\n", $1 / $2 }')
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }

# --------------------------------------------------------------------------------------------
# 3. Databases, servers, seed data
# --------------------------------------------------------------------------------------------
LOAD_START="$(loadavg)"
log "load average before start: $LOAD_START"
rand_hex() { od -An -tx1 -N"$1" /dev/urandom | tr -d ' \n'; }
USER_SECRET="$(rand_hex 32)"
ADMIN_SECRET="$(rand_hex 32)"
SANDBOX_SECRET="$(rand_hex 32)"
URL_RS="$PG_URL/$DB_RS?sslmode=disable"
URL_JS="$PG_URL/$DB_JS?sslmode=disable"

psql_admin -c "CREATE DATABASE $DB_RS" -c "CREATE DATABASE $DB_JS" >/dev/null
DBS_CREATED=1
DATA_DIR="$(mktemp -d -t mychat-api-bench.XXXXXX)"

# mychat_env DB_URL CMD...: execs CMD with MyChat's environment (nothing inherited may point it elsewhere).
# It replaces the shell it runs in: call it in a subshell, or in the background (then $! is CMD's pid).
mychat_env() {
    local db_url="$1"
    shift
    for v in $(compgen -e | grep -E '^MYCHAT_' || true); do unset "$v"; done
    unset DATABASE_URL REDIS_URL RUST_LOG
    cd "$REPO" # config/<env>.toml is read relative to the working directory
    export MYCHAT_DATA_DIR="$DATA_DIR" \
        DATABASE_URL="$db_url" \
        MYCHAT_ADMIN_PASSWORD=bench-admin-pass \
        MYCHAT_ENV=production \
        MYCHAT__LOG__LEVEL=warn \
        MYCHAT__PAYMENTS__SANDBOX_ENABLED=true \
        MYCHAT__PAYMENTS__SANDBOX_SECRET="$SANDBOX_SECRET" \
        MYCHAT__AUTH__USER_JWT_SECRET="$USER_SECRET" \
        MYCHAT__AUTH__ADMIN_JWT_SECRET="$ADMIN_SECRET" \
        MYCHAT_BIND="$HOST" \
        MYCHAT_USER_PORT="$USER_PORT" \
        MYCHAT_ADMIN_PORT="$ADMIN_PORT" \
        MYCHAT_WS_PORT="$WS_PORT"
    local setting
    for setting in $SETTINGS; do
        [[ "$setting" == MYCHAT__*=* ]] || die "MYCHAT_SETTINGS: not a MYCHAT__SECTION__KEY=value: $setting"
        export "${setting?}"
    done
    exec "$@"
}

log "migrating $DB_RS and $DB_JS with mychat migrate"
(mychat_env "$URL_RS" timeout 120 "$MYCHAT_BIN" migrate) >"$RESULTS/migrate-rs.log" 2>&1 \
    || die "migrate failed (see $RESULTS/migrate-rs.log)"
(mychat_env "$URL_JS" timeout 120 "$MYCHAT_BIN" migrate) >"$RESULTS/migrate-js.log" 2>&1 \
    || die "migrate failed (see $RESULTS/migrate-js.log)"

# 50 enabled counselors with varied ratings, prices and statistics; the same rows in both databases.
SEED_SQL="
INSERT INTO counselors (user_id, name, title, avatar, bio, specialty, price, years_exp, rating, status, created_at, updated_at)
SELECT NULL, '咨询师' || lpad(i::text, 2, '0'),
       (ARRAY['国家二级心理咨询师', '临床心理治疗师', '婚姻家庭咨询师', '精神科医师'])[1 + i % 4],
       '/uploads/avatars/counselor_' || i || '.png',
       '从业多年，擅长认知行为疗法与正念减压，帮助来访者处理焦虑、抑郁、亲密关系与职场压力等议题。第' || i || '号咨询师。',
       (ARRAY['焦虑,抑郁', '情感,婚姻', '职场压力,人际关系', '青少年,家庭教育', '睡眠,情绪管理'])[1 + i % 5],
       300 + (i * 37) % 700, 1 + i % 20, 400 + (i * 7) % 101, 1,
       TIMESTAMPTZ '2026-01-01 00:00:00+00' + i * INTERVAL '1 hour',
       TIMESTAMPTZ '2026-01-01 00:00:00+00' + i * INTERVAL '1 hour'
FROM generate_series(1, $COUNSELORS) AS i;
INSERT INTO counselor_statistics (counselor_id, total_orders, completed_orders, cancelled_orders, total_duration,
                                  total_amount, review_count, sum_rating, last_order_time, updated_at)
SELECT id, (id * 5) % 30, (id * 3) % 20, 0, 0, 0, (id * 2) % 15, 0, NULL, TIMESTAMPTZ '2026-01-01 00:00:00+00'
FROM counselors;"
for url in "$URL_RS" "$URL_JS"; do
    timeout 60 psql "$url" -v ON_ERROR_STOP=1 -q -c "$SEED_SQL" >/dev/null || die "seeding failed"
done
log "seeded $COUNSELORS counselors with statistics into both databases"

log "starting mychat (ports $USER_PORT/$ADMIN_PORT/$WS_PORT, database $DB_RS)"
mychat_env "$URL_RS" "$MYCHAT_BIN" >"$RESULTS/mychat.log" 2>&1 &
MYCHAT_PID=$!
wait_http "http://$HOST:$USER_PORT/health" "$MYCHAT_PID" 90 || die "mychat did not come up (see $RESULTS/mychat.log)"

code="$(curl -s -o "$RESULTS/register.json" -w '%{http_code}' --max-time 10 -H 'Content-Type: application/json' \
    -d '{"username":"benchuser","password":"benchpass1"}' "http://$HOST:$USER_PORT/api/register")"
[[ "$code" == "200" ]] || die "POST /api/register answered $code: $(cat "$RESULTS/register.json")"
code="$(curl -s -o "$RESULTS/login.json" -w '%{http_code}' --max-time 10 -H 'Content-Type: application/json' \
    -d '{"username":"benchuser","password":"benchpass1"}' "http://$HOST:$USER_PORT/api/login")"
[[ "$code" == "200" ]] || die "POST /api/login answered $code: $(cat "$RESULTS/login.json")"
TOKEN="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["data"]["token"])' "$RESULTS/login.json")"
USER_COLS="id, username, password, email, phone, avatar, balance, status, is_admin, tokens_valid_after, created_at, updated_at, deleted_at"
timeout 60 psql "$URL_RS" -qAt -c "\\copy (SELECT $USER_COLS FROM users) TO STDOUT" \
    | timeout 60 psql "$URL_JS" -v ON_ERROR_STOP=1 -q -c "\\copy users ($USER_COLS) FROM STDIN" \
    || die "could not copy the bench user to $DB_JS"
timeout 60 psql "$URL_JS" -qAt -c "SELECT setval(pg_get_serial_sequence('users', 'id'), (SELECT max(id) FROM users))" >/dev/null
log "registered benchuser through mychat, copied the account to the peer's database"

log "starting the fastify peer ($PEER_WORKERS workers, port $PEER_PORT, database $DB_JS)"
PORT="$PEER_PORT" HOST="$HOST" DATABASE_URL="$URL_JS" USER_JWT_SECRET="$USER_SECRET" SANDBOX_SECRET="$SANDBOX_SECRET" \
    WORKERS="$PEER_WORKERS" NODE_ENV=production node "$PEER_DIR/api-server.js" >"$RESULTS/peer.log" 2>&1 &
PEER_PID=$!
wait_http "http://$HOST:$PEER_PORT/health" "$PEER_PID" 30 || die "the peer did not come up (see $RESULTS/peer.log)"

log "starting the baseline on $HOST:$BASELINE_PORT"
"$BASELINE_BIN" "$BASELINE_PORT" >"$RESULTS/baseline.log" 2>&1 &
BASELINE_PID=$!
wait_http "http://$HOST:$BASELINE_PORT/health" "$BASELINE_PID" 30 || die "the baseline did not come up"

# Same page from both: same ids in the same order, same keys, same values (numbers compared as numbers,
# times as instants).
curl -s --max-time 10 -D "$RESULTS/list-mychat.headers" "http://$HOST:$USER_PORT$LIST_PATH" >"$RESULTS/list-mychat.json"
curl -s --max-time 10 -D "$RESULTS/list-peer.headers" "http://$HOST:$PEER_PORT$LIST_PATH" >"$RESULTS/list-peer.json"
python3 - "$RESULTS/list-mychat.json" "$RESULTS/list-peer.json" <<'PY' || die "the two directories differ"
import json, sys
from datetime import datetime
a, b = (json.load(open(p)) for p in sys.argv[1:3])
def norm(v):
    if isinstance(v, dict): return {k: norm(x) for k, x in v.items()}
    if isinstance(v, list): return [norm(x) for x in v]
    if isinstance(v, str) and len(v) >= 20 and v[4] == '-' and v[10] == 'T':
        return datetime.fromisoformat(v.replace('Z', '+00:00')).timestamp()
    if isinstance(v, (int, float)) and not isinstance(v, bool): return float(v)
    return v
assert a['code'] == b['code'] == 200 and a['msg'] == b['msg'], (a.get('msg'), b.get('msg'))
assert norm(a) == norm(b), 'bodies differ'
assert a['data']['total'] == 50 and len(a['data']['counselors']) == 10
print('directories match:', [c['id'] for c in a['data']['counselors']])
PY
for name in mychat peer; do
    grep -qi '^x-request-id:' "$RESULTS/list-$name.headers" || die "$name sent no X-Request-Id"
done
log "GET $LIST_PATH: same body from both ($(wc -c <"$RESULTS/list-mychat.json") bytes from mychat, $(wc -c <"$RESULTS/list-peer.json") from the peer)"

# One flow by hand on each, so a broken step fails here rather than as a zero in the table.
check_flow() {
    local base="$1" out="$RESULTS/flow-check-$2" oid pid pno ptoken
    curl -sf --max-time 10 -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
        -d '{"counselor_id":1,"duration":60,"schedule_time":"2026-12-01T14:30:00+08:00","notes":"check"}' \
        "$base/api/order/create" >"$out.1.json" || die "$2: order/create failed"
    oid="$(sed -nE 's/.*"order_id":([0-9]+).*/\1/p' "$out.1.json")"
    curl -sf --max-time 10 -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
        -d "{\"order_id\":$oid,\"payment_method\":\"sandbox\",\"trade_type\":\"NATIVE\"}" \
        "$base/api/payment/create" >"$out.2.json" || die "$2: payment/create failed"
    pid="$(sed -nE 's/.*"payment_id":([0-9]+).*/\1/p' "$out.2.json")"
    pno="$(sed -nE 's/.*"payment_no":"([A-Za-z0-9]+)".*/\1/p' "$out.2.json")"
    # MyChat's checkout link carries the payment's signed, single-use token; the peer's has none.
    ptoken="$(sed -nE 's/.*"pay_url":"[^"]*[?&]token=([^"&]+)".*/\1/p' "$out.2.json")"
    curl -sf --max-time 10 -X POST "$base/api/payment/sandbox/pay/$pno${ptoken:+?token=$ptoken}" >"$out.3.html" || die "$2: sandbox pay failed"
    curl -sf --max-time 10 -H "Authorization: Bearer $TOKEN" "$base/api/payment/$pid" >"$out.4.json" || die "$2: payment get failed"
    grep -q '"status":1,' "$out.4.json" || die "$2: the payment is not paid after the sandbox pay: $(cat "$out.4.json")"
}
check_flow "http://$HOST:$USER_PORT" mychat
check_flow "http://$HOST:$PEER_PORT" peer
for db in "$URL_RS" "$URL_JS"; do
    [[ "$(timeout 30 psql "$db" -qAt -c "SELECT count(*) FROM orders o JOIN payments p ON p.order_id = o.id WHERE o.status = 1 AND p.status = 1")" == "1" ]] \
        || die "the checked flow did not leave one paid order with one paid payment in $db"
done
log "one order flow completed on each (order and payment paid in the database)"

# --------------------------------------------------------------------------------------------
# 4. Load
# --------------------------------------------------------------------------------------------
M_LIST="http://$HOST:$USER_PORT$LIST_PATH"
P_LIST="http://$HOST:$PEER_PORT$LIST_PATH"
B_URL="http://$HOST:$BASELINE_PORT/health"
log "list: warm-ups, then $RUNS interleaved rounds of wrk -t$THREADS -c$CONNS -d$DURATION (mychat, peer, hello)"
for u in "$M_LIST" "$P_LIST" "$B_URL"; do
    timeout 60 wrk -t"$THREADS" -c"$CONNS" -d"$WARMUP" "$u" >/dev/null 2>&1 || die "warm-up of $u failed"
done
for i in $(seq 1 "$RUNS"); do
    get_run mychat-list "$i" "$M_LIST"
    get_run peer-list "$i" "$P_LIST"
    get_run baseline-hello "$i" "$B_URL"
done

log "order flow: warm-ups, then $RUNS interleaved rounds of wrk -t$FLOW_CONNS -c$FLOW_CONNS -d$DURATION -s bench/flow.lua (mychat, peer)"
for u in "http://$HOST:$USER_PORT" "http://$HOST:$PEER_PORT"; do
    BENCH_TOKEN="$TOKEN" timeout 60 wrk -t"$FLOW_CONNS" -c"$FLOW_CONNS" -d"$WARMUP" -s "$BENCH/flow.lua" "$u" >/dev/null 2>&1 \
        || die "flow warm-up of $u failed"
done
# MyChat's flows leave outbox events for its dispatcher (notifications, cache invalidations). Before the
# peer's round starts, wait until they are all delivered, so that work is not done in the peer's time, and
# count the wait in MyChat's own rate: flows / (round + drain).
DURATION_S="${DURATION%s}"
drain_outbox() {
    local start end n
    start="$(date +%s.%N)"
    for _ in $(seq 1 1500); do
        n="$(timeout 10 psql "$URL_RS" -qAt -c "SELECT count(*) FROM outbox_events WHERE processed_at IS NULL" 2>/dev/null || echo x)"
        [[ "$n" == 0 ]] && break
        sleep 0.2
    done
    [[ "$n" == 0 ]] || die "MyChat's outbox did not drain within 300 s ($n rows left)"
    end="$(date +%s.%N)"
    awk -v a="$start" -v b="$end" 'BEGIN { printf "%.2f", b - a }'
}
for i in $(seq 1 "$RUNS"); do
    flow_run mychat-flow "$i" "http://$HOST:$USER_PORT" "$TOKEN"
    drained="$(drain_outbox)"
    fps="$(tail -1 "$RESULTS/mychat-flow.tsv" | cut -d' ' -f1)"
    awk -v f="$fps" -v d="$drained" -v s="$DURATION_S" 'BEGIN { printf "%.2f %s\n", f * s / (s + d), d }' >>"$RESULTS/mychat-flow-drained.tsv"
    log "  mychat outbox drained $drained s after the round"
    flow_run peer-flow "$i" "http://$HOST:$PEER_PORT" "$TOKEN"
done
for db in "$URL_RS" "$URL_JS"; do
    timeout 30 psql "$db" -qAt -c "SELECT 'orders ' || count(*) || ', paid ' || count(*) FILTER (WHERE status = 1) FROM orders" \
        >>"$RESULTS/db-counts.txt"
done
RSS_M="$(awk '/^VmHWM:/ { printf "%.0f", $2 / 1024 }' "/proc/$MYCHAT_PID/status")"

# --------------------------------------------------------------------------------------------
# 5. Report
# --------------------------------------------------------------------------------------------
fmt() { awk -v v="$1" 'BEGIN { printf "%.1f", v }'; }
all() { col "$1" "$2" | paste -sd' '; }
ML="$(med mychat-list 1)" PL="$(med peer-list 1)" BL="$(med baseline-hello 1)"
MF="$(med mychat-flow 1)" PF="$(med peer-flow 1)" MFD="$(med mychat-flow-drained 1)"
{
    echo "## MyChat REST benchmark (api.sh), $STAMP"
    echo
    echo "Host: $NPROC cores, shared with wrk and both servers. $(rustc --version 2>/dev/null || true); node $(node --version); $(psql --version | head -1)."
    echo "Code: git $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown), $(git -C "$REPO" status --porcelain -- src migrations Cargo.toml Cargo.lock config bench/peer-node 2>/dev/null | wc -l) uncommitted change(s) under src/ migrations/ config/ Cargo.* bench/peer-node."
    echo "Load average (1/5/15 min): $LOAD_START at start, $(loadavg) at the end. 1-minute load before each run is in the raw .tsv files."
    echo "Binary: $MYCHAT_BIN ($(stat -c %y "$MYCHAT_BIN" | cut -d. -f1))."
    [[ -z "$SETTINGS" ]] || echo "MyChat settings from MYCHAT_SETTINGS: $SETTINGS."
    echo "Peer: fastify $(node -p "require('$PEER_DIR/node_modules/fastify/package.json').version"), pg $(node -p "require('$PEER_DIR/node_modules/pg/package.json').version"), $PEER_WORKERS cluster workers."
    echo
    echo "GET \`$LIST_PATH\` ($COUNSELORS counselors, both cached), wrk -t$THREADS -c$CONNS -d$DURATION, $RUNS interleaved rounds (mychat, peer, hello):"
    echo
    echo "| target | req/s (median) | p50 ms | p99 ms | failed | req/s of each round |"
    echo "|---|---:|---:|---:|---:|---|"
    echo "| mychat list | $(fmt "$ML") | $(med mychat-list 2) | $(med mychat-list 3) | $(col mychat-list 4 | awk '{ s += $1 } END { print s + 0 }') | $(all mychat-list 1) |"
    echo "| fastify peer list | $(fmt "$PL") | $(med peer-list 2) | $(med peer-list 3) | $(col peer-list 4 | awk '{ s += $1 } END { print s + 0 }') | $(all peer-list 1) |"
    echo "| bare actix hello (\`/health\`) | $(fmt "$BL") | $(med baseline-hello 2) | $(med baseline-hello 3) | $(col baseline-hello 4 | awk '{ s += $1 } END { print s + 0 }') | $(all baseline-hello 1) |"
    echo "| **mychat / peer** (target ≥ 1.5) | **$(ratio "$ML" "$PL")** | | | | per-round median $(pair_ratio mychat-list peer-list 1 | xargs printf '%.2f') |"
    echo "| **mychat / hello** (target ≥ 0.40) | **$(ratio "$ML" "$BL")** | | | | per-round median $(pair_ratio mychat-list baseline-hello 1 | xargs printf '%.2f') |"
    echo
    echo "Order flow (create order → sandbox payment → sandbox pay → GET payment = paid), wrk -t$FLOW_CONNS -c$FLOW_CONNS -d$DURATION -s bench/flow.lua, $RUNS interleaved rounds:"
    echo
    echo "| target | flows/s (median) | req/s | p50 ms per step | p99 ms per step | failed steps | flows/s of each round |"
    echo "|---|---:|---:|---:|---:|---:|---|"
    echo "| mychat | $(fmt "$MF") | $(fmt "$(med mychat-flow 2)") | $(med mychat-flow 3) | $(med mychat-flow 4) | $(col mychat-flow 5 | awk '{ s += $1 } END { print s + 0 }') | $(all mychat-flow 1) |"
    echo "| fastify peer | $(fmt "$PF") | $(fmt "$(med peer-flow 2)") | $(med peer-flow 3) | $(med peer-flow 4) | $(col peer-flow 5 | awk '{ s += $1 } END { print s + 0 }') | $(all peer-flow 1) |"
    echo "| **mychat / peer** | **$(ratio "$MF" "$PF")** | | | | | per-round median $(pair_ratio mychat-flow peer-flow 1 | xargs printf '%.2f') |"
    echo "| mychat, counting the wait for its outbox to drain: flows / (round + drain) | $(fmt "$MFD") | | | | | drains (s): $(all mychat-flow-drained 2) |"
    echo "| **mychat with drain / peer** | **$(ratio "$MFD" "$PF")** | | | | | per-round median $(pair_ratio mychat-flow-drained peer-flow 1 | xargs printf '%.2f') |"
    echo
    echo "Rows after the load: $(paste -sd';' "$RESULTS/db-counts.txt") (mychat; peer). mychat peak RSS $RSS_M MiB."
    echo "Raw outputs: bench/results/api-$STAMP/"
} | tee "$RESULTS/summary.md"
log "done; results in $RESULTS"
