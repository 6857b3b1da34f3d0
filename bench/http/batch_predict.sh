#!/bin/bash
# Times POST /v1/datasets/taxi/predict with one body of 10,000 records, 7 times, against a server
# started here on a store that holds a trained taxi model; prints the median, min and max seconds.
#
#   bench/http/batch_predict.sh BINARY LABEL STORE_DB BODY
#
# BODY: a JSON array of taxi requests (bench/http/make_batch_body.py writes one). The server
# is stopped by its process id at the end.
set -euo pipefail
B=$1 LABEL=$2 DB=$3 BODY=$4
tmp=$(mktemp -d)
"$B" serve examples/taxi.yaml --dataset taxi --set store=sqlite:"$DB" --set bus=local:"$tmp"/bus \
  --set log_level=warn --set server.max_body_bytes=8388608 --listen 127.0.0.1:0 \
  --port-file "$tmp"/port --duration 120s >"$tmp"/log 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$tmp"' EXIT
for _ in $(seq 1 100); do [ -s "$tmp"/port ] && break; sleep 0.1; done
P=$(cat "$tmp"/port)
for _ in 1 2 3 4 5 6 7; do
  curl -s -o /dev/null -w "%{time_total}\n" -H 'Content-Type: application/json' \
    --data-binary @"$BODY" "http://127.0.0.1:$P/v1/datasets/taxi/predict"
done | sort -n | awk -v l="$LABEL" '{a[NR]=$1} END {print l, "median", a[4], "min", a[1], "max", a[NR]}'
