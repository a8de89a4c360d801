-- wrk script: each thread sends every request of its own file once, then stops.
--
-- bench/wrk.py writes requests-<i>.bin (thread i's raw HTTP requests, each as "<length>\n<bytes>")
-- into a folder and passes that folder after "--". A thread that has sent all of its requests
-- answers wrk with an empty request (its connections then idle) and, once every one is answered,
-- writes done-<i> so the driver can stop wrk instead of waiting out the duration (and every 25
-- answers progress-<i>). done() writes
-- summary.txt: status counts, socket errors, the first send and last answer (CLOCK_MONOTONIC)
-- and latency percentiles in microseconds.
local ffi = require("ffi")
ffi.cdef [[
typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
int clock_gettime(int clk_id, bench_timespec *tp);
]]
local ts = ffi.new("bench_timespec")
local function now()
  ffi.C.clock_gettime(1, ts)
  return tonumber(ts.tv_sec) + tonumber(ts.tv_nsec) / 1e9
end

local threads = {}
local counter = 0

function setup(thread)
  thread:set("index", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

function init(args)
  folder = args[1]
  requests_ = {}
  local file = assert(io.open(folder .. "/requests-" .. index .. ".bin", "rb"))
  local data = file:read("*a")
  file:close()
  local at = 1
  while at <= #data do
    local newline = string.find(data, "\n", at, true)
    local length = tonumber(string.sub(data, at, newline - 1))
    table.insert(requests_, string.sub(data, newline + 1, newline + length))
    at = newline + 1 + length
  end
  sent, answered, first, last = 0, 0, 0, 0
  -- wrk calls the first thread's request() once before the run, to check the script's
  -- request; that call must not use up a request.
  verifying = index == 0
  statuses = {}
end

function request()
  if verifying then
    verifying = false
    return requests_[1]
  end
  if sent >= #requests_ then
    return ""
  end
  sent = sent + 1
  if sent == 1 then
    first = now()
  end
  return requests_[sent]
end

function response(status, headers, body)
  answered = answered + 1
  last = now()
  local key = tostring(status)
  statuses[key] = (statuses[key] or 0) + 1
  if answered == #requests_ then
    local marker = io.open(folder .. "/done-" .. index, "w")
    marker:close()
    wrk.thread:stop()
  elseif answered % 25 == 0 then
    -- Progress for the driver, which stops wrk when no thread answers for a while: wrk loses
    -- the odd request when a server closes each connection (gunicorn's sync workers), and
    -- the connection that sent it then waits forever.
    local progress = io.open(folder .. "/progress-" .. index, "w")
    progress:write(answered)
    progress:close()
  end
end

function done(summary, latency, requests)
  local out = assert(io.open(threads[1]:get("folder") .. "/summary.txt", "w"))
  for _, thread in ipairs(threads) do
    out:write(string.format("thread %d %.6f %.6f %d %d %d\n", thread:get("index"),
      thread:get("first"), thread:get("last"), thread:get("sent"), thread:get("answered"),
      #thread:get("requests_")))
    for status, n in pairs(thread:get("statuses")) do
      out:write(string.format("status %s %d\n", status, n))
    end
  end
  local errors = summary.errors
  out:write(string.format("socket_errors %d\n",
    errors.connect + errors.read + errors.write + errors.timeout))
  for _, p in ipairs({ 50, 90, 99 }) do
    out:write(string.format("latency_us %d %d\n", p, latency:percentile(p)))
  end
  out:close()
end
