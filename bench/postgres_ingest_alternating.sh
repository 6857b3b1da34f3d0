#!/bin/sh
# postgres_ingest_alternating.sh BASE NEW [ROUNDS]: the ingest stage into PostgreSQL, two builds
# of flowcast alternating round by round (docs/BENCHMARKS.md, "Outcomes as inserts"). Each build
# writes into a database of its own, since a newer build moves the tables to its schema version
# and an older one then refuses them. Prints each round's medians and the server's CPU seconds
# (the postmaster and the backends it reaped, from /proc).
#   scripts/with-postgres bench/postgres_ingest_alternating.sh /work/old/build/release/flowcast \
#       build/release/flowcast 3
set -eu
: "${FLOWCAST_TEST_POSTGRES_URL:?run it under scripts/with-postgres}"
base=$1 new=$2 rounds=${3:-3}
config=$(dirname "$0")/../examples/taxi.yaml
pm=$(head -1 "$FLOWCAST_TEST_POSTGRES_DATA/postmaster.pid")
server_cpu() { awk '{printf "%.2f", ($14+$15+$16+$17)/100}' "/proc/$pm/stat"; }
psql -q "$FLOWCAST_TEST_POSTGRES_URL" -c "CREATE DATABASE fc_base" -c "CREATE DATABASE fc_new"
round=1
while [ "$round" -le "$rounds" ]; do
  for which in base new; do
    if [ "$which" = base ]; then bin=$base; else bin=$new; fi
    url=$(echo "$FLOWCAST_TEST_POSTGRES_URL" | sed "s|/postgres\$|/fc_$which|")
    before=$(server_cpu)
    echo "== $which, round $round, load $(cut -d' ' -f1-3 /proc/loadavg)"
    "$bin" bench "$config" --measure ingest --runs 3 --ingest-records 1000000 --store "$url" 2>&1 |
      grep -E "^median"
    echo "server CPU seconds: $(server_cpu) - $before"
  done
  round=$((round + 1))
done
