-- common.lua: shared by every wrk script in bench/wrk/ (loaded with dofile).
-- Gives each wrk thread a distinct id (for unique keys) and prints one
-- machine-readable result line that bench/run.sh collects:
--   WRKRESULT <req/s> <p50 us> <p99 us> <non-2xx/3xx> <socket errors> <requests>

local threads = {}
local counter = 0

function setup(thread)
   counter = counter + 1
   thread:set("tid", counter)
   table.insert(threads, thread)
end

function done(summary, latency, requests)
   local secs = summary.duration / 1e6
   local e = summary.errors
   local sock = e.connect + e.read + e.write + e.timeout
   io.write(string.format("WRKRESULT %.1f %d %d %d %d %d\n",
      summary.requests / secs, latency:percentile(50), latency:percentile(99),
      e.status, sock, summary.requests))
end

-- RFC 4648 base64 (LuaJIT has no built-in).
local b64chars = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'
function b64(data)
   return ((data:gsub('.', function(x)
      local r, b = '', x:byte()
      for i = 8, 1, -1 do r = r .. (b % 2 ^ i - b % 2 ^ (i - 1) > 0 and '1' or '0') end
      return r
   end) .. '0000'):gsub('%d%d?%d?%d?%d?%d?', function(x)
      if #x < 6 then return '' end
      local c = 0
      for i = 1, 6 do c = c + (x:sub(i, i) == '1' and 2 ^ (6 - i) or 0) end
      return b64chars:sub(c + 1, c + 1)
   end) .. ({ '', '==', '=' })[#data % 3 + 1])
end

-- A 32-byte key unique across threads and runs: prefix, run tag, thread, n.
local run_tag = os.getenv("BENCH_RUN_TAG") or "r0"
function key32(prefix, tid, n)
   local k = string.format("%s/%s/%02d/%d", prefix, run_tag, tid or 0, n)
   if #k < 32 then k = k .. string.rep("x", 32 - #k) end
   return k:sub(1, 32)
end

VALUE256 = string.rep("v", 256)
