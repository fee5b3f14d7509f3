#!/usr/bin/env bash
# Fuzzes the user API and the admin API with schemathesis against their own OpenAPI documents, and fails
# on any finding. Usage, from anywhere:   bash .ci/fuzz.sh
#
# What it does:
#   1. installs schemathesis $ST_VERSION (pinned) from PyPI into a venv under ~/.cache (once),
#   2. builds the release binary, starts it on free ports with a temp data dir (SQLite, in-memory
#      infrastructure) and MYCHAT_ADMIN_PASSWORD,
#   3. registers and logs in a user, logs in the admin,
#   4. runs schemathesis on the user port with the user token, then on the admin port with the admin
#      token, each bounded by --max-time (FUZZ_SECONDS each, 150 by default: about 5 minutes in all), with
#      the checks not_a_server_error, response_schema_conformance, status_code_conformance and
#      content_type_conformance,
#   5. stops the server and removes the data dir (trap), also on failure.
#
# Operations that would lock the fuzzer out of its own accounts are excluded by name (EXCLUDE_*): logout,
# password changes and resets, refreshing (revoking) tokens, and the admin changing, disabling or
# deleting administrators and roles. Everything else is fuzzed.
#
# Knobs (environment): FUZZ_SECONDS (150 per port), ST_VERSION, FUZZ_VENV, SKIP_BUILD=1, MYCHAT_BIN,
#   FUZZ_REPORT_DIR (where schemathesis writes its JUnit report; a temp dir by default).

set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ST_VERSION="${ST_VERSION:-4.32.5}"
FUZZ_VENV="${FUZZ_VENV:-$HOME/.cache/mychat-fuzz/venv-$ST_VERSION}"
FUZZ_SECONDS="${FUZZ_SECONDS:-150}"
MYCHAT_BIN="${MYCHAT_BIN:-${CARGO_TARGET_DIR:-$REPO/target}/release/mychat}"
HOST=127.0.0.1
ADMIN_PASSWORD="fuzz-admin-password"
USER_NAME="fuzz_user"
USER_PASSWORD="fuzz-user-password"

CHECKS="not_a_server_error,response_schema_conformance,status_code_conformance,content_type_conformance"
EXCLUDE_USER=(
    --exclude-path /api/user/password
    --exclude-path /api/logout
    --exclude-path /api/token/refresh
)
EXCLUDE_ADMIN=(
    --exclude-path /api/admin2/logout
    --exclude-path /api/admin/logout
    --exclude-path /api/admin2/password
    --exclude-path /api/admin/user/password
    --exclude-path-regex '^/api/admin2/administrators/\{[^}]+\}(/.*)?$'
    --exclude-path-regex '^/api/admin/roles/\{[^}]+\}(/.*)?$'
)

log() { printf '[fuzz] %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

DATA_DIR="$(mktemp -d)"
REPORT_DIR="${FUZZ_REPORT_DIR:-$DATA_DIR/report}"
SERVER_PID=""
cleanup() {
    if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill -TERM "$SERVER_PID" 2>/dev/null || true
        for _ in $(seq 1 50); do
            kill -0 "$SERVER_PID" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    if [[ -z "${FUZZ_REPORT_DIR:-}" ]]; then rm -rf "$DATA_DIR"; else rm -rf "${DATA_DIR:?}/data"; fi
}
trap cleanup EXIT

# 1. schemathesis
if [[ ! -x "$FUZZ_VENV/bin/st" ]]; then
    log "installing schemathesis $ST_VERSION into $FUZZ_VENV"
    # Python 3.11's ast.parse is not thread-safe under load (hypothesis hits "AST constructor recursion
    # depth mismatch" with two workers); prefer a newer interpreter when there is one.
    python=python3
    for candidate in python3.13 python3.12; do
        if "$candidate" -c 'import venv' >/dev/null 2>&1; then python="$candidate"; break; fi
    done
    "$python" -m venv "$FUZZ_VENV"
    "$FUZZ_VENV/bin/pip" install --quiet "schemathesis==$ST_VERSION"
fi

# One worker on Python 3.11 and older, where two can trip over ast.parse (see above).
WORKERS=1
if "$FUZZ_VENV/bin/python" -c 'import sys; sys.exit(sys.version_info < (3, 12))'; then WORKERS=2; fi

# 2. the server
if [[ -z "${SKIP_BUILD:-}" ]]; then
    log "building the release binary"
    (cd "$REPO" && cargo build --release --quiet --bin mychat)
fi
[[ -x "$MYCHAT_BIN" ]] || die "no binary at $MYCHAT_BIN"
SERVER_BIN="$MYCHAT_BIN"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
USER_PORT="$(free_port)"
ADMIN_PORT="$(free_port)"
WS_PORT="$(free_port)"
mkdir -p "$DATA_DIR/data"
log "starting mychat on $USER_PORT (user), $ADMIN_PORT (admin), $WS_PORT (ws); data in $DATA_DIR/data"
(
    cd "$REPO"
    for v in $(compgen -e | grep -E '^(MYCHAT_|DATABASE_URL$|REDIS_URL$)' || true); do unset "$v"; done
    MYCHAT_DATA_DIR="$DATA_DIR/data" \
        MYCHAT_ADMIN_PASSWORD="$ADMIN_PASSWORD" \
        MYCHAT_BIND="$HOST" \
        MYCHAT_USER_PORT="$USER_PORT" \
        MYCHAT_ADMIN_PORT="$ADMIN_PORT" \
        MYCHAT_WS_PORT="$WS_PORT" \
        MYCHAT__LOG__LEVEL=warn \
        MYCHAT__SERVER__WORKERS=2 \
        exec "$SERVER_BIN" serve
) >"$DATA_DIR/server.log" 2>&1 &
SERVER_PID=$!

deadline=$((SECONDS + 60))
until curl -sf "http://$HOST:$ADMIN_PORT/readyz" >/dev/null && curl -sf "http://$HOST:$USER_PORT/readyz" >/dev/null; do
    kill -0 "$SERVER_PID" 2>/dev/null || { cat "$DATA_DIR/server.log" >&2; die "the server exited"; }
    ((SECONDS < deadline)) || die "the server did not become ready in 60 s"
    sleep 0.2
done

# 3. the tokens
json_field() { python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["data"]["token"])'; }
post() { curl -sf -H 'Content-Type: application/json' -d "$2" "$1"; }
post "http://$HOST:$USER_PORT/api/register" "{\"username\":\"$USER_NAME\",\"password\":\"$USER_PASSWORD\"}" >/dev/null \
    || die "cannot register the fuzz user"
USER_TOKEN="$(post "http://$HOST:$USER_PORT/api/login" "{\"username\":\"$USER_NAME\",\"password\":\"$USER_PASSWORD\"}" | json_field)" \
    || die "cannot log in the fuzz user"
ADMIN_TOKEN="$(post "http://$HOST:$ADMIN_PORT/api/admin2/login" "{\"username\":\"admin\",\"password\":\"$ADMIN_PASSWORD\"}" | json_field)" \
    || die "cannot log in the admin"

# 4. the fuzzing
status=0
fuzz() {
    local name="$1" port="$2" token="$3"
    shift 3
    log "fuzzing the $name API for at most ${FUZZ_SECONDS}s"
    "$FUZZ_VENV/bin/st" run "http://$HOST:$port/api-docs/openapi.json" \
        --checks "$CHECKS" \
        --max-time "$FUZZ_SECONDS" \
        --workers "$WORKERS" \
        --request-timeout 10 \
        --seed 1 \
        --suppress-health-check all \
        --report junit --report-dir "$REPORT_DIR/$name" \
        -H "Authorization: Bearer $token" \
        "$@" || status=1
}
fuzz user "$USER_PORT" "$USER_TOKEN" "${EXCLUDE_USER[@]}"
fuzz admin "$ADMIN_PORT" "$ADMIN_TOKEN" "${EXCLUDE_ADMIN[@]}"

if ((status != 0)); then
    log "schemathesis found problems (above); server log: $DATA_DIR/server.log"
    tail -n 50 "$DATA_DIR/server.log" >&2 || true
    exit 1
fi
log "no findings"
