#!/bin/bash
# One search at a time over HTTP, per query of bench/search.lua and a few more: prints
# `query|threads found (up to 50)|median seconds of 7 requests`. Each request asks for a different
# `limit`, so none is served from the server's page cache.
# usage: bench/perq.sh KEY [PORT]
set -euo pipefail
KEY=$1; PORT=${2:-18080}
# Every search runs one statement text (the query's words are bound), which each of the
# server's pool connections prepares the first time it runs it (up to 15 ms at 1M messages):
# a warm-up round prepares it everywhere, so the medians time the searches alone.
for l in $(seq 31 54); do
  curl -s -o /dev/null -H "Authorization: Bearer $KEY" "http://127.0.0.1:$PORT/v1/threads?limit=$l&q=warm"
done
for q in "Customer 4821" "customer 77310" "(512) 200-0042" "512-200-1234" "7372005555" "ref 123457" "ref 998877" "unit 4242" "Pflugerville" "furnace banging" "water heater quote" "cotización" "máy lạnh" "furn" "zzzq" "thanks"; do
  e=$(python3 -c "import urllib.parse,sys; print(urllib.parse.quote(sys.argv[1]))" "$q")
  ts=""
  for l in 11 12 13 14 15 16 17; do
    t=$(curl -s -o /dev/null -w "%{time_total}" -H "Authorization: Bearer $KEY" "http://127.0.0.1:$PORT/v1/threads?limit=$l&q=$e")
    ts="$ts $t"
  done
  n=$(curl -s -H "Authorization: Bearer $KEY" "http://127.0.0.1:$PORT/v1/threads?limit=50&q=$e" | python3 -c "import json,sys; d=json.load(sys.stdin); print(len(d.get('threads', d.get('items', []))))")
  echo "$q|$n|$(echo $ts | tr ' ' '\n' | sort -n | sed -n 4p)"
done
