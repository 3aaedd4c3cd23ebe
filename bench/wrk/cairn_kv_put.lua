-- cairn_kv_put.lua: PUT /v1/kv/<32-byte unique key> with a 256-byte value.
dofile((os.getenv("BENCH_WRK_DIR") or "bench/wrk") .. "/common.lua")
local n = 0
request = function()
   n = n + 1
   return wrk.format("PUT", "/v1/kv/" .. key32("kvput", tid, n), nil, VALUE256)
end
