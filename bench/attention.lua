-- GET the Attention queue's first page, as a dispatcher's inbox does on every refresh.
dofile(os.getenv("BENCH_DIR") .. "/common.lua")
request = function()
  return wrk.format("GET", "/v1/threads?filter=attention&limit=50", headers)
end
