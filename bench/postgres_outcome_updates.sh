#!/usr/bin/env bash
# postgres_outcome_updates.sh INDEX FILLFACTOR: what an outcome costs PostgreSQL as an update of
# the stored request (docs/BENCHMARKS.md, "Would HOT updates be enough?"). In a table shaped like
# taxi_records it inserts 500,000 requests, then applies their 500,000 outcomes through a staging
# table and the store's INSERT ... ON CONFLICT DO UPDATE, in batches of 10,000, and prints psql's
# time for each phase and how many updates were HOT.
#   INDEX: partial (flowcast's _labelled index: event time, key, target WHERE target IS NOT NULL)
#          | tsidx (event time, key) | none
#   scripts/with-postgres bench/postgres_outcome_updates.sh partial 100
#   scripts/with-postgres bench/postgres_outcome_updates.sh none 60
set -euo pipefail
[ $# -ge 2 ] || { echo "usage: $0 partial|tsidx|none FILLFACTOR" >&2; exit 2; }
U=${FLOWCAST_TEST_POSTGRES_URL:?run it under scripts/with-postgres}
V=$1; FF=$2; ORD=${3:-reqfirst}
psql -q -v ON_ERROR_STOP=1 "$U" <<SQL | grep -E "Time: [0-9]{3,}|[0-9] \\|"
SET client_min_messages=warning;
DROP TABLE IF EXISTS t; DROP TABLE IF EXISTS src;
\\pset tuples_only on
CREATE TABLE t (id text COLLATE "C" NOT NULL PRIMARY KEY, vendor_id bigint, pickup_datetime timestamptz, dropoff_datetime timestamptz,
 passenger_count bigint, plon double precision, plat double precision, dlon double precision, dlat double precision,
 flag text, trip_duration double precision, _ingested_at_ms bigint, _labelled_at_ms bigint) WITH (fillfactor=$FF);
SELECT CASE WHEN '$V'='partial' THEN 'CREATE INDEX ON t (pickup_datetime, id, trip_duration) WHERE trip_duration IS NOT NULL'
            WHEN '$V'='tsidx' THEN 'CREATE INDEX ON t (pickup_datetime, id)' ELSE 'SELECT 1' END \gexec
CREATE UNLOGGED TABLE src AS SELECT i, 'id'||md5(i::text) AS id FROM generate_series(1,500000) i;
CREATE INDEX ON src(i); ANALYZE src;
CREATE TEMP TABLE st (LIKE t);
\timing on
DO \$\$ DECLARE b int; BEGIN
 FOR b IN 0..49 LOOP
  IF '$ORD'='reqfirst' THEN
   INSERT INTO t (id,vendor_id,pickup_datetime,passenger_count,plon,plat,dlon,dlat,flag,_ingested_at_ms)
    SELECT id,1,now()+i*interval '1 s',1,-73.9,40.7,-73.95,40.75,'N',1 FROM src WHERE i > b*10000 AND i <= (b+1)*10000;
  ELSE
   INSERT INTO t (id,dropoff_datetime,trip_duration,_ingested_at_ms,_labelled_at_ms)
    SELECT id,now()+i*interval '1 s',600,1,1 FROM src WHERE i > b*10000 AND i <= (b+1)*10000;
  END IF;
 END LOOP; END \$\$;
CHECKPOINT;
SELECT pg_stat_reset();
DO \$\$ DECLARE b int; BEGIN
 FOR b IN 0..49 LOOP
  TRUNCATE st;
  IF '$ORD'='reqfirst' THEN
   INSERT INTO st (id,dropoff_datetime,trip_duration,_ingested_at_ms,_labelled_at_ms) SELECT id,now()+i*interval '1 s',600,2,2 FROM src WHERE i > b*10000 AND i <= (b+1)*10000;
  ELSE
   INSERT INTO st (id,vendor_id,pickup_datetime,passenger_count,plon,plat,dlon,dlat,flag,_ingested_at_ms)
    SELECT id,1,now()+i*interval '1 s',1,-73.9,40.7,-73.95,40.75,'N',2 FROM src WHERE i > b*10000 AND i <= (b+1)*10000;
  END IF;
  INSERT INTO t AS x SELECT * FROM st ON CONFLICT (id) DO UPDATE SET
    vendor_id=COALESCE(EXCLUDED.vendor_id,x.vendor_id), pickup_datetime=COALESCE(EXCLUDED.pickup_datetime,x.pickup_datetime),
    dropoff_datetime=COALESCE(EXCLUDED.dropoff_datetime,x.dropoff_datetime), passenger_count=COALESCE(EXCLUDED.passenger_count,x.passenger_count),
    plon=COALESCE(EXCLUDED.plon,x.plon), plat=COALESCE(EXCLUDED.plat,x.plat), dlon=COALESCE(EXCLUDED.dlon,x.dlon), dlat=COALESCE(EXCLUDED.dlat,x.dlat),
    flag=COALESCE(EXCLUDED.flag,x.flag), trip_duration=COALESCE(EXCLUDED.trip_duration,x.trip_duration),
    _ingested_at_ms=COALESCE(x._ingested_at_ms,EXCLUDED._ingested_at_ms), _labelled_at_ms=COALESCE(x._labelled_at_ms,EXCLUDED._labelled_at_ms);
 END LOOP; END \$\$;
\timing off
SELECT pg_sleep(1);
SELECT 'updates ' || n_tup_upd || ' | HOT ' || n_tup_hot_upd FROM pg_stat_user_tables WHERE relname='t';
SQL
