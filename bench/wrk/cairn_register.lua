-- cairn_register.lua: PUT /v1/catalog/register, one node per wrk thread,
-- a new service instance (unique ID) per request.
dofile((os.getenv("BENCH_WRK_DIR") or "bench/wrk") .. "/common.lua")
local n = 0
local run_tag = os.getenv("BENCH_RUN_TAG") or "r0"
request = function()
   n = n + 1
   local body = string.format(
      '{"Node":"bench-%s-%d","Address":"127.0.0.%d","Service":' ..
      '{"ID":"reg-%s-%d-%d","Service":"bench-reg","Tags":["t1","t2"],"Port":%d}}',
      run_tag, tid or 0, (tid or 0) + 10, run_tag, tid or 0, n, 1000 + n % 50000)
   return wrk.format("PUT", "/v1/catalog/register",
      { ["Content-Type"] = "application/json" }, body)
end
