// The PostgreSQL store: the store conformance suite, instantiated against the server named by
// FLOWCAST_TEST_POSTGRES_URL (each test in a fresh schema), and what is PostgreSQL-specific:
// the documented column types, start-up errors, connection loss, concurrent writers, options.
// Without FLOWCAST_TEST_POSTGRES_URL every test here skips with a message saying so.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <cmath>
#include <cstdlib>
#include <thread>

#include "core/utf8.h"
#include "core/config_error.h"
#include "core/time_util.h"
#include "store/postgres_copy_buffer.h"
#include "store/postgres_dataset_sql.h"
#include "store/postgres_record_encoder.h"
#include "store/postgres_test_server.h"
#include "store/store_conformance.h"

namespace flowcast::store::testing {
namespace {

using flowcast::testing::tiny_dataset;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr int64_t kT0 = 1'700'000'000'000'000;

Result<std::unique_ptr<Store>> open_postgres(const std::string& /*scratch_dir*/) {
  const PostgresTestServer* server = PostgresTestServer::get();
  if (server == nullptr) return Status::unavailable(PostgresTestServer::skip_message());
  Status error;
  auto store = open_in_fresh_schema(*server, PostgresOptions{}, nullptr, &error);
  if (!store) return error;
  return store;
}

std::string postgres_unavailable() {
  return PostgresTestServer::get() == nullptr ? PostgresTestServer::skip_message() : "";
}

// Always instantiated, so the tests are listed with or without a server; without one each
// skips with the reason.
INSTANTIATE_TEST_SUITE_P(Postgres, StoreConformance,
                         ::testing::Values(StoreFactory{"postgres", open_postgres,
                                                        postgres_unavailable}),
                         store_factory_name);

#define REQUIRE_SERVER()                                        \
  const PostgresTestServer* server = PostgresTestServer::get(); \
  if (server == nullptr) GTEST_SKIP() << PostgresTestServer::skip_message()

Record request(const DatasetSpec& s, const std::string& key, int64_t ts, double x) {
  return make_record(s, key, {{"ts", Value(ts)}, {"x", Value(x)}});
}

// A free TCP port on loopback (nothing listens there once this returns).
int free_port() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  return ntohs(addr.sin_port);
}

// The host:port part of the test server's URL.
std::string host_port(const std::string& url) {
  size_t at = url.find('@');
  size_t start = at == std::string::npos ? url.find("://") + 3 : at + 1;
  size_t end = url.find('/', start);
  return url.substr(start, end - start);
}

// URLs libpq cannot parse: its message quotes the URL, or the token it stopped at, as written.
// Neither a password in the userinfo nor one in a parameter may reach the message. No server.
TEST(PostgresUrl, AMalformedUrlIsRefusedWithoutItsPassword) {
  for (const std::string url :
       {"postgresql://user:secretpw@[::1", "postgresql://user:secretpw@[::1]x:1/db",
        "postgresql://user:secret%zzpw@127.0.0.1/db", "postgresql://user:secret%00pw@127.0.0.1/db",
        "postgresql://user@[::1/db?password=secretpw"}) {
    Status s = PostgresStore::check_url(url);
    ASSERT_FALSE(s.ok()) << url;
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << url;
    EXPECT_THAT(s.message(), Not(HasSubstr("secret"))) << s.message();
    EXPECT_THAT(s.message(), HasSubstr("invalid PostgreSQL URL")) << s.message();
  }
}

TEST(PostgresStore, TablesAreTheOnesDocumented) {
  REQUIRE_SERVER();
  std::string schema;
  auto store = open_in_fresh_schema(*server, {}, &schema);
  ASSERT_TRUE(store);
  ASSERT_TRUE(store->ensure_dataset(all_types_dataset()).ok());
  EXPECT_EQ(server->query("SELECT version FROM flowcast_schema_version", schema),
            (std::vector<std::string>{"2"}));
  auto columns = [&](const std::string& table) {
    return server->query(
        "SELECT column_name || ' ' || data_type || ' ' || is_nullable FROM "
        "information_schema.columns WHERE table_schema = '" +
        schema + "' AND table_name = '" + table + "' ORDER BY ordinal_position");
  };
  // The records: request fields in one table, outcome fields in another, and a view with every
  // field in schema order (the SQLite backend's D_records).
  EXPECT_EQ(columns("every_requests"),
            (std::vector<std::string>{"id text NO", "ts timestamp with time zone YES",
                                      "x double precision YES", "n bigint YES", "flag boolean YES",
                                      "cat text YES", "lat double precision YES",
                                      "lon double precision YES", "note text YES",
                                      "_ingested_at_ms bigint YES"}));
  EXPECT_EQ(columns("every_outcomes"),
            (std::vector<std::string>{"id text NO", "done_at timestamp with time zone YES",
                                      "y double precision YES", "_labelled_at_ms bigint YES"}));
  EXPECT_EQ(
      columns("every_records"),
      (std::vector<std::string>{
          "id text YES", "ts timestamp with time zone YES", "x double precision YES",
          "n bigint YES", "flag boolean YES", "cat text YES", "lat double precision YES",
          "lon double precision YES", "note text YES", "done_at timestamp with time zone YES",
          "y double precision YES", "_ingested_at_ms bigint YES", "_labelled_at_ms bigint YES"}));
  EXPECT_EQ(
      columns("every_predictions"),
      (std::vector<std::string>{"key text NO", "model_version bigint NO",
                                "prediction double precision YES", "predicted_at_ms bigint NO"}));
  EXPECT_EQ(columns("every_evaluations"),
            (std::vector<std::string>{"key text NO", "model_version bigint NO",
                                      "prediction double precision YES",
                                      "actual double precision YES", "joined_at_ms bigint NO"}));
  EXPECT_EQ(columns("flowcast_offsets"),
            (std::vector<std::string>{"group_id text NO", "topic text NO", "partition integer NO",
                                      "next_offset bigint NO"}));
  EXPECT_EQ(columns("flowcast_models").size(), 9u);
  EXPECT_EQ(columns("flowcast_metrics").size(), 10u);
  EXPECT_EQ(
      server->query("SELECT table_name || ' ' || table_type FROM information_schema.tables "
                    "WHERE table_schema = '" +
                    schema + "' ORDER BY table_name"),
      (std::vector<std::string>{"every_evaluations BASE TABLE", "every_outcomes BASE TABLE",
                                "every_predictions BASE TABLE", "every_records VIEW",
                                "every_requests BASE TABLE", "flowcast_metrics BASE TABLE",
                                "flowcast_models BASE TABLE", "flowcast_offsets BASE TABLE",
                                "flowcast_schema_version BASE TABLE"}));
  // A request and an outcome each only add a row and its key: no other index to maintain.
  EXPECT_EQ(server->query("SELECT indexname FROM pg_indexes WHERE schemaname = '" + schema +
                          "' AND tablename IN ('every_requests', 'every_outcomes') "
                          "ORDER BY indexname"),
            (std::vector<std::string>{"every_outcomes_pkey", "every_requests_pkey"}));

  // Timestamps are real timestamps a user can query; bookkeeping times are milliseconds.
  DatasetSpec every = all_types_dataset();
  SinkBatch b;
  b.observations.push_back(make_record(every, "q",
                                       {{"ts", Value(int64_t{1'452'292'272'000'000})},
                                        {"x", Value(1.0)},
                                        {"flag", Value(true)},
                                        {"lat", Value(40.5)},
                                        {"lon", Value(-73.5)},
                                        {"y", Value(2.0)}}));
  int64_t before = now_millis();
  ASSERT_TRUE(store->commit(every, b).ok());
  EXPECT_EQ(server->query("SELECT to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS'), flag, "
                          "_ingested_at_ms >= " +
                              std::to_string(before) + ", _labelled_at_ms >= " +
                              std::to_string(before) + " FROM every_records",
                          schema),
            (std::vector<std::string>{"2016-01-08 22:31:12|t|t|t"}));
}

TEST(PostgresStore, StartupErrorsAreOneLineNamingTheHostWithoutThePassword) {
  REQUIRE_SERVER();
  auto one_line = [](const Status& s) { return s.message().find('\n') == std::string::npos; };

  // Nothing listens on the port.
  const std::string refused =
      "postgresql://someone:s3cret-refused@127.0.0.1:" + std::to_string(free_port()) + "/flowcast";
  auto r = PostgresStore::open(refused, {});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable) << r.status().to_string();
  EXPECT_TRUE(one_line(r.status())) << r.status().message();
  EXPECT_THAT(r.status().message(), HasSubstr("127.0.0.1"));
  EXPECT_THAT(r.status().message(), HasSubstr("refused"));
  EXPECT_THAT(r.status().message(), Not(HasSubstr("s3cret-refused")));

  // A malformed URL.
  EXPECT_EQ(PostgresStore::check_url("postgresql://u:pw-in-bad-url@h/db?no_such_option=1").code(),
            StatusCode::kInvalidArgument);
  Status bad = PostgresStore::check_url("postgresql://u:pw-in-bad-url@h/db?no_such_option=1");
  EXPECT_THAT(bad.message(), HasSubstr("no_such_option"));
  EXPECT_THAT(bad.message(), Not(HasSubstr("pw-in-bad-url")));
  EXPECT_TRUE(PostgresStore::check_url(server->url()).ok());

  // A database that does not exist.
  const std::string hp = host_port(server->url());
  r = PostgresStore::open("postgresql://postgres@" + hp + "/no_such_database_here", {});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << r.status().to_string();
  EXPECT_TRUE(one_line(r.status())) << r.status().message();
  EXPECT_THAT(r.status().message(), HasSubstr(hp.substr(0, hp.find(':'))));
  EXPECT_THAT(r.status().message(), HasSubstr("no_such_database_here"));

  // A role with a password: right (in the URL, or PGPASSWORD), then wrong.
  const std::string role = "fc_pw_" + std::to_string(getpid());
  server->query("DROP ROLE IF EXISTS " + role + "; CREATE ROLE " + role +
                " LOGIN PASSWORD 'right-pass-123'; GRANT CREATE ON SCHEMA public TO " + role);
  const std::string schema = server->create_schema();
  server->query("GRANT ALL ON SCHEMA " + schema + " TO " + role);
  auto role_url = [&](const std::string& userinfo) {
    return with_url_param("postgresql://" + userinfo + "@" + hp + "/postgres", "options",
                          "-csearch_path=" + schema);
  };
  {
    auto ok = PostgresStore::open(role_url(role + ":right-pass-123"), {});
    ASSERT_TRUE(ok.ok()) << ok.status().to_string();
    EXPECT_THAT((*ok)->describe(), Not(HasSubstr("right-pass-123")));
    EXPECT_THAT((*ok)->describe(), HasSubstr(role));
  }
  {
    ASSERT_EQ(setenv("PGPASSWORD", "right-pass-123", 1), 0);
    auto ok = PostgresStore::open(role_url(role), {});
    unsetenv("PGPASSWORD");
    EXPECT_TRUE(ok.ok()) << ok.status().to_string();
  }
  r = PostgresStore::open(role_url(role + ":wrong-pass-456"), {});
  if (r.ok()) {
    server->drop_schema(schema);
    server->query("DROP OWNED BY " + role + "; DROP ROLE " + role);
    GTEST_SKIP() << "the test server does not check passwords of role " << role;
  }
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << r.status().to_string();
  EXPECT_TRUE(one_line(r.status())) << r.status().message();
  EXPECT_THAT(r.status().message(), HasSubstr("password authentication failed"));
  EXPECT_THAT(r.status().message(), HasSubstr(hp.substr(0, hp.find(':'))));
  EXPECT_THAT(r.status().message(), Not(HasSubstr("wrong-pass-456")));
  server->drop_schema(schema);
  server->query("DROP OWNED BY " + role + "; DROP ROLE " + role);
}

TEST(PostgresStore, ALostSessionIsReplacedAndTheBatchRetriedWhole) {
  REQUIRE_SERVER();
  const std::string schema = server->create_schema();
  // Its own application_name, so that only this store's sessions are cut (tests run in parallel).
  const std::string app = "fc_lost_" + std::to_string(getpid());
  PostgresOptions options;
  options.pool_size = 4;
  auto opened = PostgresStore::open(
      with_url_param(server->schema_url(schema), "application_name", app), options);
  ASSERT_TRUE(opened.ok()) << opened.status().to_string();
  std::unique_ptr<PostgresStore> store = std::move(opened).value();
  DatasetSpec tiny = tiny_dataset();
  ASSERT_TRUE(store->ensure_dataset(tiny).ok());
  auto kill_sessions = [&] {
    // Every session the store holds (its idle pool) is cut, as a server restart would.
    server->query(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE "
        "application_name = '" +
        app + "'");
  };
  for (int round = 0; round < 3; ++round) {
    kill_sessions();
    SinkBatch b;
    b.group = "ingest";
    b.offsets = {{"tiny.requests", 0, (round + 1) * 100}};
    for (int i = 0; i < 100; ++i)
      b.requests.push_back(request(tiny, "k" + std::to_string(round * 100 + i), kT0 + i, 1.0));
    b.evaluations = {{"k" + std::to_string(round), 1, 1.0, 2.0, 5}};
    auto r = store->commit(tiny, b);
    ASSERT_TRUE(r.ok()) << r.status().to_string();
    EXPECT_EQ(r->evaluation_inserted, (std::vector<uint8_t>{1}));
    kill_sessions();
    auto offsets = store->load_offsets("ingest");
    ASSERT_TRUE(offsets.ok()) << offsets.status().to_string();
    EXPECT_EQ(offsets.value(), (std::vector<OffsetEntry>{{"tiny.requests", 0, (round + 1) * 100}}));
  }
  auto s = store->stats(tiny);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->records, 300);
  EXPECT_EQ(s->evaluations, 3);
  store.reset();
  server->drop_schema(schema);
}

// The server ends the session while COMMIT runs (a deferred trigger terminates its own backend,
// on its first two calls): the outcome is unknown to the client, which retries the transaction on a new session.
// Here the first attempt did not commit, so everything must come out exactly once: rows,
// offsets, evaluations reported as new, and model version 1.
TEST(PostgresStore, ASessionLostDuringCommitIsRetriedWithoutDoubles) {
  REQUIRE_SERVER();
  std::string schema;
  auto store = open_in_fresh_schema(*server, {}, &schema);
  ASSERT_TRUE(store);
  DatasetSpec tiny = tiny_dataset();
  ASSERT_TRUE(store->ensure_dataset(tiny).ok());
  server->query(R"sql(
CREATE SEQUENCE kill_count;
CREATE FUNCTION kill_once() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF nextval('kill_count') IN (1, 2) THEN PERFORM pg_terminate_backend(pg_backend_pid()); END IF;
  RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER kill_at_commit AFTER INSERT ON tiny_evaluations
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION kill_once();
CREATE CONSTRAINT TRIGGER kill_at_commit AFTER INSERT ON flowcast_models
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION kill_once();
)sql",
                schema);
  SinkBatch b;
  b.group = "evaluate";
  b.offsets = {{"tiny.predictions", 0, 2}};
  b.requests.push_back(request(tiny, "a", kT0, 1.0));
  b.evaluations = {{"a", 1, 1.0, 2.0, 10}, {"b", 1, 3.0, 4.0, 11}};
  auto r = store->commit(tiny, b);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(r->evaluation_inserted, (std::vector<uint8_t>{1, 1}));
  // More trigger calls than rows: a COMMIT was cut and the transaction ran again.
  EXPECT_EQ(server->query("SELECT last_value > 2 FROM kill_count", schema),
            (std::vector<std::string>{"t"}))
      << "the trigger did not cut the first COMMIT";
  EXPECT_EQ(store->stats(tiny).value().evaluations, 2);
  EXPECT_EQ(store->load_offsets("evaluate").value(),
            (std::vector<OffsetEntry>{{"tiny.predictions", 0, 2}}));
  r = store->commit(tiny, b);  // a real re-delivery: nothing is new
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->evaluation_inserted, (std::vector<uint8_t>{0, 0}));

  server->query("SELECT setval('kill_count', 1, false)", schema);  // kill the next COMMIT again
  ModelInfo info;
  info.dataset = "tiny";
  info.learner = "ridge";
  info.metrics_json = "{}";
  auto v = store->register_model(info, "bytes", true);
  ASSERT_TRUE(v.ok()) << v.status().to_string();
  EXPECT_EQ(v.value(), 1);
  auto models = store->list_models("tiny").value();
  ASSERT_EQ(models.size(), 1u);
  EXPECT_EQ(models[0].status, "active");
}

// Rows take a plain COPY into their table first; when one of them exists after all, the whole
// batch of that table goes through the upsert instead. Both ways must give what the upsert alone gives.
TEST(PostgresStore, RequestsForExistingKeysFallBackToTheUpsert) {
  REQUIRE_SERVER();
  std::string schema;
  auto store = open_in_fresh_schema(*server, {}, &schema);
  ASSERT_TRUE(store);
  DatasetSpec tiny = tiny_dataset();
  SinkBatch first;
  for (int i = 0; i < 50; ++i)
    first.requests.push_back(request(tiny, "k" + std::to_string(i), kT0 + i, 1.0));
  first.outcomes.push_back(make_record(tiny, "k0", {{"y", Value(5.0)}}));
  ASSERT_TRUE(store->commit(tiny, first).ok());
  server->query("UPDATE tiny_requests SET _ingested_at_ms = 7", schema);
  for (int round = 0; round < 40; ++round) {
    // Each batch: one key seen before (its x corrected, n added) and new keys.
    SinkBatch b;
    b.group = "ingest";
    b.offsets = {{"tiny.requests", 0, round + 1}};
    b.requests.push_back(
        make_record(tiny, "k" + std::to_string(round),
                    {{"ts", Value(kT0 + round)}, {"x", Value(2.0)}, {"n", Value(int64_t{round})}}));
    for (int i = 0; i < 20; ++i)
      b.requests.push_back(
          request(tiny, "r" + std::to_string(round) + "-" + std::to_string(i), kT0, 3.0));
    auto r = store->commit(tiny, b);
    ASSERT_TRUE(r.ok()) << r.status().to_string();
    auto seen = store->get_record(tiny, "k" + std::to_string(round)).value();
    ASSERT_TRUE(seen);
    EXPECT_EQ(seen->values[2], Value(2.0));
    EXPECT_EQ(seen->values[3], Value(int64_t{round}));
    EXPECT_EQ(store->get_record(tiny, "r" + std::to_string(round) + "-19").value()->values[2],
              Value(3.0));
    EXPECT_EQ(store->load_offsets("ingest").value(),
              (std::vector<OffsetEntry>{{"tiny.requests", 0, round + 1}}));
  }
  EXPECT_EQ(store->get_record(tiny, "k0").value()->values[6], Value(5.0));  // target kept
  EXPECT_EQ(store->stats(tiny).value().records, 50 + 40 * 20);
  // Keys stored before kept their first ingest time; the new ones have theirs.
  EXPECT_EQ(server->query("SELECT count(*) FROM tiny_records WHERE _ingested_at_ms = 7", schema),
            (std::vector<std::string>{"50"}));
}

// The COPY straight into the table meets an existing key megabytes into its data, while the
// client is still sending: the server ends the COPY, the session stays in sync, and the batch
// (new rows and outcomes) goes through the staging table and the upsert instead; so does the
// next one, while the fast path pauses.
TEST(PostgresStore, AnExistingKeyDeepInALargeBatchFallsBackToTheUpsert) {
  REQUIRE_SERVER();
  std::string schema;
  auto store = open_in_fresh_schema(*server, {}, &schema);
  ASSERT_TRUE(store);
  DatasetSpec tiny = tiny_dataset();
  constexpr int kRows = 40'000;  // a few MB of COPY data
  auto key = [](int i) {
    std::string k = std::to_string(i);
    return "k" + std::string(6 - k.size(), '0') + k;
  };
  SinkBatch first;
  first.requests.push_back(request(tiny, key(kRows - 2), kT0, 1.0));
  for (int i = 0; i < 5; ++i)
    first.requests.push_back(request(tiny, "old" + std::to_string(i), kT0, 1.0));
  ASSERT_TRUE(store->commit(tiny, first).ok());
  for (int round = 0; round < 2; ++round) {
    SinkBatch b;
    b.group = "ingest";
    b.offsets = {{"tiny.requests", 0, round + 1}};
    for (int i = 0; i < kRows; ++i)
      b.requests.push_back(request(tiny, key(i) + (round == 0 ? "" : "r"), kT0 + i, 2.0));
    if (round == 1) b.requests.push_back(request(tiny, key(kRows - 2), kT0, 4.0));
    for (int i = 0; i < 5; ++i)
      b.outcomes.push_back(
          make_record(tiny, "old" + std::to_string(i), {{"y", Value(7.0 + round)}}));
    auto r = store->commit(tiny, b);
    ASSERT_TRUE(r.ok()) << r.status().to_string();
    EXPECT_EQ(store->load_offsets("ingest").value(),
              (std::vector<OffsetEntry>{{"tiny.requests", 0, round + 1}}));
    EXPECT_EQ(store->get_record(tiny, key(kRows - 2)).value()->values[2],
              Value(round == 0 ? 2.0 : 4.0));
  }
  EXPECT_EQ(store->stats(tiny).value().records, 2 * kRows + 5);
  EXPECT_EQ(store->get_record(tiny, key(kRows - 2)).value()->values[2], Value(4.0));
  EXPECT_EQ(store->get_record(tiny, key(kRows - 1) + "r").value()->values[2], Value(2.0));
  EXPECT_EQ(store->get_record(tiny, "old4").value()->values[6], Value(8.0));
  EXPECT_EQ(store->get_record(tiny, "old4").value()->values[2], Value(1.0));
  EXPECT_EQ(server->query("SELECT count(*) FROM tiny_records WHERE y IS NOT NULL", schema),
            (std::vector<std::string>{"5"}));
}

// Row level security forced on the requests table: the server refuses COPY into it, so new keys
// go through the staging table and INSERT (which honours the policies) from then on.
TEST(PostgresStore, RowLevelSecurityOnTheRecordsTableTurnsTheCopyFastPathOff) {
  REQUIRE_SERVER();
  const std::string hp = host_port(server->url());
  const std::string role = "fc_rls_" + std::to_string(getpid());
  server->query("DROP ROLE IF EXISTS " + role + "; CREATE ROLE " + role +
                " LOGIN PASSWORD 'rls-pass-123'");
  const std::string schema = server->create_schema();
  server->query("GRANT ALL ON SCHEMA " + schema + " TO " + role);
  auto store = PostgresStore::open(
      with_url_param("postgresql://" + role + ":rls-pass-123@" + hp + "/postgres", "options",
                     "-csearch_path=" + schema),
      {});
  ASSERT_TRUE(store.ok()) << store.status().to_string();
  DatasetSpec tiny = tiny_dataset();
  ASSERT_TRUE((*store)->ensure_dataset(tiny).ok());
  server->query(
      "ALTER TABLE tiny_requests ENABLE ROW LEVEL SECURITY; "
      "ALTER TABLE tiny_requests FORCE ROW LEVEL SECURITY; "
      "CREATE POLICY everything ON tiny_requests USING (true) WITH CHECK (true)",
      schema);
  for (int round = 0; round < 2; ++round) {
    SinkBatch b;
    b.group = "ingest";
    b.offsets = {{"tiny.requests", 0, round + 1}};
    for (int i = 0; i < 10; ++i)
      b.requests.push_back(
          request(tiny, "k" + std::to_string(round) + "-" + std::to_string(i), kT0, 1.0));
    auto r = (*store)->commit(tiny, b);
    ASSERT_TRUE(r.ok()) << r.status().to_string();
  }
  EXPECT_EQ((*store)->stats(tiny).value().records, 20);
  EXPECT_EQ((*store)->load_offsets("ingest").value(),
            (std::vector<OffsetEntry>{{"tiny.requests", 0, 2}}));
  store->reset();
  server->drop_schema(schema);
  server->query("DROP OWNED BY " + role + "; DROP ROLE " + role);
}

TEST(PostgresStore, ConcurrentWritersAndAScanNeverClash) {
  REQUIRE_SERVER();
  auto store = open_in_fresh_schema(*server, {});
  ASSERT_TRUE(store);
  DatasetSpec tiny = tiny_dataset();
  ASSERT_TRUE(store->ensure_dataset(tiny).ok());
  constexpr int kThreads = 3, kBatches = 20, kPerBatch = 200;
  std::vector<std::string> errors[kThreads + 1];
  std::atomic<bool> done{false};
  // Writers share keys (every thread writes every key), so their upserts contend on the rows.
  auto writer = [&](int t) {
    for (int i = 0; i < kBatches; ++i) {
      SinkBatch b;
      b.group = "g" + std::to_string(t);
      b.offsets = {{"tiny.requests", t, i + 1}};
      for (int j = 0; j < kPerBatch; ++j) {
        std::string key = "k" + std::to_string((i * kPerBatch + j * 7919) % (kBatches * kPerBatch));
        if (t == 0) b.requests.push_back(request(tiny, key, kT0 + j, double(j)));
        if (t == 1) b.outcomes.push_back(make_record(tiny, key, {{"y", Value(double(j))}}));
        if (t == 2) b.predictions.push_back({key, 1, 1.0, 1});
      }
      auto r = store->commit(tiny, b);
      if (!r.ok()) errors[t].push_back(r.status().to_string());
      if (i % 7 == 0) {
        ModelInfo info;
        info.dataset = "tiny";
        info.learner = "ridge";
        auto v = store->register_model(info, "m" + std::to_string(t), true);
        if (!v.ok()) errors[t].push_back(v.status().to_string());
      }
    }
  };
  std::thread reader([&] {
    while (!done.load()) {
      Status s = store->scan_labelled(tiny, 100, [](const Record&) {});
      if (!s.ok()) errors[kThreads].push_back(s.to_string());
    }
  });
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) threads.emplace_back(writer, t);
  for (auto& t : threads) t.join();
  done = true;
  reader.join();
  for (const auto& errs : errors) EXPECT_TRUE(errs.empty()) << errs.front();
  auto s = store->stats(tiny).value();
  EXPECT_EQ(s.records, kBatches * kPerBatch);
  EXPECT_EQ(s.labelled, kBatches * kPerBatch);
  EXPECT_EQ(s.predictions, kBatches * kPerBatch);
  auto models = store->list_models("tiny").value();
  ASSERT_EQ(models.size(), size_t(kThreads * 3));
  for (size_t i = 0; i < models.size(); ++i)
    EXPECT_EQ(models[i].version, int64_t(models.size() - i));
  EXPECT_EQ(std::count_if(models.begin(), models.end(),
                          [](const ModelInfo& m) { return m.status == "active"; }),
            1);
}

TEST(PostgresStore, AScanStreamsInChunksAndItsCallbackMayWrite) {
  REQUIRE_SERVER();
  PostgresOptions options;
  options.fetch_rows = 3;  // several FETCHes for 10 rows
  auto store = open_in_fresh_schema(*server, options);
  ASSERT_TRUE(store);
  DatasetSpec tiny = tiny_dataset();
  SinkBatch b;
  for (int i = 0; i < 10; ++i)
    b.observations.push_back(
        make_record(tiny, "k" + std::to_string(i),
                    {{"ts", Value(kT0 + i)}, {"x", Value(1.0)}, {"y", Value(2.0)}}));
  ASSERT_TRUE(store->commit(tiny, b).ok());
  int seen = 0;
  Status s = store->scan_labelled(tiny, 0, [&](const Record& r) {
    EXPECT_EQ(r.key, "k" + std::to_string(seen));
    ++seen;
    SinkBatch w;  // a new labelled row, mid-scan: the scan's snapshot does not see it
    w.observations.push_back(make_record(
        tiny, "new" + r.key, {{"ts", Value(kT0 + 100)}, {"x", Value(1.0)}, {"y", Value(2.0)}}));
    auto c = store->commit(tiny, w);
    EXPECT_TRUE(c.ok()) << c.status().to_string();
  });
  ASSERT_TRUE(s.ok()) << s.to_string();
  EXPECT_EQ(seen, 10);
  EXPECT_EQ(store->count_labelled(tiny).value(), 20);
}

// The records table of tiny_dataset() as schema version 1 made it.
const std::string kVersion1TinyRecords =
    "CREATE TABLE tiny_records (id text COLLATE \"C\" NOT NULL PRIMARY KEY, ts timestamptz, "
    "x double precision, n bigint, flag boolean, cat text, y double precision, "
    "_ingested_at_ms bigint, _labelled_at_ms bigint); ";

// A dataset's records table as schema version 1 made it, with rows of every kind: the first use
// under version 2 moves them into the two tables, and the view shows exactly the rows the table
// held; writes, reads and counts go on from there.
TEST(PostgresStore, ASingleRecordsTableOfVersion1IsSplitAtFirstUse) {
  REQUIRE_SERVER();
  std::string schema;
  auto store = open_in_fresh_schema(*server, {}, &schema);
  ASSERT_TRUE(store);
  server->query(
      kVersion1TinyRecords +
      "CREATE INDEX tiny_records_labelled ON tiny_records (ts, id, y) WHERE y IS NOT NULL; "
      "INSERT INTO tiny_records VALUES "
      "('req', '2016-01-01 00:00:00+00', 1.5, 3, true, 'c''1', NULL, 100, NULL), "
      "('both', '2016-01-01 00:00:01+00', 2.5, NULL, NULL, NULL, 7.0, 101, 201), "
      "('out', NULL, NULL, NULL, NULL, NULL, 8.0, NULL, 202), "
      "('obs', '2016-01-01 00:00:02+00', 3.5, NULL, false, 'd', 9.0, 103, 203), "
      "('bare', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)",
      schema);
  const std::string all = "SELECT * FROM tiny_records ORDER BY id";
  const auto before = server->query(all, schema);
  ASSERT_EQ(before.size(), 5u);
  DatasetSpec tiny = tiny_dataset();
  ASSERT_TRUE(store->ensure_dataset(tiny).ok());
  EXPECT_EQ(server->query("SELECT table_type FROM information_schema.tables WHERE table_schema='" +
                          schema + "' AND table_name='tiny_records'"),
            (std::vector<std::string>{"VIEW"}));
  EXPECT_EQ(server->query(all, schema), before);
  EXPECT_EQ(server->query("SELECT id FROM tiny_requests ORDER BY id", schema),
            (std::vector<std::string>{"both", "obs", "req"}));
  EXPECT_EQ(server->query("SELECT id FROM tiny_outcomes ORDER BY id", schema),
            (std::vector<std::string>{"bare", "both", "obs", "out"}));
  EXPECT_EQ(store->count_labelled(tiny).value(), 2);  // both, obs
  DatasetStats st = store->stats(tiny).value();
  EXPECT_EQ(st.records, 5);
  EXPECT_EQ(st.requests, 3);
  EXPECT_EQ(st.outcomes, 3);
  // The outcome of "req" arrives; "out" gets its request.
  SinkBatch b;
  b.outcomes.push_back(make_record(tiny, "req", {{"y", Value(6.0)}}));
  b.requests.push_back(request(tiny, "out", kT0, 4.0));
  ASSERT_TRUE(store->commit(tiny, b).ok());
  EXPECT_EQ(store->count_labelled(tiny).value(), 4);
  auto req = store->get_record(tiny, "req").value();
  ASSERT_TRUE(req);
  EXPECT_EQ(req->values[2], Value(1.5));
  EXPECT_EQ(req->values[5], Value(std::string("c'1")));
  EXPECT_EQ(req->values[6], Value(6.0));
  // A second use finds the view and the tables, and leaves them be.
  auto again = PostgresStore::open(server->schema_url(schema), {});
  ASSERT_TRUE(again.ok()) << again.status().to_string();
  ASSERT_TRUE((*again)->ensure_dataset(tiny).ok());
  EXPECT_EQ((*again)->count_labelled(tiny).value(), 4);
}

// A view of the user's over the version-1 table stops the move: flowcast says why and leaves
// everything as it was.
TEST(PostgresStore, AViewOnTheVersion1TableStopsTheSplitAndChangesNothing) {
  REQUIRE_SERVER();
  std::string schema;
  auto store = open_in_fresh_schema(*server, {}, &schema);
  ASSERT_TRUE(store);
  server->query(
      kVersion1TinyRecords +
      "INSERT INTO tiny_records (id, ts, _ingested_at_ms) VALUES ('a', now(), 1); "
      "CREATE VIEW mine AS SELECT id FROM tiny_records",
      schema);
  Status s = store->ensure_dataset(tiny_dataset());
  EXPECT_FALSE(s.ok());
  EXPECT_THAT(s.message(), HasSubstr("tiny_records"));
  EXPECT_THAT(s.message(), HasSubstr("depend"));
  EXPECT_EQ(server->query("SELECT table_name || ' ' || table_type FROM information_schema.tables "
                          "WHERE table_schema='" +
                          schema + "' AND (table_name LIKE 'tiny_%' OR table_name = 'mine') "
                                   "ORDER BY 1"),
            (std::vector<std::string>{"mine VIEW", "tiny_records BASE TABLE"}));
}

TEST(PostgresStore, ATableChangedByHandIsReportedAndNotAltered) {
  REQUIRE_SERVER();
  std::string schema;
  auto store = open_in_fresh_schema(*server, {}, &schema);
  ASSERT_TRUE(store);
  server->query("CREATE TABLE tiny_records (id text PRIMARY KEY, ts timestamptz, x text)", schema);
  Status s = store->ensure_dataset(tiny_dataset());
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("'x'"));
  EXPECT_THAT(s.message(), HasSubstr("text but the schema needs double precision"));
  EXPECT_EQ(server->query("SELECT count(*) FROM information_schema.columns WHERE table_schema='" +
                          schema + "' AND table_name='tiny_records'"),
            (std::vector<std::string>{"3"}));
  EXPECT_EQ(server->query("SELECT count(*) FROM information_schema.tables WHERE table_schema='" +
                          schema + "' AND table_name LIKE 'tiny_%'"),
            (std::vector<std::string>{"1"}));
  // int and timestamp are different column types in PostgreSQL: a change is detected.
  server->query("DROP TABLE tiny_records", schema);
  ASSERT_TRUE(store->ensure_dataset(tiny_dataset()).ok());
  DatasetSpec changed = parse_dataset_yaml("tiny", R"(
key: id
event_time: ts
target: y
fields: {id: string, ts: timestamp, x: float, n: timestamp, flag: bool, cat: category, y: float}
features: [{transform: numeric, input: x}]
)");
  s = store->ensure_dataset(changed);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("'n'"));
  EXPECT_THAT(s.message(), HasSubstr("table tiny_requests"));
  // The outcomes table is checked too.
  server->query("DROP VIEW tiny_records; DROP TABLE tiny_requests, tiny_outcomes; "
                "CREATE TABLE tiny_outcomes (id text PRIMARY KEY, y text)",
                schema);
  s = store->ensure_dataset(tiny_dataset());
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("column 'y' of table tiny_outcomes is text"));
}

TEST(PostgresStore, ADatabaseFromANewerSchemaVersionIsRefused) {
  REQUIRE_SERVER();
  std::string schema;
  auto store = open_in_fresh_schema(*server, {}, &schema);
  ASSERT_TRUE(store);
  server->query("UPDATE flowcast_schema_version SET version = 3", schema);
  auto r = PostgresStore::open(server->schema_url(schema), {});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(r.status().message(), HasSubstr("schema version 3"));
}

TEST(PostgresStore, TextIsStoredExactlyAndNulBytesAreRefusedByName) {
  REQUIRE_SERVER();
  std::string schema;
  auto store = open_in_fresh_schema(*server, {}, &schema);
  ASSERT_TRUE(store);
  DatasetSpec tiny = tiny_dataset();
  const std::string nasty = "'); DROP TABLE tiny_records; -- \\ \"q\" \n\t E'\\x00' $$ $1";
  SinkBatch b;
  b.requests.push_back(make_record(tiny, nasty, {{"ts", Value(kT0)}, {"cat", Value(nasty)}}));
  ASSERT_TRUE(store->commit(tiny, b).ok());
  EXPECT_EQ(server->query("SELECT count(*) FROM tiny_records WHERE id = cat", schema),
            (std::vector<std::string>{"1"}));
  auto got = store->get_record(tiny, nasty).value();
  ASSERT_TRUE(got);
  EXPECT_EQ(got->values[5], Value(nasty));

  SinkBatch nul;
  nul.group = "ingest";
  nul.offsets = {{"tiny.requests", 0, 5}};
  nul.requests.push_back(request(tiny, "fine", kT0, 1.0));
  nul.requests.push_back(
      make_record(tiny, "bad", {{"ts", Value(kT0)}, {"cat", Value(std::string("a\0b", 3))}}));
  auto r = store->commit(tiny, nul);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(r.status().message(), HasSubstr("'cat'"));
  EXPECT_THAT(r.status().message(), HasSubstr("NUL"));
  EXPECT_TRUE(store->load_offsets("ingest").value().empty());  // nothing of the batch is kept
  EXPECT_FALSE(store->get_record(tiny, "fine").value());

  // Bytes that are not UTF-8 cannot be text on a UTF8 server: refused by field name too.
  if (server->query("SHOW server_encoding") == std::vector<std::string>{"UTF8"}) {
    SinkBatch latin1;
    latin1.requests.push_back(
        make_record(tiny, "l1", {{"ts", Value(kT0)}, {"cat", Value(std::string("caf\xe9"))}}));
    r = store->commit(tiny, latin1);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
    EXPECT_THAT(r.status().message(), HasSubstr("'cat'"));
  }
}

TEST(PostgresStore, NaNIsStoredAsNullAndExtremeTimestampsAreChecked) {
  REQUIRE_SERVER();
  std::string schema;
  auto store = open_in_fresh_schema(*server, {}, &schema);
  ASSERT_TRUE(store);
  DatasetSpec tiny = tiny_dataset();
  SinkBatch b;
  b.requests.push_back(request(tiny, "a", kT0, 1.5));
  ASSERT_TRUE(store->commit(tiny, b).ok());
  SinkBatch nan;  // NaN is "no value": it does not erase the stored 1.5
  nan.requests.push_back(request(tiny, "a", kT0, std::nan("")));
  nan.predictions = {{"a", 1, std::nan(""), 1}};
  ASSERT_TRUE(store->commit(tiny, nan).ok());
  EXPECT_EQ(store->get_record(tiny, "a").value()->values[2], Value(1.5));
  auto preds = store->predictions_for(tiny, "a").value();
  ASSERT_EQ(preds.size(), 1u);
  EXPECT_TRUE(std::isnan(preds[0].prediction));
  EXPECT_EQ(server->query("SELECT prediction IS NULL FROM tiny_predictions", schema),
            (std::vector<std::string>{"t"}));

  SinkBatch ancient;
  ancient.requests.push_back(request(tiny, "old", kMinPostgresTimestampMicros - 1, 1.0));
  auto r = store->commit(tiny, ancient);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("'ts'"));
  SinkBatch edge;  // the earliest and a far-future time round-trip exactly
  edge.requests.push_back(request(tiny, "first", kMinPostgresTimestampMicros, 1.0));
  edge.requests.push_back(request(tiny, "far", int64_t{9'000'000'000'000'000'000}, 1.0));
  ASSERT_TRUE(store->commit(tiny, edge).ok());
  EXPECT_EQ(store->get_record(tiny, "first").value()->values[1],
            Value(kMinPostgresTimestampMicros));
  EXPECT_EQ(store->get_record(tiny, "far").value()->values[1],
            Value(int64_t{9'000'000'000'000'000'000}));
}

// --- without a server ------------------------------------------------------------------------

TEST(PostgresRecordEncoder, MergesOneRowPerKeyAndTableInApplyOrder) {
  DatasetSpec tiny = tiny_dataset();
  PostgresDatasetSql sql(tiny);
  SinkBatch b;
  b.requests.push_back(make_record(tiny, "k", {{"ts", Value(kT0)}, {"x", Value(1.0)}}));
  b.requests.push_back(make_record(tiny, "k", {{"x", Value(2.0)}, {"n", Value(int64_t{4})}}));
  b.outcomes.push_back(make_record(tiny, "k", {{"y", Value(9.0)}, {"x", Value(-1.0)}}));
  b.requests.push_back(make_record(tiny, "b", {{"ts", Value(kT0)}}));
  b.requests.push_back(make_record(tiny, "a", {{"ts", Value(kT0)}}));
  b.outcomes.push_back(make_record(tiny, "o", {{"y", Value(3.0)}}));
  // Observations: with an outcome field they make a row in both tables, without one only in
  // the requests table.
  b.observations.push_back(make_record(tiny, "w", {{"ts", Value(kT0)}, {"y", Value(4.0)}}));
  b.observations.push_back(make_record(tiny, "v", {{"ts", Value(kT0)}, {"x", Value(5.0)}}));
  PostgresCopyBuffer requests, outcomes;
  ASSERT_TRUE(PostgresRecordEncoder(tiny, sql, true).encode(b, 1234, requests, outcomes).ok());
  // Decode the rows back: 11-byte signature, 8 header bytes, then rows.
  auto decode = [](const std::string& d, int count, int columns) {
    size_t p = 19;
    auto i16 = [&] {
      int v = (static_cast<unsigned char>(d[p]) << 8) | static_cast<unsigned char>(d[p + 1]);
      p += 2;
      return v;
    };
    auto field = [&]() -> std::optional<std::string> {
      uint32_t len = 0;
      for (int i = 0; i < 4; ++i) len = (len << 8) | static_cast<unsigned char>(d[p++]);
      if (len == 0xffffffffu) return std::nullopt;
      std::string v = d.substr(p, len);
      p += len;
      return v;
    };
    std::vector<std::vector<std::optional<std::string>>> rows;
    for (int r = 0; r < count; ++r) {
      EXPECT_EQ(i16(), columns);
      rows.emplace_back();
      for (int c = 0; c < columns; ++c) rows.back().push_back(field());
    }
    EXPECT_EQ(i16(), 0xffff);
    EXPECT_EQ(p, d.size());
    return rows;
  };
  // tiny_requests: id, ts, x, n, flag, cat, _ingested_at_ms. tiny_outcomes: id, y,
  // _labelled_at_ms.
  ASSERT_EQ(requests.rows(), 5);
  ASSERT_EQ(outcomes.rows(), 3);
  auto req = decode(requests.data(), 5, 7);
  auto out = decode(outcomes.data(), 3, 3);
  auto key = [](const std::optional<std::string>& v) { return v.value_or("NULL"); };
  std::vector<std::string> req_keys, out_keys;
  for (const auto& r : req) req_keys.push_back(key(r[0]));
  for (const auto& r : out) out_keys.push_back(key(r[0]));
  EXPECT_EQ(req_keys, (std::vector<std::string>{"a", "b", "k", "v", "w"}));  // sorted by key
  EXPECT_EQ(out_keys, (std::vector<std::string>{"k", "o", "w"}));
  auto as_double = [](const std::optional<std::string>& v) {
    uint64_t bits = 0;
    for (char c : *v) bits = (bits << 8) | static_cast<unsigned char>(c);
    return std::bit_cast<double>(bits);
  };
  const auto& k = req[2];
  EXPECT_EQ(as_double(k[2]), 2.0);  // the second request's x; the outcome's x is not stored
  EXPECT_TRUE(k[3].has_value());    // n from the second request
  EXPECT_FALSE(k[4].has_value());   // flag never sent
  EXPECT_TRUE(k[6].has_value());    // ingested
  EXPECT_EQ(as_double(out[0][1]), 9.0);
  EXPECT_TRUE(out[0][2].has_value());  // labelled: the outcome carried y
  EXPECT_EQ(as_double(out[1][1]), 3.0);
  EXPECT_EQ(as_double(out[2][1]), 4.0);  // the observation's target
  EXPECT_TRUE(out[2][2].has_value());
  EXPECT_EQ(as_double(req[3][2]), 5.0);
  EXPECT_TRUE(req[3][6].has_value());
}

TEST(PostgresRecordEncoder, RefusesWhatPostgresCannotStoreNamingTheField) {
  DatasetSpec tiny = tiny_dataset();
  PostgresDatasetSql sql(tiny);
  PostgresCopyBuffer out, rest;  // the two tables' rows
  SinkBatch nul;
  nul.observations.push_back(
      make_record(tiny, "k", {{"ts", Value(kT0)}, {"cat", Value(std::string("x\0y", 3))}}));
  Status s = PostgresRecordEncoder(tiny, sql, true).encode(nul, 1, out, rest);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("observation 0 (key 'k'): field 'cat'"));
  SinkBatch bad_utf8;
  bad_utf8.requests.push_back(make_record(tiny, "k", {{"cat", Value(std::string("\xc3("))}}));
  EXPECT_FALSE(PostgresRecordEncoder(tiny, sql, true).encode(bad_utf8, 1, out, rest).ok());
  EXPECT_TRUE(PostgresRecordEncoder(tiny, sql, false).encode(bad_utf8, 1, out, rest).ok());
  // An outcome's request fields are not stored, so their contents do not matter.
  SinkBatch ignored;
  ignored.outcomes.push_back(
      make_record(tiny, "k", {{"y", Value(1.0)}, {"cat", Value(std::string("x\0y", 3))}}));
  EXPECT_TRUE(PostgresRecordEncoder(tiny, sql, true).encode(ignored, 1, out, rest).ok());
  EXPECT_TRUE(valid_utf8("plain, Москва, 東京, \xF0\x9F\x9A\x95"));
  EXPECT_FALSE(valid_utf8("\xed\xa0\x80"));      // a surrogate
  EXPECT_FALSE(valid_utf8("\xc0\xaf"));          // overlong
  EXPECT_FALSE(valid_utf8("\xf4\x90\x80\x80"));  // past U+10FFFF
}

TEST(PostgresOptions, ParsedFromThePostgresqlSection) {
  auto section = [](const char* yaml) {
    return ConfigNode(YAML::Load(yaml)["postgresql"], "postgresql");
  };
  PostgresOptions d = parse_postgres_options(section("other: 1"));
  EXPECT_EQ(d.retry_for_ms, 10000);
  EXPECT_EQ(d.pool_size, 4);
  EXPECT_EQ(d.fetch_rows, 10000);
  PostgresOptions o = parse_postgres_options(
      section("postgresql: {retry_for: 30s, pool_size: 2, fetch_rows: 500}"));
  EXPECT_EQ(o.retry_for_ms, 30000);
  EXPECT_EQ(o.pool_size, 2);
  EXPECT_EQ(o.fetch_rows, 500);
  try {
    parse_postgres_options(section("postgresql: {retry: 1s}"));
    ADD_FAILURE() << "a misspelt key was accepted";
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.path(), "postgresql.retry");
  }
  EXPECT_THROW(parse_postgres_options(section("postgresql: {pool_size: 0}")), ConfigError);
  EXPECT_THROW(parse_postgres_options(section("postgresql: {retry_for: soon}")), ConfigError);
  EXPECT_THROW(parse_postgres_options(section("postgresql: 5")), ConfigError);
}

}  // namespace
}  // namespace flowcast::store::testing
