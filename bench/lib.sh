# Shared helpers of the bench scripts (run.sh, api.sh, admin.sh), sourced after `set -euo pipefail`.
# They expect HOST (the address servers listen on) to be set by the script.

stop_pid() {
    local pid="$1"
    [[ -n "$pid" ]] || return 0
    if kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 1 50); do # at most 5 s, then SIGKILL
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
}
port_in_use() { (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null; }
# wait_http URL PID SECONDS: poll until URL answers 200, the process dies, or the deadline passes.
wait_http() {
    local url="$1" pid="$2" secs="$3" deadline code
    deadline=$(($(date +%s) + secs))
    while (($(date +%s) < deadline)); do
        kill -0 "$pid" 2>/dev/null || return 1
        code="$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$url" || true)"
        [[ "$code" == "200" ]] && return 0
        sleep 0.2
    done
    return 1
}
# to_ms VALUE_WITH_UNIT: wrk prints e.g. 812.00us, 1.23ms, 2.01s, 1.00m.
to_ms() {
    awk -v v="$1" 'BEGIN {
        n = v; sub(/[a-z]+$/, "", n); u = v; sub(/^[0-9.]+/, "", u);
        if (u == "us") n /= 1000; else if (u == "s") n *= 1000; else if (u == "m") n *= 60000;
        printf "%.3f", n }'
}
wrk_rps() { awk '/^Requests\/sec:/ { print $2 }' "$1"; }
wrk_pct() { local v; v="$(awk -v p="$2%" '$1 == p { print $2; exit }' "$1")"; [[ -n "$v" ]] && to_ms "$v"; }
wrk_non2xx() { awk '/Non-2xx or 3xx responses:/ { n = $NF } END { print n + 0 }' "$1"; }
wrk_errors() { awk '/Socket errors:/ { gsub(",", ""); print $4 + $6 + $8 + $10; f = 1 } END { if (!f) print 0 }' "$1"; }
wrk_requests() { awk '/requests in/ { print $1; exit }' "$1"; }
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print 0; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
secs_of() { local d="$1"; case "$d" in *m) echo $((${d%m} * 60)) ;; *s) echo "${d%s}" ;; *) echo "$d" ;; esac; }

# Installs wrk with apt-get when it is missing, logging to $1; the package lists are refreshed only when
# the install cannot find the package. Uses the calling script's `log` and `die`.
ensure_wrk() {
    command -v wrk >/dev/null 2>&1 && return 0
    local apt_log="$1" sudo=""
    if [[ "$(id -u)" -ne 0 ]]; then sudo="sudo"; fi
    log "wrk not found: installing it with apt-get"
    if ! $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y wrk >"$apt_log" 2>&1; then
        log "apt-get install failed; running apt-get update first"
        $sudo apt-get update >>"$apt_log" 2>&1
        $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y wrk >>"$apt_log" 2>&1 \
            || die "could not install wrk (see $apt_log)"
    fi
}
