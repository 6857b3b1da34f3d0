// The flowcast binary facing a user's mistakes: a bad configuration or a bad flag fails at
// start-up with one line and exit code 2, before anything is written, in every command; never an
// internal error minutes later at run time.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/json_writer.h"
#include "support/test_support.h"

namespace flowcast {
namespace {

namespace fs = std::filesystem;
using testing::slurp;

struct Exit {
  int code = -1;
  std::string out, err;
};

// Runs the binary with `args`; its output goes to files in `dir`.
Exit flowcast(const std::vector<std::string>& args, const testing::TempDir& dir, int seconds = 60) {
  Exit e;
  e.code = testing::wait_exit(
      testing::spawn_flowcast(args, dir.str() + "/stdout", dir.str() + "/stderr"), seconds);
  e.out = slurp(dir.str() + "/stdout");
  e.err = slurp(dir.str() + "/stderr");
  return e;
}

bool one_line(const std::string& text) {
  return !text.empty() && text.back() == '\n' && std::count(text.begin(), text.end(), '\n') == 1;
}

std::string example(const char* name) {
  return (testing::source_dir() / "examples" / name).string();
}

// Bus and store inside `dir`, so a test can tell whether anything was written.
std::vector<std::string> isolated(const testing::TempDir& dir) {
  return {"--set", "bus=local:" + dir.str() + "/bus", "--set",
          "store=sqlite:" + dir.str() + "/store/flowcast.db"};
}

bool wrote_nothing(const testing::TempDir& dir) {
  return !fs::exists(dir.path() / "bus") && !fs::exists(dir.path() / "store");
}

std::vector<std::string> concat(std::vector<std::string> a, const std::vector<std::string>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

// A copy of an example with one piece of text replaced.
std::string edited_copy(const testing::TempDir& dir, const char* name, const std::string& from,
                        const std::string& to) {
  std::string text = slurp(example(name));
  auto at = text.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  if (at != std::string::npos) text.replace(at, from.size(), to);
  std::string path = dir.str() + "/" + name;
  std::ofstream(path) << text;
  return path;
}

// Every command that loads a configuration, as a user would type it for `config`.
std::vector<std::vector<std::string>> every_command(const std::string& config,
                                                    const testing::TempDir& dir) {
  std::string csv = dir.str() + "/rows.csv";
  std::ofstream(csv) << "id,price\n1,100\n";
  return {{"check", config},
          {"run", config, "--no-status", "--no-serve", "--duration", "5s"},
          {"produce", config, "--no-status", "--duration", "5s"},
          {"ingest", config, "--no-status", "--duration", "5s"},
          {"train", config, "--no-status", "--duration", "5s"},
          {"train", config, "--once"},
          {"predict", config, "--no-status", "--duration", "5s"},
          {"predict", config, "--once", "{}"},
          {"evaluate", config, "--no-status", "--duration", "5s"},
          {"serve", config, "--listen", "127.0.0.1:0", "--duration", "5s"},
          {"status", config},
          {"ingest-file", csv, config}};
}

TEST(CliConfig, UnknownTransformFailsAtStartUpInEveryCommand) {
  testing::TempDir dir;
  // In the file (realty's third feature misspelt) ...
  std::string realty = edited_copy(dir, "realty.yaml", "transform: log1p", "transform: logp1");
  for (const auto& cmd : every_command(realty, dir)) {
    Exit e = flowcast(concat(cmd, isolated(dir)), dir);
    std::string what = cmd[0] + " " + cmd[1];
    EXPECT_EQ(e.code, 2) << what << ": " << e.err;
    EXPECT_TRUE(one_line(e.err)) << what << ": " << e.err;
    EXPECT_EQ(e.err.rfind("flowcast: " + realty +
                              ": datasets.realty.features.2.transform: unknown transform 'logp1' "
                              "(expected one of: numeric, log1p,",
                          0),
              0u)
        << what << ": " << e.err;
    EXPECT_TRUE(wrote_nothing(dir)) << what;
  }
  // ... and from the command line.
  Exit e = flowcast(
      concat({"check", example("taxi.yaml"), "--set", "datasets.taxi.features.0.transform=ratios"},
             isolated(dir)),
      dir);
  EXPECT_EQ(e.code, 2);
  EXPECT_TRUE(one_line(e.err)) << e.err;
  EXPECT_NE(e.err.find("datasets.taxi.features.0.transform: unknown transform 'ratios'"),
            std::string::npos)
      << e.err;
  // The pipeline's other static checks run at start-up too: inputs of the wrong count or type.
  e = flowcast(
      concat({"check", example("taxi.yaml"), "--set", "datasets.taxi.features.0.transform=hour"},
             isolated(dir)),
      dir);
  EXPECT_EQ(e.code, 2);
  EXPECT_NE(e.err.find("transform 'hour' takes 1 input(s), got 4"), std::string::npos) << e.err;
}

TEST(CliConfig, ProducerThatCannotRunFailsAtStartUp) {
  testing::TempDir dir;
  struct Case {
    std::vector<std::string> args;
    std::string message;
  };
  const std::string taxi = example("taxi.yaml"), realty = example("realty.yaml");
  const std::vector<Case> cases = {
      // A --set value is blamed on --set, not on the file.
      {{"produce", taxi, "--set", "stages.produce.generator=bogus"},
       "flowcast: --set stages.produce.generator: unknown generator 'bogus' (expected taxi, "
       "realty or csv)\n"},
      {{"run", taxi, "--no-serve", "--set", "stages.produce.generator=bogus"},
       "flowcast: --set stages.produce.generator: unknown generator 'bogus' (expected taxi, "
       "realty or csv)\n"},
      {{"check", taxi, "--set", "stages.produce.generator=bogus"},
       "flowcast: --set stages.produce.generator: unknown generator 'bogus' (expected taxi, "
       "realty or csv)\n"},
      {{"produce", "taxi", realty},
       "flowcast: " + realty +
           ": stages.produce.generator: the taxi generator does not fit dataset 'realty': "
           "datasets.realty.fields: the taxi generator needs a field 'vendor_id'\n"},
      {{"produce", "csv", taxi},
       "flowcast: " + taxi +
           ": stages.produce.csv: the csv generator needs a file to replay (--csv PATH)\n"},
      {{"check", taxi, "--set", "stages.produce.generator=csv"},
       "flowcast: " + taxi +
           ": stages.produce.csv: the csv generator needs a file to replay (--csv PATH)\n"},
      {{"produce", taxi, "--csv", dir.str() + "/missing.csv"},
       "flowcast: --csv: cannot open " + dir.str() + "/missing.csv: No such file or directory\n"},
  };
  for (const auto& c : cases) {
    Exit e = flowcast(concat(c.args, isolated(dir)), dir);
    EXPECT_EQ(e.code, 2) << c.args[0] << " " << c.args[1];
    EXPECT_EQ(e.err, c.message);
    EXPECT_TRUE(wrote_nothing(dir)) << c.args[0] << " " << c.args[1];
  }
}

// A dataset of the user's own, as docs/datasets.md describes: no built-in generator.
std::string bikes_config(const testing::TempDir& dir) {
  std::string path = dir.str() + "/bikes.yaml";
  std::ofstream(path) << R"(
datasets:
  bikes:
    key: id
    event_time: at
    target: minutes
    fields:
      id: string
      at: timestamp
      station: category
      temp: float
      minutes: {type: float, min: 0, max: 1000}
    columns: {Номер: id, Время: at, Станция: station, Температура: temp, Минуты: minutes}
    features:
      - {name: temp, transform: numeric, input: temp}
      - {name: hour, transform: hour, input: at}
)";
  return path;
}

TEST(CliConfig, OwnDatasetRunsWithoutAProducerOrReplaysItsCsv) {
  testing::TempDir dir;
  std::string config = bikes_config(dir);
  std::vector<std::string> quiet = {"--no-status", "--no-serve"};
  // No generator and no --csv: the other stages run and one line says where records come from.
  Exit e = flowcast(concat(concat({"run", config, "--duration", "2s"}, quiet), isolated(dir)), dir);
  EXPECT_EQ(e.code, 0) << e.err;
  EXPECT_NE(e.err.find("bikes: no built-in generator and no --csv, so no produce stage: send "
                       "records to bikes.requests (requests), bikes.outcomes (outcomes) or "
                       "bikes.observations (observations), or POST /v1/datasets/bikes/events"),
            std::string::npos)
      << e.err;
  EXPECT_EQ(e.err.find("unknown generator"), std::string::npos) << e.err;

  // `produce` alone has nothing to do: a start-up error.
  e = flowcast(concat({"produce", config}, isolated(dir)), dir);
  EXPECT_EQ(e.code, 2);
  EXPECT_EQ(e.err, "flowcast: " + config +
                       ": stages.produce.generator: dataset 'bikes' has no built-in generator: "
                       "replay a CSV through its columns: with --csv FILE, or name a generator "
                       "(produce taxi|realty|csv CONFIG)\n");

  // --csv replays the file through the dataset's columns: mapping.
  std::string csv = dir.str() + "/rides.csv";
  {
    std::ofstream out(csv);
    out << "Номер,Время,Станция,Температура,Минуты\n";
    for (int i = 0; i < 40; ++i)
      out << "r" << i << ",2024-05-01 10:" << (10 + i) << ":00,S" << i % 3 << "," << 10 + i % 7
          << "," << 5 + i % 11 << "\n";
  }
  e = flowcast(concat(concat({"run", config, "--csv", csv, "--limit", "40", "--rate", "2000",
                              "--speedup", "100000"},
                             quiet),
                      isolated(dir)),
               dir);
  EXPECT_EQ(e.code, 0) << e.err;
  e = flowcast(concat({"status", config}, isolated(dir)), dir);
  EXPECT_EQ(e.code, 0) << e.err;
  EXPECT_NE(e.out.find("records 40, labelled 40"), std::string::npos) << e.out;
}

// A tiny price dataset with a ridge model (fast to train), and a CSV of its labelled rows.
std::string flats_config(const testing::TempDir& dir) {
  std::string path = dir.str() + "/flats.yaml";
  std::ofstream(path) << R"(
datasets:
  flats:
    key: id
    event_time: at
    target: price
    fields: {id: string, at: timestamp, area: float, price: float}
    features:
      - {name: area, transform: numeric, input: area}
    model: {learner: ridge, baseline: 5000000}
)";
  std::ofstream csv(dir.str() + "/flats.csv");
  csv << "id,at,area,price\n";
  for (int i = 0; i < 60; ++i)
    csv << "f" << i << ",2024-01-0" << 1 + i % 9 << " 12:00:00," << 30 + i << ","
        << 3123457.25 + 101234.5 * i + (i % 3) * 20000.75 << "\n";
  return path;
}

// A number as the HTTP API writes it.
std::string http_number(double v) {
  std::string out;
  JsonWriter(out).value(v);
  return out;
}

// The number after "prediction": in a line of JSON.
std::string prediction_text(const std::string& line) {
  auto at = line.find("\"prediction\":");
  if (at == std::string::npos) return "";
  at += 13;
  return line.substr(at, line.find_first_of(",}", at) - at);
}

TEST(CliConfig, PredictOnceRefusesAnEmptyRecord) {
  testing::TempDir dir;
  std::string config = flats_config(dir);
  for (const char* record : {"", "  "}) {
    Exit e = flowcast(concat({"predict", config, "--once", record}, isolated(dir)), dir, 20);
    EXPECT_EQ(e.code, 2) << e.err;
    EXPECT_EQ(e.err,
              "flowcast: --once: the record is empty: give one JSON object, e.g. --once "
              "'{\"field\": value, ...}'\n");
    EXPECT_TRUE(wrote_nothing(dir));
  }
}

TEST(CliConfig, PredictOnceSaysWhichModelAnsweredAndPrintsFullPrecision) {
  testing::TempDir dir;
  std::string config = flats_config(dir);
  const std::string record = R"({"at":"2024-02-01 10:00:00","area":54})";
  // No model yet: version 0 answers, and a note on stderr says so.
  Exit e = flowcast(concat({"predict", config, "--once", record}, isolated(dir)), dir);
  EXPECT_EQ(e.code, 0) << e.err;
  EXPECT_EQ(e.out, "{\"dataset\":\"flats\",\"prediction\":" + http_number(5000000) +
                       ",\"model_version\":0}\n");
  EXPECT_NE(e.err.find("flowcast: no model of 'flats' is active yet: version 0 answered, "
                       "model.baseline (no targets are stored yet)\n"),
            std::string::npos)
      << e.err;

  ASSERT_EQ(
      flowcast(concat({"ingest-file", dir.str() + "/flats.csv", config}, isolated(dir)), dir).code,
      0);
  e = flowcast(
      concat({"train", config, "--once", "--set", "stages.train.min_rows=10"}, isolated(dir)), dir);
  ASSERT_EQ(e.code, 0) << e.err;
  e = flowcast(concat({"predict", config, "--once", record}, isolated(dir)), dir);
  EXPECT_EQ(e.code, 0) << e.err;
  EXPECT_NE(e.out.find("\"model_version\":1}"), std::string::npos) << e.out;
  // The HTTP API's formatting: the shortest text that reads back exactly, not printf's %.6g.
  std::string number = prediction_text(e.out);
  ASSERT_FALSE(number.empty()) << e.out;
  char six[32];
  std::snprintf(six, sizeof six, "%.6g", std::stod(number));
  EXPECT_EQ(number, http_number(std::stod(number))) << e.out;
  EXPECT_NE(number, six) << e.out;
  EXPECT_EQ(e.err.find("version 0"), std::string::npos) << e.err;

  // The active model does not fit the configuration any more: the command fails with the reason
  // instead of answering with the baseline.
  e = flowcast(
      concat({"predict", config, "--once", record, "--set", "datasets.flats.fields.area=int"},
             isolated(dir)),
      dir);
  EXPECT_EQ(e.code, 1) << e.out;
  EXPECT_EQ(e.out, "");
  EXPECT_EQ(
      e.err.rfind("flowcast: the active model v1 of 'flats' does not fit this configuration: ", 0),
      0u)
      << e.err;
  EXPECT_TRUE(one_line(e.err)) << e.err;
}

TEST(CliConfig, UnknownDatasetNameIsAnErrorInEveryCommand) {
  testing::TempDir dir;
  const std::string realty = example("realty.yaml");
  for (auto cmd : every_command(realty, dir)) {
    cmd.insert(cmd.end(), {"--dataset", "nope"});
    Exit e = flowcast(concat(cmd, isolated(dir)), dir);
    std::string what = cmd[0] + " " + cmd[1];
    EXPECT_EQ(e.code, 2) << what;
    EXPECT_EQ(e.err,
              "flowcast: " + realty + ": datasets: no dataset named 'nope' (known: realty)\n")
        << what;
    EXPECT_TRUE(wrote_nothing(dir)) << what;
  }
}

TEST(CliConfig, CheckTakesDataset) {
  testing::TempDir dir;
  // Two datasets, the second with a feature that cannot be built: check --dataset checks one.
  std::string config = dir.str() + "/two.yaml";
  std::ofstream(config) << slurp(flats_config(dir)) << R"(  broken:
    key: id
    event_time: at
    target: y
    fields: {id: string, at: timestamp, y: float}
    features: [{transform: ratios, input: at}]
)";
  Exit e = flowcast({"check", config, "--dataset", "flats"}, dir);
  EXPECT_EQ(e.code, 0) << e.err;
  EXPECT_EQ(e.out.rfind(config + ": ok (1 dataset, ", 0), 0u) << e.out;
  e = flowcast({"check", config}, dir);
  EXPECT_EQ(e.code, 2);
  EXPECT_NE(e.err.find("datasets.broken.features.0.transform: unknown transform 'ratios'"),
            std::string::npos)
      << e.err;
}

TEST(CliConfig, HelpCommandAndUnknownCommand) {
  testing::TempDir dir;
  Exit e = flowcast({"help"}, dir);
  EXPECT_EQ(e.code, 0) << e.err;
  EXPECT_EQ(e.out.rfind("flowcast: real-time machine-learning predictions", 0), 0u) << e.out;
  for (const char* cmd : {"run", "produce", "ingest-file", "status", "check", "bench"})
    EXPECT_NE(e.out.find(std::string("\n  ") + cmd + " "), std::string::npos) << cmd;

  e = flowcast({"help", "produce"}, dir);
  EXPECT_EQ(e.code, 0) << e.err;
  EXPECT_NE(e.out.find("Usage: flowcast produce"), std::string::npos) << e.out;

  e = flowcast({"frobnicate"}, dir);
  EXPECT_EQ(e.code, 2);
  EXPECT_EQ(e.out, "");
  EXPECT_TRUE(one_line(e.err)) << e.err;
  EXPECT_EQ(e.err.rfind("flowcast: unknown command 'frobnicate' (commands: run, produce, ingest, "
                        "train, predict, evaluate, ingest-file, serve, status, check, bench, help",
                        0),
            0u)
      << e.err;
  EXPECT_EQ(flowcast({"help", "frobnicate"}, dir).code, 2);
}

TEST(CliConfig, ProducerFlagsAreCheckedLikeTheSettings) {
  testing::TempDir dir;
  const std::string taxi = example("taxi.yaml");
  struct Case {
    std::vector<std::string> flags;
    std::string message;
  };
  const std::vector<Case> cases = {
      {{"--rate", "0"}, "--rate: must be more than 0 and at most 10,000,000 per second, got 0"},
      {{"--rate", "-5"}, "--rate: must be more than 0 and at most 10,000,000 per second, got -5"},
      {{"--speedup", "0"}, "--speedup: must be at least 1, got 0"},
      {{"--limit", "-1"}, "--limit: must be at least 0, got -1"},
      {{"--loops", "0"}, "--loops: must be between 1 and 1000000, got 0"},
      {{"--csv", ""}, "--csv: the value is empty"},
  };
  for (const auto& c : cases) {
    for (const char* cmd : {"produce", "run"}) {
      if (c.flags[0] == "--loops" && std::string(cmd) == "run") continue;  // produce only
      Exit e = flowcast(concat(concat({cmd, taxi, "--no-status"}, c.flags), isolated(dir)), dir);
      EXPECT_EQ(e.code, 2) << cmd << " " << c.flags[0];
      EXPECT_EQ(e.err, "flowcast: " + c.message + "\n") << cmd;
      EXPECT_TRUE(wrote_nothing(dir)) << cmd << " " << c.flags[0];
    }
  }
  // The same value as a setting: the same problem, under the key.
  Exit e = flowcast(concat({"check", taxi, "--set", "stages.produce.rate=0"}, isolated(dir)), dir);
  EXPECT_EQ(e.code, 2);
  EXPECT_EQ(e.err,
            "flowcast: --set stages.produce.rate: must be more than 0 and at most 10,000,000 per "
            "second, got 0\n");
}

TEST(CliConfig, KeyWrittenTwiceFailsAtStartUp) {
  testing::TempDir dir;
  // realty declared a second time at the end of the file: the first used to win, and `run` then
  // failed after writing, its consumer groups busy with the first.
  std::string config = dir.str() + "/twice.yaml";
  std::string text = slurp(example("realty.yaml"));
  std::ofstream(config) << text << "\ndatasets:\n  other: {}\n";
  Exit e = flowcast(concat({"run", config, "--no-serve"}, isolated(dir)), dir);
  EXPECT_EQ(e.code, 2);
  EXPECT_TRUE(one_line(e.err)) << e.err;
  EXPECT_EQ(e.err.rfind("flowcast: " + config + ": datasets: declared twice, at lines ", 0), 0u)
      << e.err;
  EXPECT_TRUE(wrote_nothing(dir));
  EXPECT_EQ(flowcast({"check", example("realty.yaml")}, dir).code, 0);
  EXPECT_EQ(flowcast({"check", example("taxi.yaml")}, dir).code, 0);
}

TEST(CliConfig, ProduceHelpNamesItsArguments) {
  testing::TempDir dir;
  Exit e = flowcast({"produce", "--help"}, dir);
  EXPECT_EQ(e.code, 0);
  EXPECT_NE(e.out.find("produce [OPTIONS] [GENERATOR] CONFIG\n"), std::string::npos) << e.out;
  EXPECT_EQ(e.out.find("args"), std::string::npos) << e.out;
  EXPECT_NE(e.out.find("taxi, realty or csv"), std::string::npos) << e.out;
  EXPECT_EQ(e.out.find("Kaggle"), std::string::npos) << e.out;
  // A generator, then the configuration; or the configuration alone.
  e = flowcast(concat({"produce", "realty", example("taxi.yaml")}, isolated(dir)), dir);
  EXPECT_EQ(e.code, 2);
  EXPECT_NE(e.err.find("the realty generator does not fit dataset 'taxi'"), std::string::npos)
      << e.err;
  e = flowcast(concat({"produce", dir.str() + "/missing.yaml"}, isolated(dir)), dir);
  EXPECT_EQ(e.code, 2);
  EXPECT_EQ(e.err,
            "flowcast: " + dir.str() + "/missing.yaml: cannot open the configuration file\n");
}

// The text between the first line starting with `opening` and the next "```" in `doc`.
std::string block_after(const std::string& doc, const std::string& opening) {
  auto at = doc.find("\n" + opening + "\n");
  if (at == std::string::npos) return "";
  at += opening.size() + 2;
  return doc.substr(at, doc.find("```", at) - at);
}

TEST(CliConfig, DatasetGuideSampleLoads) {
  testing::TempDir dir;
  // docs/datasets.md: its YAML and its sample CSV, as a reader would copy them.
  std::string doc = slurp((testing::source_dir() / "docs" / "datasets.md").string());
  std::string yaml = block_after(doc, "```yaml");
  std::string csv = block_after(doc.substr(doc.find("## 1.")), "```");
  ASSERT_NE(yaml.find("flats:"), std::string::npos) << yaml;
  ASSERT_NE(csv.find("Город"), std::string::npos) << csv;
  std::ofstream(dir.str() + "/mydata.yaml") << yaml;
  std::ofstream(dir.str() + "/listings.csv") << csv;
  Exit e = flowcast(concat({"ingest-file", dir.str() + "/listings.csv", dir.str() + "/mydata.yaml",
                            "--rejects", dir.str() + "/rejects.csv"},
                           isolated(dir)),
                    dir);
  EXPECT_EQ(e.code, 0) << e.err;
  EXPECT_NE(e.out.find("loaded 1 row into"), std::string::npos) << e.out << e.err;
}

TEST(CliConfig, StatusLeadsWithTheDatasetsMetric) {
  testing::TempDir dir;
  std::string config = flats_config(dir);
  std::vector<std::string> mape = {"--set", "datasets.flats.model.metric=mape"};
  Exit e = flowcast(concat(concat({"run", config, "--csv", dir.str() + "/flats.csv", "--limit",
                                   "60", "--rate", "2000", "--no-status", "--no-serve"},
                                  mape),
                           isolated(dir)),
                    dir);
  ASSERT_EQ(e.code, 0) << e.err;
  e = flowcast(concat(concat({"status", config}, mape), isolated(dir)), dir);
  EXPECT_EQ(e.code, 0) << e.err;
  EXPECT_NE(e.out.find("latest window (v0, 60 joined): MAPE "), std::string::npos) << e.out;
  e = flowcast(concat({"status", config}, isolated(dir)), dir);
  EXPECT_NE(e.out.find("latest window (v0, 60 joined): RMSLE "), std::string::npos) << e.out;
}

// A bad store URL is blamed on where it came from: --set, the environment, or the file.
TEST(CliConfig, AStoreErrorNamesWhereTheUrlCameFrom) {
  testing::TempDir dir;
  const std::string config = flats_config(dir);
  Exit e = flowcast({"status", config, "--set", "store=mysql://db/x"}, dir);
  EXPECT_EQ(e.code, 2);
  EXPECT_EQ(e.err.rfind("flowcast: --set store: unsupported store URL 'mysql://db/x'", 0), 0u)
      << e.err;
  EXPECT_TRUE(one_line(e.err)) << e.err;

  ::setenv("FLOWCAST_STORE", "mysql://db/x", 1);
  e = flowcast({"status", config}, dir);
  ::unsetenv("FLOWCAST_STORE");
  EXPECT_EQ(e.code, 2);
  EXPECT_EQ(e.err.rfind("flowcast: FLOWCAST_STORE: unsupported store URL", 0), 0u)
      << e.err;

  std::ofstream(config, std::ios::app) << "store: mysql://db/x\n";
  e = flowcast({"status", config}, dir);
  EXPECT_EQ(e.code, 2);
  EXPECT_EQ(e.err.rfind("flowcast: " + config + ": store: unsupported store URL", 0), 0u) << e.err;
}

// status: each model's training window and validation figures, readable, and the whole card
// with --json.
TEST(CliConfig, StatusShowsEachModelsCard) {
  testing::TempDir dir;
  std::string config = flats_config(dir);
  Exit e = flowcast(concat({"ingest-file", dir.str() + "/flats.csv", config}, isolated(dir)), dir);
  ASSERT_EQ(e.code, 0) << e.err;
  e = flowcast(concat({"status", config}, isolated(dir)), dir);
  EXPECT_EQ(e.code, 0) << e.err;
  EXPECT_NE(e.out.find("  no model yet: version 0 (the baseline) answers\n"), std::string::npos)
      << e.out;
  e = flowcast(
      concat({"train", config, "--once", "--set", "stages.train.min_rows=10"}, isolated(dir)), dir);
  ASSERT_EQ(e.code, 0) << e.err;

  e = flowcast(concat({"status", config}, isolated(dir)), dir);
  EXPECT_EQ(e.code, 0) << e.err;
  // The CSV's times run from 1 to 9 January; the card is two lines, not the card's JSON.
  EXPECT_NE(e.out.find("  model v1 active    ridge, 60 rows from 2024-01-01 12:00:00 to "
                       "2024-01-09 12:00:00, trained in "),
            std::string::npos)
      << e.out;
  EXPECT_NE(e.out.find("      validation on 6 rows: RMSLE "), std::string::npos) << e.out;
  EXPECT_EQ(e.out.find('{'), std::string::npos) << e.out;

  e = flowcast(concat({"status", config, "--json"}, isolated(dir)), dir);
  EXPECT_EQ(e.code, 0) << e.err;
  const nlohmann::json doc = nlohmann::json::parse(e.out, nullptr, false);
  ASSERT_TRUE(doc.is_object()) << e.out;
  const nlohmann::json& flats = doc["flats"];
  EXPECT_EQ(flats["records"], 60) << e.out;
  EXPECT_EQ(flats["metric"], "rmsle") << e.out;
  ASSERT_EQ(flats["models"].size(), 1u) << e.out;
  const nlohmann::json& m = flats["models"][0];
  EXPECT_EQ(m["version"], 1);
  EXPECT_EQ(m["status"], "active");
  EXPECT_EQ(m["trained_rows"], 60);
  EXPECT_EQ(m["card"]["validation"]["count"], 6) << e.out;
  EXPECT_TRUE(m["card"]["validation"]["rmsle"].is_number()) << e.out;
}

}  // namespace
}  // namespace flowcast
