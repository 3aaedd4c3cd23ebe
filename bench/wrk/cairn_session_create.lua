-- cairn_session_create.lua: PUT /v1/session/create with a TTL of
-- $BENCH_SESSION_TTL (30s) and no lock-delay; each thread stops after
-- $BENCH_SESSIONS / threads answers, so a run creates about that many.
dofile((os.getenv("BENCH_WRK_DIR") or "bench/wrk") .. "/common.lua")
local body = '{"TTL":"' .. (os.getenv("BENCH_SESSION_TTL") or "30s") .. '","LockDelay":"0s"}'
local quota = math.floor(tonumber(os.getenv("BENCH_SESSIONS") or "100000") /
   tonumber(os.getenv("BENCH_THREADS") or "2"))
local got = 0
request = function()
   return wrk.format("PUT", "/v1/session/create", nil, body)
end
response = function(status, headers, body)
   got = got + 1
   if got == quota then
      -- wrk runs on until its -d: tell bench/sessions.sh this thread is done
      local f = io.open(os.getenv("BENCH_DONE_FILE") or "/dev/null", "a")
      f:write("done\n")
      f:close()
      wrk.thread:stop()
   end
end
