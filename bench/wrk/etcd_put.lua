-- etcd_put.lua: etcd v3 JSON gateway POST /v3/kv/put, 32-byte unique keys,
-- 256-byte values (both base64 in the JSON, as the gateway requires).
dofile((os.getenv("BENCH_WRK_DIR") or "bench/wrk") .. "/common.lua")
local n = 0
local vb64 = b64(VALUE256)
request = function()
   n = n + 1
   local body = '{"key":"' .. b64(key32("kvput", tid, n)) .. '","value":"' .. vb64 .. '"}'
   return wrk.format("POST", "/v3/kv/put", { ["Content-Type"] = "application/json" }, body)
end
