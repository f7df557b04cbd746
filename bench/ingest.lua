-- POST unique inbound messages from 100k senders; every request is a new, durable message.
dofile(os.getenv("BENCH_DIR") .. "/common.lua")
local counter = 0
local threads = {}
prefix = "main"
function setup(thread)
  thread:set("prefix", tostring(#threads) .. "-" .. tostring(os.time()))
  table.insert(threads, thread)
end
function init(args)
  math.randomseed(os.time() + #prefix)
end
request = function()
  counter = counter + 1
  local n = math.random(0, 99999)
  local body = string.format(
    '{"channel":"sms","from":"+1512%03d%04d","body":"load test %d: the AC stopped blowing cold air","external_id":"load-%s-%d"}',
    200 + math.floor(n / 10000), n % 10000, counter, prefix, counter)
  return wrk.format("POST", "/v1/messages/inbound", headers, body)
end
