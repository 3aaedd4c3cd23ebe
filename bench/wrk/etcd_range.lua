-- etcd_range.lua: etcd v3 JSON gateway POST /v3/kv/range of one key
-- (BENCH_GET_KEY, default "bench-get-key").
dofile((os.getenv("BENCH_WRK_DIR") or "bench/wrk") .. "/common.lua")
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"key":"' .. b64(os.getenv("BENCH_GET_KEY") or "bench-get-key") .. '"}'
