#!/usr/bin/env bash
# sqlite_insert_shapes.sh CSV WORKDIR: how SQLite's own cost of loading realty rows depends on the
# page size and the table's layout, without flowcast in the way (docs/BENCHMARKS.md, "ingest-file
# into SQLite"). Imports CSV (bench/make_realty_csv.py output) into WORKDIR/src.db once: `srcb`
# holds its rows sorted by key within batches of 50,000, as ingest-file hands them over. Then, for
# each variant, loads them with one INSERT ... SELECT into a fresh file in one transaction and
# prints sqlite3's timer for the insert and for the commit.
#   bench/sqlite_insert_shapes.sh /tmp/realty-1m.csv /tmp/shapes
set -euo pipefail
[ $# -eq 2 ] || { echo "usage: $0 CSV WORKDIR" >&2; exit 2; }
csv=$1 dir=$2
mkdir -p "$dir"
if [ ! -f "$dir/src.db" ]; then
  sqlite3 "$dir/src.db" <<SQL
.mode csv
.import $csv src
CREATE TABLE srcn AS SELECT id,region,city,street,CAST(rooms AS INT) rooms,CAST(floor AS INT) floor,
  CAST(floors_total AS INT) floors_total,CAST(total_area AS REAL) total_area,
  CAST(kitchen_area AS REAL) kitchen_area,building_type,CAST(year_built AS INT) year_built,
  CAST(lat AS REAL) lat,CAST(lon AS REAL) lon,CAST(price AS REAL) price,
  CAST(strftime('%s',listed_at) AS INTEGER)*1000000 AS listed_at FROM src;
CREATE TABLE srcb AS SELECT * FROM srcn ORDER BY (rowid-1)/50000, id;
SQL
fi
# variant PAGE_SIZE LAYOUT(rowid|norowid)
variant() {
  local page=$1 layout=$2 without=""
  [ "$layout" = norowid ] && without="WITHOUT ROWID"
  rm -f "$dir/t.db" "$dir/t.db-wal" "$dir/t.db-shm"
  printf 'page %s, %s: ' "$page" "$layout"
  sqlite3 "$dir/t.db" <<SQL | grep 'Run Time' | sed -n '2,3p' | awk '{printf "%s %s s  ", NR==1 ? "insert" : "commit", $4} END {print ""}'
PRAGMA page_size=$page; PRAGMA journal_mode=WAL; PRAGMA synchronous=OFF; PRAGMA cache_size=-262144;
ATTACH '$dir/src.db' AS s;
CREATE TEMP TABLE src AS SELECT * FROM s.srcb;
CREATE TABLE r (id TEXT NOT NULL PRIMARY KEY, region TEXT, city TEXT, street TEXT, rooms INTEGER,
  floor INTEGER, floors_total INTEGER, total_area REAL, kitchen_area REAL, building_type TEXT,
  year_built INTEGER, lat REAL, lon REAL, price REAL, listed_at INTEGER, _ingested_at_ms INTEGER,
  _labelled_at_ms INTEGER) $without;
CREATE INDEX r_l ON r (listed_at, id, price) WHERE price IS NOT NULL;
.timer on
BEGIN;
INSERT INTO r SELECT *, 1, 1 FROM src;
COMMIT;
SQL
}
for page in 4096 16384 65536; do variant "$page" rowid; done
variant 16384 norowid
rm -f "$dir/t.db" "$dir/t.db-wal" "$dir/t.db-shm"
