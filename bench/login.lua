-- wrk script for bench/run.sh: POST /api/login with the user that run.sh registers first.
-- Every request logs in the same account, so the login rate limits must be raised (run.sh does that
-- through MYCHAT__AUTH__LOGIN_RATE_PER_*), or most responses are 429s.
wrk.method = "POST"
wrk.body = '{"username":"benchuser","password":"benchpass1"}'
wrk.headers["Content-Type"] = "application/json"
