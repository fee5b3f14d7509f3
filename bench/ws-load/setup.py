#!/usr/bin/env python3
"""Fixtures for the WebSocket bench against a running MyChat on a fresh PostgreSQL database.

Creates 2*P users (P buyers, P counselors), one user through the register route and the rest as
SQL copies of its row (same password hash, so every login is one cheap argon2 check), logs them
all in, inserts a counselor row per counselor user and a paid order per pair, starts every session
as its counselor (which activates it), and logs the admin in.

Writes into --out:
  tokens.txt  one user token per line (all 2*P users)
  pairs.txt   `session_id buyer_token counselor_token` per session
  admin.txt   the admin JWT
"""

import argparse
import concurrent.futures as cf
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request

PASSWORD = "benchpass1"


def call(url, body=None, token=None, method="POST", tries=5):
    data = None if body is None else json.dumps(body).encode()
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = "Bearer " + token
    last = None
    for attempt in range(tries):
        req = urllib.request.Request(url, data=data, headers=headers, method=method)
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                return json.loads(r.read())
        except urllib.error.HTTPError as e:
            last = f"{e.code} {e.read()[:300]!r}"
            if e.code < 500 and e.code != 429:
                break
        except Exception as e:  # connection resets under load: retry
            last = repr(e)
        time.sleep(0.2 * (attempt + 1))
    raise RuntimeError(f"{url}: {last}")


def psql(args, sql):
    out = subprocess.run(
        ["psql", "-h", args.pg_host, "-U", args.pg_user, "-d", args.db, "-v", "ON_ERROR_STOP=1",
         "-qAt", "-c", sql],
        capture_output=True, text=True, check=False,
    )
    if out.returncode != 0:
        sys.exit(f"psql failed: {out.stderr}")
    return out.stdout.strip()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--user-api", required=True, help="e.g. http://127.0.0.1:28080")
    p.add_argument("--admin-api", required=True, help="e.g. http://127.0.0.1:28081")
    p.add_argument("--admin-password", required=True)
    p.add_argument("--db", required=True, help="PostgreSQL database the server uses")
    p.add_argument("--pg-host", default="127.0.0.1")
    p.add_argument("--pg-user", default="root")
    p.add_argument("--pairs", type=int, required=True, help="sessions P (2*P users)")
    p.add_argument("--threads", type=int, default=16)
    p.add_argument("--out", required=True)
    args = p.parse_args()
    os.makedirs(args.out, exist_ok=True)
    n = args.pairs
    t0 = time.time()

    seed = "wsb_seed"
    call(f"{args.user_api}/api/register", {"username": seed, "password": PASSWORD})
    psql(args, f"""
        INSERT INTO users (username, password, email, phone, avatar, balance, status, is_admin,
                           tokens_valid_after, created_at, updated_at)
        SELECT 'wsb_' || CASE WHEN i <= {n} THEN 'b' || i ELSE 'c' || (i - {n}) END,
               (SELECT password FROM users WHERE username = '{seed}'),
               NULL, '', '', 0, 1, false, 0, now(), now()
        FROM generate_series(1, {2 * n}) AS i;
        INSERT INTO counselors (user_id, name, title, avatar, bio, specialty, price, years_exp,
                                rating, status, created_at, updated_at)
        SELECT id, 'bench ' || username, 'counselor', '', NULL, 'bench', 100, 1, 500, 1, now(), now()
        FROM users WHERE username LIKE 'wsb\\_c%';
        INSERT INTO orders (order_no, user_id, counselor_id, duration, price_per_minute, amount,
                            refunded_amount, status, schedule_time, notes, pay_time, created_at,
                            updated_at)
        SELECT 'WSB' || i, b.id, c.id, 60, 100, 6000, 0, 1, now(), NULL, now(), now(), now()
        FROM generate_series(1, {n}) AS i
        JOIN users b ON b.username = 'wsb_b' || i
        JOIN users cu ON cu.username = 'wsb_c' || i
        JOIN counselors c ON c.user_id = cu.id;
    """)
    print(f"inserted {2 * n} users, {n} counselors, {n} orders in {time.time() - t0:.1f}s", flush=True)

    def login(name):
        r = call(f"{args.user_api}/api/login", {"username": name, "password": PASSWORD})
        return r["data"]["token"]

    names = [f"wsb_b{i}" for i in range(1, n + 1)] + [f"wsb_c{i}" for i in range(1, n + 1)]
    with cf.ThreadPoolExecutor(args.threads) as ex:
        tokens = list(ex.map(login, names))
    print(f"logged in {len(tokens)} users after {time.time() - t0:.1f}s", flush=True)

    orders = dict(
        (int(k), int(v)) for k, v in
        (line.split("|") for line in psql(args, "SELECT substr(order_no, 4), id FROM orders WHERE order_no LIKE 'WSB%'").splitlines())
    )

    def start(i):
        order_id = orders[i]
        r = call(f"{args.user_api}/api/chat/start/{order_id}", {}, token=tokens[n + i - 1])
        return r["data"]["session_id"]

    with cf.ThreadPoolExecutor(args.threads) as ex:
        sessions = list(ex.map(start, range(1, n + 1)))
    active = psql(args, "SELECT count(*) FROM chat_sessions WHERE status = 1")
    print(f"started {len(sessions)} sessions ({active} active) after {time.time() - t0:.1f}s", flush=True)

    admin = call(f"{args.admin_api}/api/admin2/login", {"username": "admin", "password": args.admin_password})
    admin_token = admin["data"]["token"]

    with open(os.path.join(args.out, "tokens.txt"), "w") as f:
        f.write("\n".join(tokens) + "\n")
    with open(os.path.join(args.out, "pairs.txt"), "w") as f:
        for i, sid in enumerate(sessions):
            f.write(f"{sid} {tokens[i]} {tokens[n + i]}\n")
    with open(os.path.join(args.out, "admin.txt"), "w") as f:
        f.write(admin_token + "\n")
    print(f"fixtures written to {args.out} in {time.time() - t0:.1f}s", flush=True)


if __name__ == "__main__":
    main()
