-- cairn_session_renew.lua: PUT /v1/session/renew/<id>, round-robin over the
-- session IDs in $BENCH_SESSIONS_FILE (one per line).
dofile((os.getenv("BENCH_WRK_DIR") or "bench/wrk") .. "/common.lua")
local ids = {}
for line in io.lines(os.getenv("BENCH_SESSIONS_FILE")) do
   if #line > 0 then table.insert(ids, line) end
end
local n = 0
request = function()
   n = n + 1
   return wrk.format("PUT", "/v1/session/renew/" .. ids[(n + (tid or 0)) % #ids + 1], nil, "")
end
