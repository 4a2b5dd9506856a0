-- wrk script: POST /v2/log/product as clerk.js sends it (text/plain JSON body with
-- key, product, visitor "auto" and a session), the product id varying per request.
--
-- A run has two phases. For BENCH_SEND_MS milliseconds from its first request, each
-- connection sends a new request as soon as the previous one is answered; the rate
-- is the number of 2xx answers received in that window divided by its length. Then
-- the connections stop sending (delay() holds them) while wrk runs on for the rest
-- of its -d: the requests still in flight are answered, so that when wrk ends
-- nothing is in flight and every request sent either has an answer or is counted
-- as in flight. That makes the durability check exact: stored events = 2xx answers.
--
-- Environment: BENCH_KEY (the store's public key), BENCH_SEND_MS, BENCH_PRODUCTS
-- (distinct product ids, default 1000), BENCH_PREFIX (before every product id, so
-- that the events of one phase, e.g. warm-up, can be told apart in the database),
-- BENCH_THREAD_RATE (optional: requests per second each wrk thread sends, paced;
-- without it each connection sends as fast as it is answered).
--
-- Pacing (bench/soak.py): each thread has a schedule of send times, one every
-- 1000 / BENCH_THREAD_RATE ms; a connection ready to send takes the next free time
-- and delay() holds it until then. A server that falls behind gets the sends it
-- missed at once, but never more than BENCH_CATCHUP_MS (default 1000) of them, so
-- that the rate stays the one asked for while the server keeps up.
--
-- done() prints one line "BENCH_RESULT {json}" that bench/ingest.py reads.

local ffi = require("ffi")
ffi.cdef [[
  typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
  int clock_gettime(int clock_id, bench_timespec *tp);
]]
local ts = ffi.new("bench_timespec")
local function now_ms()
  ffi.C.clock_gettime(1, ts) -- CLOCK_MONOTONIC
  return tonumber(ts.tv_sec) * 1000 + tonumber(ts.tv_nsec) / 1e6
end

local key = os.getenv("BENCH_KEY") or "bench"
local send_ms = tonumber(os.getenv("BENCH_SEND_MS") or "10000")
local products = tonumber(os.getenv("BENCH_PRODUCTS") or "1000")
local prefix = os.getenv("BENCH_PREFIX") or ""
local thread_rate = tonumber(os.getenv("BENCH_THREAD_RATE") or "")
local interval = thread_rate and 1000 / thread_rate or nil
local catchup_ms = tonumber(os.getenv("BENCH_CATCHUP_MS") or "1000")

local threads = {}
local thread_count = 0

function setup(thread)
  thread_count = thread_count + 1
  thread:set("tid", thread_count)
  table.insert(threads, thread)
end

function init(args)
  sent = 0          -- requests written
  sent_late = 0     -- requests written after the window (none, unless held ones leak)
  ok = 0            -- 2xx answers, all
  ok_window = 0     -- 2xx answers received inside the window
  other = 0         -- answers that are not 2xx
  statuses = {}
  delays = 0
  started = nil
  cutoff = nil
  next_send = nil   -- the next free send time of this thread's schedule (paced runs)
  headers = {
    ["Content-Type"] = "text/plain;charset=UTF-8",
    ["User-Agent"] = "Mozilla/5.0 (X11; Linux x86_64) clerk-bench/1.0",
  }
end

-- delay() runs before every request a connection writes (not before the one that
-- wrk asks for once, outside any connection, to check the script): the window
-- starts at the thread's first real request.
function delay()
  local t = now_ms()
  delays = delays + 1
  if started == nil then
    started = t
    cutoff = t + send_ms
    next_send = t
  elseif t >= cutoff then
    return 3600000 -- hold this connection: the run is over for it
  end
  if interval == nil then
    return 0
  end
  local at = math.max(next_send, t - catchup_ms)
  next_send = at + interval
  if at >= cutoff then
    return 3600000 -- its turn would come after the window
  end
  return math.max(0, math.floor(at - t))
end

function request()
  if cutoff ~= nil and now_ms() >= cutoff then
    sent_late = sent_late + 1
  end
  sent = sent + 1
  -- a new in-memory session every 8 calls, as a page view would have
  local session = string.format("bench%02dx%010d", tid, math.floor(sent / 8))
  local product = (sent * 7919 + tid * 104729) % products + 1
  local body = string.format(
    '{"key":"%s","product":"%s%d","visitor":"auto","session":"%s"}',
    key, prefix, product, session)
  return wrk.format("POST", "/v2/log/product", headers, body)
end

function response(status, hdrs, body)
  if status >= 200 and status < 300 then
    ok = ok + 1
    if cutoff == nil or now_ms() < cutoff then
      ok_window = ok_window + 1
    end
  else
    other = other + 1
    local s = tostring(status)
    statuses[s] = (statuses[s] or 0) + 1
  end
end

function done(summary, latency, requests)
  local t = { sent = 0, sent_late = 0, ok = 0, ok_window = 0, other = 0, delays = 0 }
  local by_status = {}
  for _, thread in ipairs(threads) do
    for name, _ in pairs(t) do
      t[name] = t[name] + thread:get(name)
    end
    for s, n in pairs(thread:get("statuses")) do
      by_status[s] = (by_status[s] or 0) + n
    end
  end
  local parts = {}
  for s, n in pairs(by_status) do
    table.insert(parts, string.format('"%s":%d', s, n))
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH_RESULT {"duration_us":%d,"window_ms":%d,"threads":%d,"responses":%d,' ..
    '"sent":%d,"delays":%d,"sent_late":%d,"ok":%d,"ok_window":%d,"other":%d,"statuses":{%s},' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"latency_us":{"p50":%d,"p90":%d,"p99":%d,"max":%d,"mean":%.1f}}\n',
    summary.duration, send_ms, thread_count, summary.requests,
    t.sent, t.delays, t.sent_late, t.ok, t.ok_window, t.other, table.concat(parts, ","),
    e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    latency.mean))
end
