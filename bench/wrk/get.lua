-- get.lua: plain GET of the URL given to wrk (health/service, KV get, nginx).
dofile((os.getenv("BENCH_WRK_DIR") or "bench/wrk") .. "/common.lua")
