-- Full-text search mixing names, phone numbers in several formats, reference numbers and words.
dofile(os.getenv("BENCH_DIR") .. "/common.lua")
local terms = {
  "Customer 4821", "customer 77310", "(512) 200-0042", "512-200-1234", "7372005555",
  "ref 123457", "ref 998877", "unit 4242", "Pflugerville", "furnace banging", "water heater quote",
  "cotización", "máy lạnh",
}
local i = 0
request = function()
  i = i + 1
  local q = terms[(i % #terms) + 1]
  return wrk.format("GET", "/v1/threads?limit=20&q=" .. urlencode(q), headers)
end
