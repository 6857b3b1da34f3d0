// sqlite_rows_per_statement: SQLite's cost of upserting 1M realty rows one per statement or many
// per statement, bound from memory as flowcast's write_records does (docs/BENCHMARKS.md,
// "Many records per statement"). Reads WORKDIR/src.db made by bench/sqlite_insert_shapes.sh
// (table srcb: rows sorted by key within batches of 50,000), loads them into a fresh
// WORKDIR/t.db in one transaction and prints the insert and commit times. Not built by CMake:
//   g++ -O2 -std=c++20 bench/sqlite_rows_per_statement.cc -lsqlite3 -o /tmp/rows_per_statement
//   for n in 1 16 32; do /tmp/rows_per_statement $n "INSERT OR IGNORE" 16384 /tmp/shapes; done
//   /tmp/rows_per_statement 16 INSERT 16384 /tmp/shapes    # without OR IGNORE
// NOROWID=1 in the environment makes the table WITHOUT ROWID.
#include <sqlite3.h>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>
#include <variant>
using V = std::variant<std::monostate, long, double, std::string>;
static void die(sqlite3* db, const char* w) { fprintf(stderr, "%s: %s\n", w, sqlite3_errmsg(db)); exit(1); }
int main(int argc, char** argv) {
  if (argc != 5) {
    fprintf(stderr, "usage: %s ROWS_PER_STATEMENT 'INSERT'|'INSERT OR IGNORE' PAGE_SIZE WORKDIR\n", argv[0]);
    return 2;
  }
  int rows_per = atoi(argv[1]); const char* prefix = argv[2]; int page = atoi(argv[3]);
  const std::string dir = argv[4];
  sqlite3* src; sqlite3_open((dir + "/src.db").c_str(), &src);
  sqlite3_stmt* s; sqlite3_prepare_v2(src, "SELECT * FROM srcb", -1, &s, nullptr);
  std::vector<std::vector<V>> data;
  while (sqlite3_step(s) == SQLITE_ROW) {
    std::vector<V> r;
    for (int c = 0; c < 15; ++c) {
      switch (sqlite3_column_type(s, c)) {
        case SQLITE_INTEGER: r.emplace_back((long)sqlite3_column_int64(s, c)); break;
        case SQLITE_FLOAT: r.emplace_back(sqlite3_column_double(s, c)); break;
        case SQLITE_NULL: r.emplace_back(); break;
        default: r.emplace_back(std::string((const char*)sqlite3_column_text(s, c))); break;
      }
    }
    data.push_back(std::move(r));
  }
  sqlite3_finalize(s); sqlite3_close(src);
  remove((dir + "/t.db").c_str()); remove((dir + "/t.db-wal").c_str());
  sqlite3* db; sqlite3_open((dir + "/t.db").c_str(), &db);
  std::string ddl = "PRAGMA page_size=" + std::to_string(page) + "; PRAGMA journal_mode=WAL; PRAGMA synchronous=OFF; PRAGMA cache_size=-262144; PRAGMA temp_store=MEMORY;"
   "CREATE TABLE r (id TEXT NOT NULL PRIMARY KEY, region TEXT, city TEXT, street TEXT, rooms INTEGER, floor INTEGER, floors_total INTEGER,"
   " total_area REAL, kitchen_area REAL, building_type TEXT, year_built INTEGER, lat REAL, lon REAL, price REAL, listed_at INTEGER,"
   " _ingested_at_ms INTEGER, _labelled_at_ms INTEGER)" + std::string(getenv("NOROWID") ? " WITHOUT ROWID" : "") + ";"
   "CREATE INDEX r_l ON r (listed_at, id, price) WHERE price IS NOT NULL;";
  if (sqlite3_exec(db, ddl.c_str(), 0, 0, 0)) die(db, "ddl");
  const char* cols[] = {"region","city","street","rooms","floor","floors_total","total_area","kitchen_area","building_type","year_built","lat","lon","price","listed_at"};
  std::string set;
  for (auto c : cols) { if (!set.empty()) set += ","; set += std::string(c) + "=COALESCE(excluded." + c + "," + c + ")"; }
  set += ",_ingested_at_ms=COALESCE(_ingested_at_ms,excluded._ingested_at_ms),_labelled_at_ms=COALESCE(_labelled_at_ms,excluded._labelled_at_ms)";
  auto make = [&](int n) {
    std::string q = std::string(prefix) + " INTO r VALUES ";
    for (int i = 0; i < n; ++i) q += i ? ",(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)" : "(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)";
    q += " ON CONFLICT(id) DO UPDATE SET " + set;
    sqlite3_stmt* st; if (sqlite3_prepare_v3(db, q.c_str(), -1, SQLITE_PREPARE_PERSISTENT, &st, 0)) die(db, "prep");
    return st;
  };
  sqlite3_stmt* big = make(rows_per); sqlite3_stmt* one = make(1);
  auto t0 = std::chrono::steady_clock::now();
  sqlite3_exec(db, "BEGIN", 0, 0, 0);
  size_t i = 0;
  auto bind = [&](sqlite3_stmt* st, int base, const std::vector<V>& r) {
    for (int c = 0; c < 15; ++c) {
      const V& v = r[c]; int p = base + c + 1;
      if (auto* l = std::get_if<long>(&v)) sqlite3_bind_int64(st, p, *l);
      else if (auto* d = std::get_if<double>(&v)) sqlite3_bind_double(st, p, *d);
      else if (auto* s2 = std::get_if<std::string>(&v)) sqlite3_bind_text(st, p, s2->data(), (int)s2->size(), SQLITE_STATIC);
      else sqlite3_bind_null(st, p);
    }
    sqlite3_bind_int64(st, base + 16, 1); sqlite3_bind_int64(st, base + 17, 1);
  };
  while (i + rows_per <= data.size()) {
    for (int k = 0; k < rows_per; ++k) bind(big, k * 17, data[i + k]);
    if (sqlite3_step(big) != SQLITE_DONE) die(db, "step"); sqlite3_reset(big); i += rows_per;
  }
  for (; i < data.size(); ++i) { bind(one, 0, data[i]); if (sqlite3_step(one) != SQLITE_DONE) die(db, "step1"); sqlite3_reset(one); }
  auto t1 = std::chrono::steady_clock::now();
  sqlite3_exec(db, "COMMIT", 0, 0, 0);
  auto t2 = std::chrono::steady_clock::now();
  sqlite3_stmt* c; sqlite3_prepare_v2(db, "SELECT count(*) FROM r", -1, &c, 0); sqlite3_step(c);
  printf("rows_per=%d %s page=%d: insert %.3f s commit %.3f s, %lld rows\n", rows_per, prefix, page,
         std::chrono::duration<double>(t1 - t0).count(), std::chrono::duration<double>(t2 - t1).count(), (long long)sqlite3_column_int64(c, 0));
  sqlite3_finalize(c); sqlite3_finalize(big); sqlite3_finalize(one); sqlite3_close(db);
}
