#include "store/postgres_test_server.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>

namespace flowcast::store::testing {
namespace {

struct ConnCloser {
  void operator()(PGconn* c) const { PQfinish(c); }
};
struct ResultClear {
  void operator()(PGresult* r) const { PQclear(r); }
};

std::string url_encode(const std::string& v) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : v) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

// Forwards everything to a PostgresStore; drops the store's schema when destroyed.
class SchemaScopedStore : public Store {
 public:
  SchemaScopedStore(const PostgresTestServer& server, std::string schema,
                    std::unique_ptr<PostgresStore> inner)
      : server_(server), schema_(std::move(schema)), inner_(std::move(inner)) {}
  ~SchemaScopedStore() override {
    inner_.reset();  // its sessions end first
    server_.drop_schema(schema_);
  }
  Status ensure_dataset(const DatasetSpec& spec) override { return inner_->ensure_dataset(spec); }
  Result<CommitResult> commit(const DatasetSpec& spec, const SinkBatch& batch) override {
    return inner_->commit(spec, batch);
  }
  Result<std::vector<OffsetEntry>> load_offsets(const std::string& group) override {
    return inner_->load_offsets(group);
  }
  Status scan_labelled(const DatasetSpec& spec, int64_t limit,
                       const std::function<void(const Record&)>& row) override {
    return inner_->scan_labelled(spec, limit, row);
  }
  Result<int64_t> count_labelled(const DatasetSpec& spec) override {
    return inner_->count_labelled(spec);
  }
  Result<int64_t> count_labelled_at_most(const DatasetSpec& spec) override {
    return inner_->count_labelled_at_most(spec);
  }
  Result<std::vector<double>> recent_targets(const DatasetSpec& spec, int64_t limit) override {
    return inner_->recent_targets(spec, limit);
  }
  Result<std::optional<Record>> get_record(const DatasetSpec& spec,
                                           const std::string& key) override {
    return inner_->get_record(spec, key);
  }
  Result<std::vector<PredictionRow>> predictions_for(const DatasetSpec& spec,
                                                     const std::string& key) override {
    return inner_->predictions_for(spec, key);
  }
  Result<DatasetStats> stats(const DatasetSpec& spec) override { return inner_->stats(spec); }
  Result<std::vector<MetricRow>> recent_metrics(const std::string& dataset,
                                                int64_t limit) override {
    return inner_->recent_metrics(dataset, limit);
  }
  Result<int64_t> register_model(const ModelInfo& info, std::string_view artifact,
                                 bool activate) override {
    return inner_->register_model(info, artifact, activate);
  }
  Result<std::vector<ModelInfo>> list_models(const std::string& dataset) override {
    return inner_->list_models(dataset);
  }
  Result<std::optional<ModelInfo>> active_model(const std::string& dataset) override {
    return inner_->active_model(dataset);
  }
  Result<std::string> load_artifact(const std::string& dataset, int64_t version) override {
    return inner_->load_artifact(dataset, version);
  }
  Status promote_model(const std::string& dataset, int64_t version) override {
    return inner_->promote_model(dataset, version);
  }
  std::string describe() const override { return inner_->describe(); }

 private:
  const PostgresTestServer& server_;
  const std::string schema_;
  std::unique_ptr<PostgresStore> inner_;
};

}  // namespace

const PostgresTestServer* PostgresTestServer::get() {
  static const PostgresTestServer* server = []() -> const PostgresTestServer* {
    const char* url = std::getenv("FLOWCAST_TEST_POSTGRES_URL");
    if (url == nullptr || *url == '\0') return nullptr;
    return new PostgresTestServer(url);  // lives for the whole test program
  }();
  return server;
}

std::string PostgresTestServer::skip_message() {
  return "FLOWCAST_TEST_POSTGRES_URL is not set: no PostgreSQL server to test against (run "
         "under scripts/with-postgres, as `make test` does, or point it at a server)";
}

std::string with_url_param(const std::string& url, const std::string& key,
                           const std::string& value) {
  return url + (url.find('?') == std::string::npos ? "?" : "&") + key + "=" + url_encode(value);
}

std::string PostgresTestServer::schema_url(const std::string& schema) const {
  return with_url_param(url_, "options", "-csearch_path=" + schema);
}

std::string PostgresTestServer::create_schema() const {
  static std::atomic<int> counter{0};
  std::string name = "fc_test_" + std::to_string(getpid()) + "_" + std::to_string(++counter);
  query("DROP SCHEMA IF EXISTS " + name + " CASCADE; CREATE SCHEMA " + name);
  return name;
}

void PostgresTestServer::drop_schema(const std::string& schema) const {
  query("DROP SCHEMA IF EXISTS " + schema + " CASCADE");
}

std::vector<std::string> PostgresTestServer::query(const std::string& sql,
                                                   const std::string& schema) const {
  std::unique_ptr<PGconn, ConnCloser> conn(
      PQconnectdb((schema.empty() ? url_ : schema_url(schema)).c_str()));
  std::vector<std::string> rows;
  if (PQstatus(conn.get()) != CONNECTION_OK) {
    ADD_FAILURE() << "cannot connect to the test server: " << PQerrorMessage(conn.get());
    return rows;
  }
  PQsetNoticeProcessor(
      conn.get(), [](void*, const char*) {}, nullptr);
  std::unique_ptr<PGresult, ResultClear> res(PQexec(conn.get(), sql.c_str()));
  const ExecStatusType st = PQresultStatus(res.get());
  if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
    ADD_FAILURE() << sql << ": " << PQerrorMessage(conn.get());
    return rows;
  }
  for (int r = 0; r < PQntuples(res.get()); ++r) {
    std::string row;
    for (int c = 0; c < PQnfields(res.get()); ++c) {
      if (c) row += '|';
      row += PQgetisnull(res.get(), r, c) ? "NULL" : PQgetvalue(res.get(), r, c);
    }
    rows.push_back(row);
  }
  return rows;
}

bool PostgresTestServer::restart(double down_seconds) const {
  const char* helper = std::getenv("FLOWCAST_TEST_POSTGRES_RESTART");
  if (helper == nullptr || *helper == '\0') return false;
  std::string cmd = std::string(helper) + " " + std::to_string(down_seconds);
  return std::system(cmd.c_str()) == 0;
}

std::unique_ptr<Store> open_in_fresh_schema(const PostgresTestServer& server,
                                            const PostgresOptions& options, std::string* schema_out,
                                            Status* error) {
  std::string schema = server.create_schema();
  auto opened = PostgresStore::open(server.schema_url(schema), options);
  if (!opened.ok()) {
    if (error != nullptr) *error = opened.status();
    server.drop_schema(schema);
    return nullptr;
  }
  if (schema_out != nullptr) *schema_out = schema;
  return std::make_unique<SchemaScopedStore>(server, schema, std::move(opened).value());
}

}  // namespace flowcast::store::testing
