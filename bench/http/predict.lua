-- wrk script: POST one taxi trip to /v1/datasets/taxi/predict over keep-alive connections.
-- Usage (see docs/http-api.md, "Benchmark"):
--   wrk -t2 -c32 -d20s --latency -s bench/http/predict.lua http://127.0.0.1:8080
--   wrk2-style fixed rate is not in Debian's wrk; for latency at a fixed rate use -R with wrk2,
--   or run `wrk -t1 -c1` (about one request in flight) as done in the notes.
wrk.method = "POST"
wrk.path = "/v1/datasets/taxi/predict"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"id":"bench-1","vendor_id":2,"pickup_datetime":"2016-03-14 17:24:55",' ..
  '"passenger_count":1,"pickup_longitude":-73.982155,"pickup_latitude":40.767937,' ..
  '"dropoff_longitude":-73.96463,"dropoff_latitude":40.765602,"store_and_fwd_flag":"N"}'

function response(status, headers, body)
  if status ~= 200 then
    io.stderr:write("unexpected status " .. status .. ": " .. body .. "\n")
  end
end
