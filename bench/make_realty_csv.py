#!/usr/bin/env python3
"""Writes N realty-shaped labelled rows as CSV (the ingest-file benchmark's input).

    bench/make_realty_csv.py 1000000 /tmp/realty-1m.csv

Columns are examples/realty.yaml's field names; values are plausible, not the generator's
pricing function (this measures loading, not modelling). Fixed seed: the same file every time.
"""
import random
import sys

CITIES = [("Москва", "Москва", 55.7558, 37.6173), ("Санкт-Петербург", "Санкт-Петербург", 59.9391, 30.3159),
          ("Казань", "Татарстан", 55.7963, 49.1088), ("Омск", "Омская", 54.9885, 73.3242),
          ("Тверь", "Тверская", 56.8587, 35.9176), ("Сочи", "Краснодарский", 43.5855, 39.7231)]
TYPES = ["panel", "brick", "monolith", "block", "wooden"]


def main() -> None:
    n, path = int(sys.argv[1]), sys.argv[2]
    rnd = random.Random(42)
    with open(path, "w", encoding="utf-8") as f:
        f.write("id,region,city,street,rooms,floor,floors_total,total_area,kitchen_area,"
                "building_type,year_built,lat,lon,price,listed_at\n")
        for i in range(n):
            city, region, lat, lon = CITIES[rnd.randrange(len(CITIES))]
            rooms = rnd.randrange(0, 5)
            floors = rnd.choice([5, 9, 12, 16, 25])
            area = round(25 + rooms * 18 + rnd.random() * 20, 1)
            f.write(f"L{rnd.getrandbits(48):012x}{i},{region},{city},улица Ленина,{rooms},"
                    f"{rnd.randrange(1, floors + 1)},{floors},{area},{round(area * 0.15, 1)},"
                    f"{rnd.choice(TYPES)},{rnd.randrange(1950, 2024)},"
                    f"{lat + rnd.uniform(-0.1, 0.1):.5f},{lon + rnd.uniform(-0.1, 0.1):.5f},"
                    f"{int(area * rnd.uniform(90000, 250000))},"
                    f"2024-{rnd.randrange(1, 13):02d}-{rnd.randrange(1, 29):02d} 12:00:00\n")


if __name__ == "__main__":
    main()
