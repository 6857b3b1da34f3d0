// flowcast: the one binary. Parses the command line, loads the configuration, opens the backends
// and runs the stages. Exit codes: 0 done, 1 a runtime failure, 2 bad usage or configuration.
#include <CLI/CLI.hpp>

#include <atomic>
#include <cmath>
#include <csignal>
#include <filesystem>
#include <cstdio>
#include <iostream>

#include "cli/backends.h"
#include "cli/serve_command.h"
#include "cli/bench_command.h"
#include <nlohmann/json.hpp>

#include "core/config_error.h"
#include "core/json_codec.h"
#include "core/json_writer.h"
#include "core/log.h"
#include "core/time_util.h"
#include "ml/model.h"
#include "stages/file_ingest.h"
#include "stages/pipeline.h"
#include "stages/prediction_message.h"
#include "stages/produce_stage.h"
#include "stages/serving_model.h"
#include "stages/train_stage.h"

namespace flowcast::cli {
namespace {

std::atomic<int> g_interrupted{0};

void on_signal(int) {
  // Async-signal-safe: a lock-free atomic. A second Ctrl-C stops without draining.
  g_interrupted.fetch_add(1);
}

struct Common {
  std::string config_path;
  std::vector<std::string> overrides;
  std::vector<std::string> datasets;
};

void add_common(CLI::App* cmd, Common& c) {
  cmd->add_option("CONFIG", c.config_path, "Configuration file (see examples/taxi.yaml)")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("--set", c.overrides,
                  "Override a configuration key, e.g. --set stages.produce.rate=500 (repeatable)");
  cmd->add_option("--dataset", c.datasets,
                  "Only this dataset (repeatable; default: every dataset in the file)");
}

Config load_config(const Common& c, const std::vector<std::string>& extra) {
  std::vector<std::string> overrides = extra;
  overrides.insert(overrides.end(), c.overrides.begin(), c.overrides.end());
  Config config = Config::load(c.config_path, overrides);
  // Whatever the command, an unknown --dataset name or a dataset that could never be trained or
  // scored fails here, before anything is opened or written.
  stages::Pipeline::validate_datasets(config, c.datasets);
  init_logging(config.log_level());
  return config;
}

// Where the value of `key` came from when not from the file: "--set" or the environment variable
// that overrides it (config.h has the precedence); empty for the file.
std::string setting_origin(const Common& c, const std::string& key) {
  for (const std::string& o : c.overrides)
    if (o.size() > key.size() && o.compare(0, key.size(), key) == 0 && o[key.size()] == '=')
      return "--set";
  for (const auto& [name, var] : kEnvOverrides)
    if (key == name && env_override(var)) return var;
  return "";
}

// The datasets a command works on: the --dataset names (each must exist), else all of them.
std::vector<std::string> selected_names(const Config& config, const std::vector<std::string>& names) {
  std::vector<std::string> out;
  for (const auto& n : names) out.push_back(config.dataset(n).name());
  if (names.empty())
    for (const auto& d : config.datasets()) out.push_back(d.name());
  return out;
}

struct Backends {
  std::unique_ptr<bus::Bus> bus;
  std::unique_ptr<store::Store> store;
};

// `store_open`: kExisting for commands that only read (see cli/backends.h).
int open_backends(const Config& config, Backends& b, bool need_bus = true,
                  StoreOpen store_open = StoreOpen::kCreate) {
  if (need_bus) {
    auto bus = open_bus(config);
    if (!bus.ok()) {
      std::fprintf(stderr, "flowcast: cannot open the bus: %s\n", bus.status().to_string().c_str());
      return 1;
    }
    b.bus = std::move(bus).value();
  }
  auto store = open_store(config, store_open);
  if (!store.ok() && store.status().code() == StatusCode::kNotFound) {
    std::fprintf(stderr, "flowcast: %s\n", store.status().message().c_str());
    return 1;
  }
  if (!store.ok()) {
    std::fprintf(stderr, "flowcast: cannot open the store: %s\n", store.status().to_string().c_str());
    return 1;
  }
  b.store = std::move(store).value();
  return 0;
}

int run_stages(const Config& config, const std::vector<std::string>& stage_names,
               const std::vector<std::string>& datasets, const stages::RunOptions& options,
               const ServeFlags* serve_flags = nullptr) {
  // Every setting is checked before anything is opened: bad configuration writes nothing.
  stages::Pipeline::validate(config, stage_names, datasets);
  std::optional<server::ServerOptions> serve_options;
  if (serve_flags && !serve_flags->no_serve) serve_options = server_options(config, *serve_flags, datasets);
  Backends b;
  if (int rc = open_backends(config, b)) return rc;
  stages::Pipeline pipeline(config, *b.bus, *b.store, stage_names, datasets);
  if (Status s = pipeline.prepare(); !s.ok()) {
    std::fprintf(stderr, "flowcast: %s\n", s.to_string().c_str());
    return 1;
  }
  std::unique_ptr<server::Server> http;  // declared after the pipeline: stops before it goes
  if (serve_options) {
    if (int rc = start_run_server(config, *b.bus, *b.store, pipeline, std::move(*serve_options),
                                  *serve_flags, http))
      return rc;
  }
  logger("run")->info("running {} on {} with {}", [&] {
    // The stages that run: a dataset without a source has no producer.
    std::vector<std::string> running;
    for (const auto& e : pipeline.stages())
      if (std::find(running.begin(), running.end(), e.stage->name()) == running.end())
        running.push_back(e.stage->name());
    std::string n;
    for (const auto& s : running) n += (n.empty() ? "" : ", ") + s;
    return n;
  }(), b.bus->describe(), b.store->describe());
  Status s = pipeline.run(options, g_interrupted);
  if (!s.ok()) {
    std::fprintf(stderr, "flowcast: %s\n", s.to_string().c_str());
    return 1;
  }
  return 0;
}

int64_t parse_duration_option(const std::string& text, const char* name) {
  if (text.empty()) return 0;
  auto ms = parse_duration_millis(text);
  if (!ms) throw ConfigError(name, "expected a duration such as 30s, 5m or 1h, got '" + text + "'");
  return *ms;
}

int predict_once(const Config& config, const std::vector<std::string>& datasets,
                 const std::string& json) {
  // An empty --once (an unset shell variable, say) must not fall through to the streaming stage.
  if (json.find_first_not_of(" \t\r\n") == std::string::npos)
    throw ConfigError("--once", "the record is empty: give one JSON object, e.g. --once "
                                "'{\"field\": value, ...}'");
  if (config.datasets().size() > 1 && datasets.size() != 1)
    throw ConfigError("--dataset", "--once needs --dataset NAME when the configuration has several");
  const DatasetSpec& ds = datasets.empty() ? config.datasets().front() : config.dataset(datasets[0]);
  Backends b;
  if (int rc = open_backends(config, b, false)) return rc;
  JsonCodec codec(ds);
  Record rec;
  // A one-off request needs no key of its own: give it one when the JSON has none.
  std::string input = json;
  try {
    auto j = nlohmann::json::parse(json);
    const std::string& key = ds.field(ds.key_index()).name;
    if (j.is_object() && !j.contains(key)) {
      j[key] = "once-" + std::to_string(now_millis());
      input = j.dump();
    }
  } catch (const std::exception&) {
    // Not JSON: the codec below says why.
  }
  Status d = codec.decode(input, RecordRole::kRequest, rec);
  if (!d.ok()) {
    std::fprintf(stderr, "flowcast: the record does not fit dataset '%s': %s\n", ds.name().c_str(),
                 d.message().c_str());
    return 2;
  }
  const Record* p = &rec;
  double out = 0;
  // The active model, loaded as the predict stage loads it. The stage keeps serving what it has
  // when a new version is refused; a one-shot answer from a model other than the active one
  // would mislead, so a refusal is this command's failure.
  stages::ServingModel model(ds, *b.store);
  if (Result<bool> loaded = model.try_refresh(); !loaded.ok()) {
    std::fprintf(stderr, "flowcast: %s\n", loaded.status().message().c_str());
    return 1;
  }
  const int64_t version = model.version();
  const Status scored = model.predict(std::span<const Record* const>(&p, 1), &out);
  if (version == 0)
    std::fprintf(stderr, "flowcast: no model of '%s' is active yet: version 0 answered, %s\n",
                 ds.name().c_str(),
                 model.baseline_from_data() ? "the median of the recent stored targets"
                                            : "model.baseline (no targets are stored yet)");
  if (!scored.ok()) {
    std::fprintf(stderr, "flowcast: %s\n", scored.to_string().c_str());
    return 1;
  }
  // The same number formatting as the HTTP API: shortest text that reads back exactly.
  std::string line;
  JsonWriter w(line);
  w.begin_object();
  w.field("dataset", std::string_view(ds.name()));
  w.field("prediction", out);
  w.field("model_version", version);
  w.end_object();
  std::printf("%s\n", line.c_str());
  return 0;
}

const DatasetSpec& pick_dataset(const Config& config, const std::vector<std::string>& names,
                                const char* what) {
  if (names.size() > 1) throw ConfigError("--dataset", std::string(what) + " takes one dataset");
  if (names.empty()) {
    if (config.datasets().size() > 1)
      throw ConfigError("--dataset", std::string(what) + " needs --dataset NAME: the configuration has several");
    return config.datasets().front();
  }
  return config.dataset(names.front());
}

int ingest_csv_file(const Config& config, const std::vector<std::string>& names,
                    const std::string& csv, std::string rejects, int64_t batch_size) {
  const DatasetSpec& ds = pick_dataset(config, names, "ingest-file");
  Backends b;
  if (int rc = open_backends(config, b, false)) return rc;
  if (rejects.empty()) rejects = std::filesystem::path(csv).stem().string() + ".rejects.csv";
  stages::FileIngestOptions options{csv, rejects, batch_size, true};
  auto summary = stages::ingest_file(ds, *b.store, options, g_interrupted);
  if (!summary.ok()) {
    std::fprintf(stderr, "flowcast: %s\n", summary.status().to_string().c_str());
    return summary.status().code() == StatusCode::kInvalidArgument ? 2 : 1;
  }
  auto rows = [](int64_t n) { return std::to_string(n) + (n == 1 ? " row" : " rows"); };
  std::printf("%s: loaded %s into %s (dataset %s) in %.*f s, %.0f rows/s", csv.c_str(),
              rows(summary->loaded).c_str(), b.store->describe().c_str(), ds.name().c_str(),
              summary->seconds < 10 ? 2 : 1, summary->seconds,
              summary->seconds > 0 ? double(summary->loaded) / summary->seconds : 0);
  if (summary->rejected > 0)
    std::printf("; %s rejected, see %s", rows(summary->rejected).c_str(), rejects.c_str());
  std::printf("\n");
  return 0;
}

// "2016-03-07T00:00:27.981345Z" as "2016-03-07 00:00:27"; other text as it is.
std::string readable_time(const nlohmann::json& v) {
  if (!v.is_string()) return "?";
  std::string t = v.get<std::string>();
  if (t.size() >= 19 && t[10] == 'T') return t.substr(0, 10) + " " + t.substr(11, 8);
  return t;
}

// A model's card (ModelInfo::metrics_json) as two lines: what it was trained on, and its
// validation figures with the dataset's metric first. Missing parts are left out.
void print_model_card(const store::ModelInfo& m, const std::string& metric) {
  std::printf("  model v%lld %-9s %s, %lld rows", (long long)m.version, m.status.c_str(),
              m.learner.c_str(), (long long)m.trained_rows);
  nlohmann::json card = nlohmann::json::parse(m.metrics_json, nullptr, false);
  if (!card.is_object()) card = nlohmann::json::object();
  const nlohmann::json training = card.value("training", nlohmann::json::object());
  if (training.contains("window_start") && training.contains("window_end"))
    std::printf(" from %s to %s", readable_time(training["window_start"]).c_str(),
                readable_time(training["window_end"]).c_str());
  if (training.value("seconds", nlohmann::json()).is_number())
    std::printf(", trained in %.2f s", training["seconds"].get<double>());
  std::printf("\n");
  const nlohmann::json validation = card.value("validation", nlohmann::json::object());
  if (!validation.is_object() || validation.empty()) return;
  store::MetricRow figures;
  for (const stages::MetricFigure& f : stages::kMetricFigures) {
    const nlohmann::json v = validation.value(f.name, nlohmann::json());
    figures.*f.member = v.is_number() ? v.get<double>() : std::nan("");
  }
  std::printf("      validation");
  if (validation.value("count", nlohmann::json()).is_number_integer())
    std::printf(" on %lld rows", validation["count"].get<long long>());
  std::printf(": %s\n", stages::format_metrics(figures, metric).c_str());
}

int show_status(const Config& config, const std::vector<std::string>& names, bool as_json) {
  Backends b;
  if (int rc = open_backends(config, b, false, StoreOpen::kExisting)) return rc;
  nlohmann::json all = nlohmann::json::object();
  for (const auto& ds : config.datasets()) {
    if (!names.empty() && std::find(names.begin(), names.end(), ds.name()) == names.end()) continue;
    if (Status s = b.store->ensure_dataset(ds); !s.ok()) {
      std::fprintf(stderr, "flowcast: %s\n", s.to_string().c_str());
      return 1;
    }
    auto st = b.store->stats(ds);
    auto models = b.store->list_models(ds.name());
    auto metrics = b.store->recent_metrics(ds.name(), 1);
    if (!st.ok() || !models.ok() || !metrics.ok()) {
      std::fprintf(stderr, "flowcast: reading %s failed\n", b.store->describe().c_str());
      return 1;
    }
    if (as_json) {
      nlohmann::json d = {{"store", b.store->describe()},
                          {"records", st->records},
                          {"labelled", st->labelled},
                          {"predictions", st->predictions},
                          {"predicted_keys", st->predicted_keys},
                          {"joined", st->evaluations},
                          {"metric", ds.model().metric},
                          {"models", nlohmann::json::array()}};
      for (const auto& m : *models) {
        nlohmann::json card = nlohmann::json::parse(m.metrics_json, nullptr, false);
        d["models"].push_back({{"version", m.version},
                               {"status", m.status},
                               {"learner", m.learner},
                               {"trained_rows", m.trained_rows},
                               {"created_at_ms", m.created_at_ms},
                               {"promoted_at_ms", m.promoted_at_ms},
                               {"card", card.is_discarded() ? nlohmann::json() : card}});
      }
      if (!metrics->empty()) {
        std::string window;
        JsonWriter w(window);
        w.begin_object();
        stages::write_metric_window(w, metrics->front());
        w.end_object();
        d["latest_window"] = nlohmann::json::parse(window);
      }
      all[ds.name()] = std::move(d);
      continue;
    }
    std::printf("%s (%s)\n", ds.name().c_str(), b.store->describe().c_str());
    std::printf("  records %lld, labelled %lld, predictions %lld (%lld keys), joined %lld\n",
                (long long)st->records, (long long)st->labelled, (long long)st->predictions,
                (long long)st->predicted_keys, (long long)st->evaluations);
    if (models->empty()) std::printf("  no model yet: version 0 (the baseline) answers\n");
    for (const auto& m : *models) print_model_card(m, ds.model().metric);
    if (!metrics->empty()) {
      const auto& m = metrics->front();
      std::printf("  latest window (v%lld, %lld joined): %s\n", (long long)m.model_version,
                  (long long)m.count, stages::format_metrics(m, ds.model().metric).c_str());
    }
  }
  if (as_json) std::printf("%s\n", all.dump(2).c_str());
  return 0;
}

int main_impl(int argc, char** argv) {
  CLI::App app{
      "flowcast: real-time machine-learning predictions over event streams.\n"
      "Stores the events it receives, trains regression models on them, scores new requests as\n"
      "they stream in, and joins every prediction with the true outcome that arrives later."};
  app.set_version_flag("--version", "flowcast 0.1.0");
  app.require_subcommand(1);
  app.footer(
      "Examples:\n"
      "  flowcast run examples/taxi.yaml                      every stage in one process, live status\n"
      "  flowcast run examples/taxi.yaml --duration 60s --csv ../shared/data/nyc-taxi/train.csv\n"
      "  flowcast predict examples/taxi.yaml --set bus=kafka://...   one stage as its own process\n"
      "  flowcast status examples/taxi.yaml                   what the store holds\n"
      "Environment: FLOWCAST_BUS, FLOWCAST_STORE and FLOWCAST_LOG_LEVEL override the file; --set\n"
      "overrides both. Exit codes: 0 done, 1 runtime failure, 2 bad usage or configuration.");

  Common common;
  std::string duration, drain = "30s", csv;
  double rate = 0, speedup = 0;
  int64_t limit = -1;
  bool no_status = false;

  auto* run = app.add_subcommand("run", "Run every stage (produce, ingest, train, predict, evaluate) in one process");
  add_common(run, common);
  run->add_option("--duration", duration, "Stop after this long (e.g. 30s, 5m); default: until Ctrl-C");
  run->add_option("--drain-timeout", drain, "At stop, wait at most this long for stages to catch up")
      ->capture_default_str();
  run->add_option("--csv", csv,
                  "Replay this CSV through the dataset's columns: mapping instead of the generator");
  run->add_option("--rate", rate, "Events per second the producer emits");
  run->add_option("--speedup", speedup, "Event-time compression: outcomes arrive duration/speedup later");
  run->add_option("--limit", limit, "Produce this many events, then drain and stop");
  run->add_flag("--no-status", no_status, "No live status line");
  ServeFlags serve_flags;
  add_serve_flags(run, serve_flags, true);

  std::string produce_generator;
  int64_t loops = 0;
  auto* produce = app.add_subcommand("produce", "Emulate the event sources: requests now, outcomes later");
  // Two positionals, the first optional: a word that names no file is the generator, so
  // `produce CONFIG` and `produce GENERATOR CONFIG` both parse.
  produce->validate_positionals();
  produce->add_option("GENERATOR", produce_generator,
                      "taxi, realty or csv (default: stages.produce.generator, else csv with "
                      "--csv, else the dataset's name)")
      ->check(CLI::Validator(
          [](std::string& word) -> std::string {
            bool name = !word.empty() && word.find_first_of("./") == std::string::npos;
            return name && !std::filesystem::exists(word) ? "" : "a file, not a generator";
          },
          "", "GENERATOR"));
  produce->add_option("CONFIG", common.config_path, "Configuration file (see examples/taxi.yaml)")
      ->required();
  produce->add_option("--set", common.overrides, "Override a configuration key (repeatable)");
  produce->add_option("--dataset", common.datasets, "Produce for this dataset only (repeatable)");
  produce->add_option("--csv", csv, "Replay this CSV through the dataset's columns: mapping");
  produce->add_option("--loops", loops, "Replay the CSV this many times (keys get #2, #3, ...)");
  produce->add_option("--rate", rate, "Events per second");
  produce->add_option("--speedup", speedup, "Event-time compression of outcome delays");
  produce->add_option("--limit", limit, "Stop after this many events");
  produce->add_option("--duration", duration, "Stop after this long");
  produce->add_flag("--no-status", no_status, "No live status line");

  std::map<std::string, CLI::App*> single;
  for (const char* name : {"ingest", "train", "predict", "evaluate"}) {
    const char* help = std::string(name) == "ingest"    ? "Bus to store: store every request, outcome and observation"
                       : std::string(name) == "train"   ? "Store to model registry: train and retrain models"
                       : std::string(name) == "predict" ? "Requests to predictions with the serving model"
                                                        : "Join predictions with outcomes; publish model quality";
    auto* cmd = app.add_subcommand(name, help);
    add_common(cmd, common);
    cmd->add_option("--duration", duration, "Stop after this long; default: until Ctrl-C");
    cmd->add_flag("--no-status", no_status, "No live status line");
    single[name] = cmd;
  }
  bool train_once = false;
  single["train"]->add_flag("--once", train_once, "Train one model on what the store holds now, then exit");
  std::string once_json;
  single["predict"]->add_option("--once", once_json,
                                "Score this one JSON record, print the prediction and exit");

  std::string ingest_csv, rejects_path;
  int64_t ingest_batch = 50000;
  auto* ingest_file = app.add_subcommand(
      "ingest-file", "Bulk-load a CSV of labelled records into the store (through `columns:`)");
  ingest_file->add_option("FILE", ingest_csv, "CSV with a header row")->required()->check(CLI::ExistingFile);
  add_common(ingest_file, common);
  ingest_file->add_option("--rejects", rejects_path,
                          "Where rejected rows go as line,reason (default: FILE's name + .rejects.csv)");
  ingest_file->add_option("--batch-size", ingest_batch, "Rows per store transaction")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000000));

  auto* serve_cmd = app.add_subcommand("serve", "HTTP API and live dashboard over the store and the bus");
  add_common(serve_cmd, common);
  add_serve_flags(serve_cmd, serve_flags, false);
  serve_cmd->add_option("--duration", duration, "Stop after this long; default: until Ctrl-C");

  auto* status = app.add_subcommand("status", "Show what the store holds: rows, models, latest quality");
  add_common(status, common);
  bool status_json = false;
  status->add_flag("--json", status_json,
                   "Print it as one JSON object by dataset (each model's full training card)");
  auto* check = app.add_subcommand("check", "Validate a configuration file and exit");
  add_common(check, common);
  BenchOptions bench_options;
  auto* bench = add_bench_command(app, bench_options);
  std::string help_topic;
  auto* help = app.add_subcommand("help", "Show this help, or a command's (flowcast help run)");
  help->add_option("COMMAND", help_topic, "The command to explain");

  // CLI11 reports a word that is no command as "A subcommand is required": name it instead.
  if (argc > 1 && argv[1][0] != '-') {
    std::string word = argv[1];
    std::string names;
    bool known = false;
    for (const CLI::App* cmd : app.get_subcommands([](CLI::App*) { return true; })) {
      known |= cmd->get_name() == word;
      names += (names.empty() ? "" : ", ") + cmd->get_name();
    }
    if (!known) {
      std::fprintf(stderr, "flowcast: unknown command '%s' (commands: %s; see flowcast --help)\n",
                   word.c_str(), names.c_str());
      return 2;
    }
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  }
  if (app.got_subcommand(help)) {
    // App::help() would describe the selected subcommand (help itself): format directly.
    auto formatter = app.get_formatter();
    if (help_topic.empty()) {
      std::printf("%s", formatter->make_help(&app, "flowcast", CLI::AppFormatMode::Normal).c_str());
      return 0;
    }
    for (const CLI::App* cmd : app.get_subcommands([](CLI::App*) { return true; }))
      if (cmd->get_name() == help_topic && cmd != help) {
        std::printf("%s", formatter->make_help(cmd, "flowcast " + help_topic,
                                               CLI::AppFormatMode::Normal).c_str());
        return 0;
      }
    std::fprintf(stderr, "flowcast: unknown command '%s' (see flowcast --help)\n",
                 help_topic.c_str());
    return 2;
  }

  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  std::signal(SIGPIPE, SIG_IGN);
  init_logging("info");

  // The producer's flags are settings given on the command line: each one given becomes an
  // override of its key, so it is checked exactly as the file's value would be, and a bad value
  // is reported under the flag's name.
  static constexpr std::pair<const char*, const char*> kProduceFlags[] = {
      {"--csv", "stages.produce.csv"},         {"--rate", "stages.produce.rate"},
      {"--speedup", "stages.produce.speedup"}, {"--limit", "stages.produce.limit"},
      {"--loops", "stages.produce.loops"}};
  std::vector<std::string> produce_overrides;
  std::map<std::string, std::string> flag_of_key;
  for (const CLI::App* cmd : app.get_subcommands()) {
    for (const auto& [flag, key] : kProduceFlags) {
      const CLI::Option* opt = cmd->get_option_no_throw(flag);
      if (!opt || opt->count() == 0) continue;
      const std::string text = opt->results().back();
      if (text.empty()) {
        std::fprintf(stderr, "flowcast: %s: the value is empty\n", flag);
        return 2;
      }
      produce_overrides.push_back(std::string(key) + "=" + text);
      flag_of_key[key] = flag;
    }
  }

  stages::RunOptions options;
  try {
    options.duration_ms = parse_duration_option(duration, "--duration");
    options.drain_timeout_ms = parse_duration_option(drain, "--drain-timeout");
  } catch (const ConfigError& e) {
    std::fprintf(stderr, "flowcast: %s\n", e.what());
    return 2;
  }
  options.status_line = !no_status;

  if (app.got_subcommand(produce) && !produce_generator.empty())
    produce_overrides.push_back("stages.produce.generator=" + produce_generator);
  try {
    if (app.got_subcommand(run)) {
      Config config = load_config(common, produce_overrides);
      return run_stages(config, {"produce", "ingest", "train", "predict", "evaluate"},
                        common.datasets, options, &serve_flags);
    }
    if (app.got_subcommand(serve_cmd))
      return serve(load_config(common, {}), common.datasets, serve_flags, options.duration_ms,
                   g_interrupted);
    if (app.got_subcommand(produce)) {
      Config config = load_config(common, produce_overrides);
      // `run` goes on without a producer for a dataset that has none; `produce` has nothing to do.
      for (const auto& name : selected_names(config, common.datasets)) {
        if (!stages::ProduceSettings::parse(config.stage("produce"), config.dataset(name)).has_source())
          throw ConfigError("stages.produce.generator",
                            "dataset '" + name + "' has no built-in generator: replay a CSV "
                            "through its columns: with --csv FILE, or name a generator "
                            "(produce taxi|realty|csv CONFIG)");
      }
      return run_stages(config, {"produce"}, common.datasets, options);
    }
    if (app.got_subcommand(check)) {
      Config config = load_config(common, {});
      stages::Pipeline::validate(config, {"produce", "ingest", "train", "predict", "evaluate"},
                                 common.datasets);
      server::ServerSettings::parse(config.section("server"));
      const size_t n = selected_names(config, common.datasets).size();
      std::printf("%s: ok (%zu dataset%s, bus %s, store %s)\n", common.config_path.c_str(), n,
                  n == 1 ? "" : "s", redact_url(config.bus_url()).c_str(),
                  redact_url(config.store_url()).c_str());
      return 0;
    }
    if (app.got_subcommand(status)) return show_status(load_config(common, {}), common.datasets, status_json);
    if (app.got_subcommand(bench)) {
      common.config_path = bench_options.config_path;
      return run_bench_command(bench_options);
    }
    if (app.got_subcommand(ingest_file))
      return ingest_csv_file(load_config(common, {}), common.datasets, ingest_csv, rejects_path,
                             ingest_batch);
    if (app.got_subcommand(single["train"]) && train_once) {
      Config config = load_config(common, {});
      Backends b;
      if (int rc = open_backends(config, b)) return rc;
      int rc = 0;
      for (const auto& ds : config.datasets()) {
        if (!common.datasets.empty() &&
            std::find(common.datasets.begin(), common.datasets.end(), ds.name()) == common.datasets.end())
          continue;
        if (Status s = b.store->ensure_dataset(ds); !s.ok()) {
          std::fprintf(stderr, "flowcast: %s\n", s.to_string().c_str());
          return 1;
        }
        stages::TrainStage stage({config, ds, *b.bus, *b.store},
                                 stages::TrainSettings::parse(config.stage("train")));
        auto v = stage.train_once();
        if (!v.ok()) {
          std::fprintf(stderr, "flowcast: training %s failed: %s\n", ds.name().c_str(),
                       v.status().to_string().c_str());
          rc = 1;
        }
      }
      return rc;
    }
    if (app.got_subcommand(single["predict"]) && single["predict"]->get_option("--once")->count() > 0)
      return predict_once(load_config(common, {}), common.datasets, once_json);
    for (const auto& [name, cmd] : single) {
      if (app.got_subcommand(cmd)) {
        Config config = load_config(common, {});
        return run_stages(config, {name}, common.datasets, options);
      }
    }
  } catch (const ConfigError& e) {
    // A flag's mistake is the command line's, not the file's: no file name in front of it.
    if (auto flag = flag_of_key.find(e.path()); flag != flag_of_key.end())
      std::fprintf(stderr, "flowcast: %s: %s\n", flag->second.c_str(), e.problem().c_str());
    else if (e.path().rfind("--", 0) == 0)
      std::fprintf(stderr, "flowcast: %s\n", e.what());
    else if (std::string origin = setting_origin(common, e.path()); origin == "--set")
      std::fprintf(stderr, "flowcast: --set %s\n", e.what());
    else if (!origin.empty())  // the environment variable names the key
      std::fprintf(stderr, "flowcast: %s: %s\n", origin.c_str(), e.problem().c_str());
    else
      std::fprintf(stderr, "flowcast: %s: %s\n", common.config_path.c_str(), e.what());
    return 2;
  }
  return 2;
}

}  // namespace
}  // namespace flowcast::cli

int main(int argc, char** argv) {
  try {
    return flowcast::cli::main_impl(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "flowcast: unexpected error: %s\n", e.what());
    return 1;
  }
}
