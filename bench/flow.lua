-- wrk script: the order flow, one step per request, on one connection per wrk thread
-- (run it with -tN -cN: each thread's Lua state then drives exactly one connection, in order).
--
--   1. POST /api/order/create           {counselor_id (random 1..BENCH_COUNSELORS), duration 60, schedule_time}
--   2. POST /api/payment/create         {order_id, payment_method "sandbox", trade_type "NATIVE"}
--   3. POST /api/payment/sandbox/pay/N  (the sandbox checkout's pay button: signed callback, order → paid;
--                                        with the pay_url's single-use token when it has one, as MyChat's does)
--   4. GET  /api/payment/:id            must say status 1 (已支付): one complete flow
--
-- A step that fails (non-200, or a body without what the next step needs) is counted and the flow starts
-- over with a new order. done() prints "flows=<complete> failures=<n> flows_per_sec=<x>".
-- Environment: BENCH_TOKEN (a user JWT, required), BENCH_COUNSELORS (50).

local token = os.getenv("BENCH_TOKEN") or error("BENCH_TOKEN is not set")
local counselors = tonumber(os.getenv("BENCH_COUNSELORS") or "50")
local json = { ["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. token }
local auth = { ["Authorization"] = "Bearer " .. token }
local empty = { ["Content-Length"] = "0" }

local threads = {}
function setup(thread)
   thread:set("id", #threads + 1)
   table.insert(threads, thread)
end

step = 1
flows = 0
failures = 0
local order_id, payment_id, payment_no, pay_token

function init(args)
   math.randomseed(os.time() * 1000 + (id or 0))
end

function request()
   if step == 1 then
      local body = string.format(
         '{"counselor_id":%d,"duration":60,"schedule_time":"2026-12-01T14:30:00+08:00","notes":"bench"}',
         math.random(1, counselors))
      return wrk.format("POST", "/api/order/create", json, body)
   elseif step == 2 then
      local body = string.format('{"order_id":%s,"payment_method":"sandbox","trade_type":"NATIVE"}', order_id)
      return wrk.format("POST", "/api/payment/create", json, body)
   elseif step == 3 then
      local query = pay_token and ("?token=" .. pay_token) or ""
      return wrk.format("POST", "/api/payment/sandbox/pay/" .. payment_no .. query, empty, "")
   else
      return wrk.format("GET", "/api/payment/" .. payment_id, auth)
   end
end

local function fail()
   failures = failures + 1
   step = 1
end

function response(status, headers, body)
   if status ~= 200 then
      return fail()
   end
   if step == 1 then
      order_id = body:match('"order_id":(%d+)')
      if not order_id then return fail() end
      step = 2
   elseif step == 2 then
      payment_id = body:match('"payment_id":(%d+)')
      payment_no = body:match('"payment_no":"([%w]+)"')
      pay_token = body:match('"pay_url":"[^"]*[?&]token=([^"&]+)"')
      if not (payment_id and payment_no) then return fail() end
      step = 3
   elseif step == 3 then
      step = 4
   else
      if body:match('"status":1[,}]') then
         flows = flows + 1
         step = 1
      else
         fail()
      end
   end
end

function done(summary, latency, requests)
   local total_flows, total_failures = 0, 0
   for _, t in ipairs(threads) do
      total_flows = total_flows + (t:get("flows") or 0)
      total_failures = total_failures + (t:get("failures") or 0)
   end
   local secs = summary.duration / 1e6
   io.write(string.format("flows=%d failures=%d flows_per_sec=%.2f\n",
      total_flows, total_failures, total_flows / secs))
end
