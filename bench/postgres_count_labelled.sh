#!/usr/bin/env bash
# postgres_count_labelled.sh: what counting labelled rows costs once requests and outcomes are
# two tables (docs/BENCHMARKS.md, "What the reads pay"). 1,000,000 request rows and 900,000
# outcome rows keyed like taxi ids; prints psql's time for the join count (twice) and for the
# outcomes-with-a-target count that the train stage polls instead.
#   scripts/with-postgres bench/postgres_count_labelled.sh
set -euo pipefail
U=${FLOWCAST_TEST_POSTGRES_URL:?run it under scripts/with-postgres}
psql -q -v ON_ERROR_STOP=1 "$U" <<'SQL' | grep -E "Time"
SET client_min_messages=warning;
DROP TABLE IF EXISTS r, o;
CREATE TABLE r (id text COLLATE "C" NOT NULL PRIMARY KEY, ts timestamptz, x double precision, _ingested_at_ms bigint);
CREATE TABLE o (id text COLLATE "C" NOT NULL PRIMARY KEY, y double precision, _labelled_at_ms bigint);
INSERT INTO r SELECT 'id'||md5(i::text), now()+i*interval '1 s', i, 1 FROM generate_series(1,1000000) i;
INSERT INTO o SELECT 'id'||md5(i::text), i, 1 FROM generate_series(1,1000000) i WHERE i % 10 <> 0;
VACUUM ANALYZE r; VACUUM ANALYZE o;
\timing on
SELECT count(*) FROM r JOIN o ON o.id=r.id WHERE o.y IS NOT NULL AND r.ts IS NOT NULL;
SELECT count(*) FROM r JOIN o ON o.id=r.id WHERE o.y IS NOT NULL AND r.ts IS NOT NULL;
SELECT count(*) FROM o WHERE o.y IS NOT NULL;
SQL
