#!/usr/bin/env bash
# Inbox load benchmark: seeds 100k threads / 1M messages (once per engine), starts the release
# server, and runs wrk against the Attention list, search and ingest. Bounded: each wrk run lasts
# DURATION seconds against 127.0.0.1 only.
#
#   bench/load.sh sqlite|postgres [THREADS MESSAGES]
set -euo pipefail
cd "$(dirname "$0")/.."
engine=${1:-sqlite}
threads=${2:-100000}
messages=${3:-1000000}
duration=${DURATION:-20}
connections=${CONNECTIONS:-32}
work=${BENCH_WORK:-$HOME/.cache/parley/bench}
mkdir -p "$work"
export BENCH_DIR="$PWD/bench"

case "$engine" in
  sqlite) url="sqlite://$work/inbox-$threads-$messages.db" ;;
  postgres)
    db="parley_bench_${threads}_${messages}"
    url="postgres://postgres@127.0.0.1:5432/$db"
    psql -h 127.0.0.1 -U postgres -qAtc "SELECT 1 FROM pg_database WHERE datname = '$db'" | grep -q 1 \
      || psql -h 127.0.0.1 -U postgres -qc "CREATE DATABASE $db" ;;
  *) echo "usage: $0 sqlite|postgres [THREADS MESSAGES]" >&2; exit 2 ;;
esac

# PROFILE=dev uses the dev profile (dependencies at opt-level 3, this crate at 2) when a release
# build is not at hand; the figures in BENCHMARKS.md say which was used.
profile=${PROFILE:-release}
target_dir=${CARGO_TARGET_DIR:-target}
if [ "$profile" = release ]; then
  cargo build --release --quiet --bin parley --example seed
  bin=$target_dir/release
else
  cargo build --quiet --bin parley --example seed
  bin=$target_dir/debug
fi
keyfile="$work/$engine-$threads-$messages.key"
if [ ! -s "$keyfile" ]; then
  echo "seeding $threads threads / $messages messages on $engine ..."
  # A seed cut short leaves no key: start its database over rather than add a second tenant.
  if [ "$engine" = sqlite ]; then
    rm -f "$work/inbox-$threads-$messages.db"*
  else
    psql -h 127.0.0.1 -U postgres -qc "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
  fi
  "$bin"/examples/seed --database-url "$url" --threads "$threads" --messages "$messages" > "$keyfile.tmp"
  mv "$keyfile.tmp" "$keyfile"
fi
export PARLEY_KEY=$(tail -n1 "$keyfile")

port=18080
DATABASE_URL="$url" PARLEY_BIND="127.0.0.1:$port" PARLEY_MODEL=none RUST_LOG=warn "$bin"/parley serve &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null' EXIT
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.2; done
rss_kb() { awk '/VmRSS/ {print $2}' /proc/$server/status; }

for script in attention search ingest; do
  printf '%-9s ' "$script"
  wrk -t2 -c"$connections" -d"${duration}s" -s "bench/$script.lua" "http://127.0.0.1:$port" | grep '^RESULT' | cut -d' ' -f2-
done
echo "server RSS: $(( $(rss_kb) / 1024 )) MiB"
