#!/usr/bin/env python3
"""Writes a JSON array of N taxi requests (the body bench/http/batch_predict.sh posts).

    bench/http/make_batch_body.py 10000 /tmp/body10k.json

Fixed seed: the same file every time.
"""
import json
import random
import sys


def main() -> None:
    n, path = int(sys.argv[1]), sys.argv[2]
    random.seed(1)
    rows = []
    for i in range(n):
        rows.append({"id": "q%d" % i, "vendor_id": random.choice([1, 2]),
                     "pickup_datetime": "2016-03-14 %02d:%02d:00" % (random.randrange(24),
                                                                     random.randrange(60)),
                     "passenger_count": random.randrange(1, 5),
                     "pickup_longitude": -73.98 + random.uniform(-0.05, 0.05),
                     "pickup_latitude": 40.75 + random.uniform(-0.05, 0.05),
                     "dropoff_longitude": -73.96 + random.uniform(-0.05, 0.05),
                     "dropoff_latitude": 40.76 + random.uniform(-0.05, 0.05),
                     "store_and_fwd_flag": "N"})
    with open(path, "w") as f:
        f.write(json.dumps(rows))


if __name__ == "__main__":
    main()
