-- One measured point for wrk. Run with as many threads as connections: each connection stops
-- after its first response past the deadline, so nothing is left in flight when wrk ends and
-- the counter can be compared with the responses exactly. With a rate, connections are paced.
-- Each connection that stops adds a byte to a file, so that measure.py can end wrk once all have
-- (wrk itself waits out its whole -d, a bound for a connection that never gets an answer).
-- Arguments: seconds [requests per second per connection [file]]
local ffi = require("ffi")
ffi.cdef [[
typedef struct { long tv_sec; long tv_nsec; } point_timespec;
int clock_gettime(int clock_id, point_timespec *tp);
]]
local clock = ffi.new("point_timespec")
local function now()
  ffi.C.clock_gettime(1, clock) -- CLOCK_MONOTONIC
  return tonumber(clock.tv_sec) + tonumber(clock.tv_nsec) / 1e9
end

local threads = {}
function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  deadline = now() + tonumber(args[1])
  local rate = tonumber(args[2] or "0")
  interval = rate > 0 and 1 / rate or 0
  -- Each connection starts at its own offset: in step, they would arrive in bursts.
  math.randomseed(tonumber(tostring({}):match("0x(%x+)"), 16) % 2147483647)
  next_send = now() + math.random() * interval
  ok, not_ok = 0, 0
  stopped_file = args[3]
end

function delay()
  if interval == 0 then
    return 0
  end
  local t = now()
  local wait = next_send - t
  if wait <= 0 then -- behind schedule: send now, and do not pile up a debt
    next_send = t + interval
    return 0
  end
  next_send = next_send + interval
  return wait * 1000
end

function response(status, headers, body)
  if status == 200 then
    ok = ok + 1
  else
    not_ok = not_ok + 1
  end
  if now() >= deadline and not stopped then
    stopped = true
    if stopped_file then
      local file = io.open(stopped_file, "a")
      file:write(".")
      file:close()
    end
    wrk.thread:stop()
  end
end

function done(summary, latency, requests)
  local good, bad = 0, 0
  for _, thread in ipairs(threads) do
    good = good + thread:get("ok")
    bad = bad + thread:get("not_ok")
  end
  local e = summary.errors
  io.write(string.format(
    'POINT {"ok": %d, "not_ok": %d, "socket_errors": %d, "p50_ms": %.3f, "p95_ms": %.3f, "p99_ms": %.3f, "max_ms": %.3f}\n',
    good, bad, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50) / 1000, latency:percentile(95) / 1000, latency:percentile(99) / 1000,
    latency.max / 1000))
end
