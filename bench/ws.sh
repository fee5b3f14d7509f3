#!/usr/bin/env bash
# WebSocket benchmark: MyChat against a Node.js `ws` peer (bench/peer-node), side by side.
#
#   bench/ws.sh                       # full scale: 10k fan-out, 5k sessions at 2k msg/s, 10k idle
#   SCALE=reduced bench/ws.sh         # 2k fan-out, 1k sessions at 1k msg/s, 2k idle
#   FANOUT_CONNS=… SESSIONS=… RATE=… SECS=… IDLE_CONNS=… ROUNDS=… PROCS=… bench/ws.sh
#
# Needs: cargo, node + npm, python3, psql and a PostgreSQL server reachable as
# postgres://root@127.0.0.1:5432 (PG_URL) that may create databases. MyChat runs on a fresh
# database wsbench_<time> on ports 28080-28082; the Node peer on 28090. Writes the report to
# bench/WS_RESULTS.md (REPORT=…) and keeps logs and fixtures in $WORK (printed).
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BENCH="$ROOT/bench"
SCALE="${SCALE:-full}"
if [[ "$SCALE" == reduced ]]; then
  : "${FANOUT_CONNS:=2000}" "${SESSIONS:=1000}" "${RATE:=1000}" "${IDLE_CONNS:=2000}"
else
  : "${FANOUT_CONNS:=10000}" "${SESSIONS:=5000}" "${RATE:=2000}" "${IDLE_CONNS:=10000}"
fi
: "${SECS:=30}" "${ROUNDS:=5}" "${PROCS:=2}" "${IDLE_HOLD:=15}"
: "${PG_URL:=postgres://root@127.0.0.1:5432}"
: "${PG_HOST:=127.0.0.1}" "${PG_USER:=root}"
# on: every chat message is a durable commit (the product default); off: commits do not wait for fsync.
: "${PG_SYNC_COMMIT:=on}"
: "${REPORT:=$BENCH/WS_RESULTS.md}"
: "${CARGO_TARGET_DIR:=$ROOT/target}"
export CARGO_TARGET_DIR
MYCHAT_BIN="${MYCHAT_BIN:-$CARGO_TARGET_DIR/release/mychat}"
LOAD="$BENCH/ws-load/target/release/ws-load"
USER_PORT=28080 ADMIN_PORT=28081 WS_PORT=28082 NODE_PORT=28090 FLOOR_PORT=28095
ADMIN_PASSWORD="wsbench-admin-1"
WORK="$(mktemp -d /tmp/wsbench.XXXXXX)"
DB="wsbench_$(date +%s)"
RESULTS="$WORK/results.txt"
: > "$RESULTS"
echo "work dir: $WORK"
LOAD_START="$(cut -d" " -f1-3 /proc/loadavg)"

MYCHAT_PID="" NODE_PID="" FLOOR_PID=""
cleanup() {
  [[ -n "$MYCHAT_PID" ]] && kill "$MYCHAT_PID" 2>/dev/null || true
  [[ -n "$FLOOR_PID" ]] && kill "$FLOOR_PID" 2>/dev/null || true
  [[ -n "$NODE_PID" ]] && kill "$NODE_PID" 2>/dev/null || true
  # The bench database is dropped unless KEEP_DB=1 (to re-run a step by hand against its fixtures).
  if [[ "${KEEP_DB:-0}" != 1 ]]; then
    [[ -n "$MYCHAT_PID" ]] && wait "$MYCHAT_PID" 2>/dev/null || true
    timeout 60 psql "$PG_URL/postgres" -qc "DROP DATABASE IF EXISTS $DB" >/dev/null 2>&1 || true
  fi
}
trap cleanup EXIT

if [[ "${SKIP_BUILD:-0}" != 1 ]]; then
  (cd "$ROOT" && cargo build --release --bin mychat --example chat_crypto_cost)
fi
(cd "$BENCH/ws-load" && CARGO_TARGET_DIR="$BENCH/ws-load/target" cargo build --release)
(cd "$BENCH/ws-floor" && CARGO_TARGET_DIR="$BENCH/ws-floor/target" cargo build --release)
FLOOR_BIN="$BENCH/ws-floor/target/release/ws-floor"
[[ -d "$BENCH/peer-node/node_modules/ws" ]] || (cd "$BENCH/peer-node" && npm ci --no-audit --no-fund)

wait_port() {
  for _ in $(seq 1 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.2
  done
  echo "port $1 never opened" >&2
  return 1
}

start_mychat() {
  env DATABASE_URL="$PG_URL/$DB?sslmode=disable" MYCHAT_DATA_DIR="$WORK/data" \
    MYCHAT_USER_PORT=$USER_PORT MYCHAT_ADMIN_PORT=$ADMIN_PORT MYCHAT_WS_PORT=$WS_PORT \
    MYCHAT_ADMIN_PASSWORD="$ADMIN_PASSWORD" \
    MYCHAT__AUTH__LOGIN_RATE_PER_IP_PER_MINUTE=100000000 \
    MYCHAT__AUTH__LOGIN_RATE_PER_ACCOUNT_PER_MINUTE=100000000 \
    MYCHAT__AUTH__ARGON2_MEMORY_KIB=1024 MYCHAT__AUTH__ARGON2_ITERATIONS=1 \
    MYCHAT__LOG__FORMAT=json RUST_LOG="${MYCHAT_LOG:-warn}" \
    "$MYCHAT_BIN" >>"$WORK/mychat.log" 2>&1 &
  MYCHAT_PID=$!
  wait_port $USER_PORT && wait_port $WS_PORT && wait_port $ADMIN_PORT
}
stop_mychat() { kill "$MYCHAT_PID" 2>/dev/null || true; wait "$MYCHAT_PID" 2>/dev/null || true; MYCHAT_PID=""; }
start_node() {
  PORT=$NODE_PORT node "$BENCH/peer-node/server.js" >>"$WORK/node.log" 2>&1 &
  NODE_PID=$!
  wait_port $NODE_PORT
}
stop_node() { kill "$NODE_PID" 2>/dev/null || true; wait "$NODE_PID" 2>/dev/null || true; NODE_PID=""; }

# ---- fixtures
psql "$PG_URL/postgres" -qc "CREATE DATABASE $DB"
psql "$PG_URL/postgres" -qc "ALTER DATABASE $DB SET synchronous_commit = $PG_SYNC_COMMIT"
start_mychat
python3 "$BENCH/ws-load/setup.py" --user-api "http://127.0.0.1:$USER_PORT" \
  --admin-api "http://127.0.0.1:$ADMIN_PORT" --admin-password "$ADMIN_PASSWORD" \
  --db "$DB" --pg-host "$PG_HOST" --pg-user "$PG_USER" --pairs "$SESSIONS" --out "$WORK/mychat"
ADMIN_TOKEN="$(cat "$WORK/mychat/admin.txt")"
# The Node peer's tokens: u<n> is user n; session i pairs users 2i-1 and 2i.
mkdir -p "$WORK/node"
N_USERS=$(( 2 * SESSIONS > FANOUT_CONNS ? 2 * SESSIONS : FANOUT_CONNS ))
seq 1 "$N_USERS" | sed 's/^/u/' > "$WORK/node/tokens.txt"
seq 1 "$SESSIONS" | awk '{ printf "%d u%d u%d\n", $1, 2*$1-1, 2*$1 }' > "$WORK/node/pairs.txt"

run() { # label server command...
  local label=$1 server=$2; shift 2
  echo "== $server $label (load $(cut -d' ' -f1-3 /proc/loadavg)): $*" | tee -a "$WORK/runs.log"
  "$@" 2>>"$WORK/ws-load.stderr" | tee -a "$WORK/runs.log" | tee /dev/stderr | grep '^RESULT ' \
    | sed "s/^RESULT /$server /" >> "$RESULTS" || echo "$server $label failed" | tee -a "$WORK/runs.log"
}

bench_server() { # name ws_base trigger_url tokens pairs pid [trigger_auth]
  local name=$1 base=$2 trigger=$3 tokens=$4 pairs=$5 pid=$6 auth=${7:-}
  run idle "$name" "$LOAD" idle --url "$base/ws" --tokens "$tokens" --conns "$IDLE_CONNS" \
    --procs "$PROCS" --hold-secs "$IDLE_HOLD" --server-pid "$pid"
  sleep 3
  local auth_args=()
  [[ -n "$auth" ]] && auth_args=(--trigger-auth "$auth")
  run fanout "$name" "$LOAD" fanout --url "$base/ws" --tokens "$tokens" --conns "$FANOUT_CONNS" \
    --procs "$PROCS" --rounds "$ROUNDS" --trigger-url "$trigger" "${auth_args[@]}"
  grep VmRSS "/proc/$pid/status" | sed "s/^/$name after fanout: /" | tee -a "$WORK/runs.log"
  sleep 3
  run chat "$name" "$LOAD" chat --base "$base" --pairs "$pairs" --sessions "$SESSIONS" \
    --rate "$RATE" --secs "$SECS" --procs "$PROCS"
}

# A fresh server process for each side, so the idle RSS delta is not hidden by freed setup memory.
stop_mychat
start_mychat
bench_server mychat "ws://127.0.0.1:$WS_PORT" "http://127.0.0.1:$ADMIN_PORT/api/admin/broadcast" \
  "$WORK/mychat/tokens.txt" "$WORK/mychat/pairs.txt" "$MYCHAT_PID" "Bearer $ADMIN_TOKEN"
MYCHAT_RSS_END=$(awk '/VmRSS/ {print $2}' "/proc/$MYCHAT_PID/status")
STORED=$(psql "$PG_URL/$DB" -qAtc "SELECT count(*) FROM chat_messages" 2>/dev/null || echo "?")
stop_mychat

start_node
bench_server node "ws://127.0.0.1:$NODE_PORT" "http://127.0.0.1:$NODE_PORT/broadcast" \
  "$WORK/node/tokens.txt" "$WORK/node/pairs.txt" "$NODE_PID"
stop_node

# The bare actix-ws floor (bench/ws-floor): idle memory and fan-out only, as it has no chat.
PORT=$FLOOR_PORT "$FLOOR_BIN" >>"$WORK/floor.log" 2>&1 &
FLOOR_PID=$!
wait_port $FLOOR_PORT
run idle floor "$LOAD" idle --url "ws://127.0.0.1:$FLOOR_PORT/ws" --tokens "$WORK/node/tokens.txt" \
  --conns "$IDLE_CONNS" --procs "$PROCS" --hold-secs "$IDLE_HOLD" --server-pid "$FLOOR_PID"
sleep 3
run fanout floor "$LOAD" fanout --url "ws://127.0.0.1:$FLOOR_PORT/ws" --tokens "$WORK/node/tokens.txt" \
  --conns "$FANOUT_CONNS" --procs "$PROCS" --rounds "$ROUNDS" --trigger-url "http://127.0.0.1:$FLOOR_PORT/broadcast"
kill "$FLOOR_PID" 2>/dev/null || true; wait "$FLOOR_PID" 2>/dev/null || true; FLOOR_PID=""

# Encryption at rest: sealing and opening one message, on this machine (examples/chat_crypto_cost.rs).
CRYPTO_BIN="$CARGO_TARGET_DIR/release/examples/chat_crypto_cost"
: > "$WORK/crypto.txt"
if [[ -x "$CRYPTO_BIN" ]]; then
  "$CRYPTO_BIN" | tee -a "$WORK/runs.log" | grep '^CRYPTO ' | sed 's/^CRYPTO //' > "$WORK/crypto.txt" || true
fi

# ---- report
LOAD_END="$(cut -d" " -f1-3 /proc/loadavg)"
export BENCH WORK RESULTS REPORT SCALE FANOUT_CONNS SESSIONS RATE SECS IDLE_CONNS ROUNDS PROCS DB STORED MYCHAT_RSS_END LOAD_START LOAD_END PG_SYNC_COMMIT
python3 - <<'PY'
import json, os, platform, subprocess

env = os.environ
res = {}
for line in open(env["RESULTS"]):
    server, _, js = line.strip().partition(" ")
    d = json.loads(js)
    res[(server, d["mode"])] = d

def sh(cmd):
    try:
        return subprocess.run(cmd, shell=True, capture_output=True, text=True).stdout.strip()
    except Exception:
        return "?"

def get(server, mode, key):
    return res.get((server, mode), {}).get(key)

def ratio(a, b):
    return f"{a / b:.2f}" if isinstance(a, (int, float)) and isinstance(b, (int, float)) and b else "n/a"

def fmt(v, unit=""):
    return "n/a" if v is None else (f"{v:.2f}{unit}" if isinstance(v, float) else f"{v}{unit}")

rows = [
    ("Fan-out to all sockets, median of rounds (ms)", "fanout", "median_ms", "≤ 0.7× node"),
    ("Chat delivery p50 (ms)", "chat", "p50_ms", ""),
    ("Chat delivery p99 (ms)", "chat", "p99_ms", "< 20 ms"),
    ("Chat delivery p99.9 (ms)", "chat", "p999_ms", ""),
    ("Chat delivery max (ms)", "chat", "max_ms", ""),
    ("Chat ack (own copy) p99 (ms)", "chat", "ack_p99_ms", ""),
    ("Server RSS per idle connection (bytes)", "idle", "bytes_per_conn", "≤ 8192"),
]
out = []
out.append("| Measure | MyChat | Node ws | MyChat / Node | Target | bare actix-ws | bare actix-ws / Node |")
out.append("|---|---|---|---|---|---|---|")
for label, mode, key, target in rows:
    m, n, f = get("mychat", mode, key), get("node", mode, key), get("floor", mode, key)
    out.append(f"| {label} | {fmt(m)} | {fmt(n)} | {ratio(m, n)} | {target} | {fmt(f) if f is not None else ''} | {ratio(f, n) if f is not None else ''} |")
table = "\n".join(out)
print(table)

counts = []
for server in ("mychat", "node"):
    f, c, i = res.get((server, "fanout"), {}), res.get((server, "chat"), {}), res.get((server, "idle"), {})
    counts.append(
        f"- {server}: fan-out {f.get('conns')} sockets ({f.get('failed')} failed to open, "
        f"{f.get('incomplete')} incomplete rounds, rounds ms {f.get('rounds_ms')}); chat {c.get('sockets')} sockets, "
        f"sent {c.get('sent')}, delivered to the peer {c.get('delivered')}, acks {c.get('acks')}, "
        f"error frames {c.get('errors')}, sockets closed {c.get('closed')}; idle {i.get('conns')} sockets, "
        f"VmRSS {i.get('rss_before_kib')} → {i.get('rss_after_kib')} KiB ({i.get('rss_after_hold_kib')} KiB after the hold)"
    )

cpu = sh("lscpu | grep 'Model name' | sed 's/.*: *//'")
mem = sh("free -m | awk '/Mem:/ {print $2}'")
ws_version = sh("node -p \"require('" + env["BENCH"] + "/peer-node/node_modules/ws/package.json').version\"")
pg_version = sh("psql -h 127.0.0.1 -U root -d postgres -qAtc 'SHOW server_version'")
machine = "\n".join([
    f"- CPU: {cpu} ({sh('nproc')} cores available)",
    f"- Memory: {mem} MiB; kernel {platform.release()}",
    f"- Open files limit per process: {sh('ulimit -n')}",
    f"- rustc: {sh('rustc --version')}; node: {sh('node --version')}; ws: {ws_version}",
    f"- PostgreSQL: {pg_version}; synchronous_commit for the bench database: {env['PG_SYNC_COMMIT']}",
    "- Everything (server, PostgreSQL, load generator) on the same machine, over loopback.",
    f"- Load average (1/5/15 min) before the first run: {env['LOAD_START']}; after the last: {env['LOAD_END']} "
    "(other jobs on the machine share the cores and the disk; see runs.log for the load before each run)",
])
crypto_lines = []
for line in open(os.path.join(env["WORK"], "crypto.txt")):
    if line.strip():
        c = json.loads(line)
        crypto_lines.append(
            f"- {c['message']} message ({c['bytes']} bytes, {c['stored_bytes']} stored): seal {c['seal_ns']} ns, "
            f"open {c['open_ns']} ns (mean of {c['messages']})"
        )
crypto = "\n".join(crypto_lines) or "- not measured (examples/chat_crypto_cost was not built)"
scale = (f"{env['FANOUT_CONNS']} fan-out sockets × {env['ROUNDS']} rounds; {env['SESSIONS']} sessions "
         f"({2 * int(env['SESSIONS'])} sockets) at {env['RATE']} msg/s for {env['SECS']} s; "
         f"{env['IDLE_CONNS']} idle sockets; {env['PROCS']} load processes")
report = f"""# WebSocket benchmark: MyChat vs a Node.js `ws` peer

Generated by `bench/ws.sh`: {scale}.

## Machine
{machine}

## Results
{table}

{chr(10).join(counts)}

Encryption at rest of message content (AES-256-GCM, `examples/chat_crypto_cost.rs`), per message; every
stored message is sealed once, and read paths open it:
{crypto}

Messages stored by MyChat during the run: {env.get('STORED', '?')}. MyChat VmRSS at the end: {env.get('MYCHAT_RSS_END', '?')} KiB.

Raw `RESULT` lines:
```
{open(env['RESULTS']).read().strip()}
```
"""
with open(env["REPORT"], "w") as fh:
    fh.write(report)
print(f"report written to {env['REPORT']}")
PY
echo "logs: $WORK (mychat.log, node.log, runs.log, ws-load.stderr)"
