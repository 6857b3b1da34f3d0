// flowcast_kafka_mock: a librdkafka mock Kafka cluster in its own process, for tests that run
// flowcast stages as separate processes (and for trying the kafka:// bus by hand).
//
//   flowcast_kafka_mock --bootstrap-file PATH [--brokers 3] [--max-seconds 900]
//
// Starts the brokers on 127.0.0.1, writes "127.0.0.1:port,..." to PATH (atomically: a temporary
// file renamed into place), then obeys commands read from stdin, one per line, answering each
// with one line on stdout, "ok" or "error: <reason>" ("ok <text>" for queries):
//
//   topic NAME PARTITIONS [REPLICATION]   create a topic (partition p led by broker p%N+1)
//   leader TOPIC PARTITION BROKER         move a partition's leadership
//   coordinator GROUP BROKER              make BROKER the coordinator of a consumer group
//   down BROKER / up BROKER               disconnect a broker and refuse connections / accept again
//   failover BROKER                       move BROKER's leaderships and coordinators, then down
//   errors API ERROR [ERROR...]           fail the next requests of API (Produce, Fetch,
//                                         ListOffsets, Metadata, OffsetCommit, OffsetFetch,
//                                         FindCoordinator, JoinGroup, Heartbeat, SyncGroup,
//                                         InitProducerId, or a number) with these errors
//                                         (names such as NOT_LEADER_FOR_PARTITION, or numbers)
//   rtt BROKER MS                         delay a broker's responses
//   bootstrap                             "ok <bootstrap list>"
//   quit                                  stop
//
// It also stops at end of input (the test that started it has gone) and after --max-seconds,
// so a crashed test cannot leave it running.
#include <poll.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>
#include <string>

#include "support/kafka_mock_cluster.h"

namespace {

using flowcast::Status;
using flowcast::testing::KafkaMockCluster;

int16_t api_key(const std::string& name) {
  static const std::map<std::string, int16_t> kKeys = {
      {"Produce", 0},          {"Fetch", 1},
      {"ListOffsets", 2},      {"Metadata", 3},
      {"OffsetCommit", 8},     {"OffsetFetch", 9},
      {"FindCoordinator", 10}, {"JoinGroup", 11},
      {"Heartbeat", 12},       {"LeaveGroup", 13},
      {"SyncGroup", 14},       {"ApiVersions", 18},
      {"InitProducerId", 22},  {"OffsetForLeaderEpoch", 23}};
  auto it = kKeys.find(name);
  if (it != kKeys.end()) return it->second;
  char* end = nullptr;
  long v = std::strtol(name.c_str(), &end, 10);
  return (!name.empty() && *end == '\0') ? int16_t(v) : int16_t(-1);
}

std::string run(KafkaMockCluster& mock, const std::string& line, bool& quit) {
  std::istringstream in(line);
  std::string cmd;
  in >> cmd;
  auto reply = [](const Status& s) { return s.ok() ? std::string("ok") : "error: " + s.message(); };
  if (cmd.empty()) return "error: empty command";
  if (cmd == "quit") {
    quit = true;
    return "ok";
  }
  if (cmd == "bootstrap") return "ok " + mock.bootstrap();
  if (cmd == "topic") {
    std::string name;
    int partitions = 0, rf = 3;
    in >> name >> partitions;
    if (!(in >> rf)) rf = 3;
    if (name.empty() || partitions <= 0) return "error: usage: topic NAME PARTITIONS [REPLICATION]";
    return reply(mock.create_topic(name, partitions, rf));
  }
  if (cmd == "leader") {
    std::string topic;
    int partition = -1, broker = -1;
    if (!(in >> topic >> partition >> broker)) return "error: usage: leader TOPIC PARTITION BROKER";
    return reply(mock.set_leader(topic, partition, broker));
  }
  if (cmd == "coordinator") {
    std::string group;
    int broker = -1;
    if (!(in >> group >> broker)) return "error: usage: coordinator GROUP BROKER";
    return reply(mock.set_coordinator(group, broker));
  }
  if (cmd == "down" || cmd == "up" || cmd == "failover") {
    int broker = -1;
    if (!(in >> broker)) return "error: usage: " + cmd + " BROKER";
    if (cmd == "down") return reply(mock.broker_down(broker));
    if (cmd == "up") return reply(mock.broker_up(broker));
    return reply(mock.fail_over(broker));
  }
  if (cmd == "errors") {
    std::string api;
    in >> api;
    int16_t key = api_key(api);
    if (key < 0) return "error: unknown API '" + api + "'";
    std::vector<rd_kafka_resp_err_t> errors;
    for (std::string e; in >> e;) {
      rd_kafka_resp_err_t code = flowcast::testing::kafka_error_from_name(e);
      if (code == RD_KAFKA_RESP_ERR_UNKNOWN) return "error: unknown Kafka error '" + e + "'";
      errors.push_back(code);
    }
    if (errors.empty()) return "error: usage: errors API ERROR [ERROR...]";
    mock.push_request_errors(key, errors);
    return "ok";
  }
  if (cmd == "rtt") {
    int broker = -1, ms = -1;
    if (!(in >> broker >> ms)) return "error: usage: rtt BROKER MS";
    return reply(mock.set_rtt(broker, ms));
  }
  return "error: unknown command '" + cmd + "'";
}

}  // namespace

int main(int argc, char** argv) {
  std::string bootstrap_file;
  int brokers = 3;
  long max_seconds = 900;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--bootstrap-file" && i + 1 < argc)
      bootstrap_file = argv[++i];
    else if (a == "--brokers" && i + 1 < argc)
      brokers = std::atoi(argv[++i]);
    else if (a == "--max-seconds" && i + 1 < argc)
      max_seconds = std::atol(argv[++i]);
    else {
      std::fprintf(stderr,
                   "usage: flowcast_kafka_mock --bootstrap-file PATH [--brokers N] "
                   "[--max-seconds S]\n");
      return 2;
    }
  }
  if (bootstrap_file.empty() || brokers < 1) {
    std::fprintf(stderr, "flowcast_kafka_mock: --bootstrap-file is required\n");
    return 2;
  }
  auto mock = KafkaMockCluster::start(brokers);
  if (!mock.ok()) {
    std::fprintf(stderr, "flowcast_kafka_mock: %s\n", mock.status().to_string().c_str());
    return 1;
  }
  {
    std::string tmp = bootstrap_file + ".tmp";
    std::ofstream(tmp) << (*mock)->bootstrap() << "\n";
    std::filesystem::rename(tmp, bootstrap_file);
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(max_seconds);
  std::string pending;
  bool quit = false;
  while (!quit) {
    if (std::chrono::steady_clock::now() > deadline) {
      std::fprintf(stderr, "flowcast_kafka_mock: --max-seconds reached, stopping\n");
      break;
    }
    pollfd pfd{0, POLLIN, 0};
    int r = ::poll(&pfd, 1, 1000);
    if (r < 0) break;
    if (r == 0) continue;
    char buf[4096];
    ssize_t n = ::read(0, buf, sizeof buf);
    if (n <= 0) break;  // end of input: whoever started us is gone
    pending.append(buf, size_t(n));
    size_t nl;
    while (!quit && (nl = pending.find('\n')) != std::string::npos) {
      std::string line = pending.substr(0, nl);
      pending.erase(0, nl + 1);
      std::string answer = run(**mock, line, quit);
      std::fprintf(stdout, "%s\n", answer.c_str());
      std::fflush(stdout);
    }
  }
  return 0;
}
