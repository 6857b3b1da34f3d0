-- wrk script: POST one taxi trip to /v1/datasets/taxi/predict over keep-alive connections.
-- Usage (see docs/http-api.md, "Benchmark"):
--   throughput, as fast as the connections go:
--     wrk -t2 -c32 -d20s --latency -s bench/http/predict.lua http://127.0.0.1:8080
--   latency at a fixed rate: with FLOWCAST_BENCH_DELAY_MS each connection waits that long between
--   requests, so `-c N` offers about N * 1000 / delay requests per second (Debian's wrk has no
--   fixed-rate option):
--     FLOWCAST_BENCH_DELAY_MS=10 wrk -t1 -c10 -d20s --latency -s bench/http/predict.lua http://127.0.0.1:8080
wrk.method = "POST"
wrk.path = "/v1/datasets/taxi/predict"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"id":"bench-1","vendor_id":2,"pickup_datetime":"2016-03-14 17:24:55",' ..
  '"passenger_count":1,"pickup_longitude":-73.982155,"pickup_latitude":40.767937,' ..
  '"dropoff_longitude":-73.96463,"dropoff_latitude":40.765602,"store_and_fwd_flag":"N"}'

local delay_ms = tonumber(os.getenv("FLOWCAST_BENCH_DELAY_MS") or "")
if delay_ms and delay_ms > 0 then
  function delay()
    return delay_ms
  end
end

function response(status, headers, body)
  if status ~= 200 then
    io.stderr:write("unexpected status " .. status .. ": " .. body .. "\n")
  end
end
