-- wrk script: the same request as predict.lua, paced: each connection waits `delay_ms` between
-- requests, so `-c N` connections offer about N * 1000 / delay_ms requests per second (Debian's
-- wrk has no fixed-rate option). Used for the p99-at-1,000-requests/s figure:
--   wrk -t1 -c10 -d20s --latency -s bench/http/predict_rate.lua http://127.0.0.1:8080
local delay_ms = tonumber(os.getenv("FLOWCAST_BENCH_DELAY_MS") or "10")
wrk.method = "POST"
wrk.path = "/v1/datasets/taxi/predict"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"id":"bench-1","vendor_id":2,"pickup_datetime":"2016-03-14 17:24:55",' ..
  '"passenger_count":1,"pickup_longitude":-73.982155,"pickup_latitude":40.767937,' ..
  '"dropoff_longitude":-73.96463,"dropoff_latitude":40.765602,"store_and_fwd_flag":"N"}'

function delay()
  return delay_ms
end
