#include "bus/local_log.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <system_error>
#include <vector>

#include "bus/local_file.h"
#include "bus/local_format.h"
#include "core/log.h"

namespace flowcast::bus {
namespace {

constexpr const char* kTopicMetaName = "topic.meta";

struct Registry {
  std::mutex mu;
  std::map<std::string, std::weak_ptr<LocalLog>> logs;
};
Registry& registry() {
  static Registry* r = new Registry();  // never destroyed: LocalLogs may outlive static teardown
  return *r;
}

Status mkdirs(const std::filesystem::path& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return Status::io_error("create " + dir.string() + ": " + ec.message());
  return Status();
}

Result<int32_t> parse_topic_meta(const std::string& text, const std::string& where) {
  // Lines of "key value"; only "partitions" matters today.
  size_t pos = 0;
  while (pos < text.size()) {
    size_t eol = text.find('\n', pos);
    if (eol == std::string::npos) eol = text.size();
    std::string_view line(text.data() + pos, eol - pos);
    constexpr std::string_view kKey = "partitions ";
    if (line.substr(0, kKey.size()) == kKey) {
      int32_t n = 0;
      auto digits = line.substr(kKey.size());
      auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), n);
      if (ec == std::errc() && end == digits.data() + digits.size() && n > 0) return n;
      break;
    }
    pos = eol + 1;
  }
  return Status::corruption(where + ": no valid 'partitions' line");
}

}  // namespace

LocalLog::LocalLog(std::filesystem::path root, const LocalBusOptions& options)
    : root_(std::move(root)),
      name_("local:" + root_.string()),
      options_(options),
      pid_(::getpid()) {}

Result<std::shared_ptr<LocalLog>> LocalLog::open(const std::filesystem::path& dir,
                                                 const LocalBusOptions& options) {
  FC_RETURN_IF_ERROR(mkdirs(dir / "topics"));
  FC_RETURN_IF_ERROR(mkdirs(dir / "groups"));
  std::error_code ec;
  std::filesystem::path root = std::filesystem::canonical(dir, ec);
  if (ec) return Status::io_error("resolve " + dir.string() + ": " + ec.message());

  Registry& reg = registry();
  std::lock_guard lock(reg.mu);
  auto& entry = reg.logs[root.string()];
  if (auto existing = entry.lock(); existing && existing->pid_ == ::getpid()) return existing;
  std::shared_ptr<LocalLog> log(new LocalLog(root, options));
  auto wake = LocalWake::open(root / "wake");
  if (wake.ok())
    log->wake_ = std::move(*wake);
  else  // consumers then find other processes' records by re-reading on a timer
    logger("bus.local")
        ->warn("{}; consumers will poll for other processes' records", wake.status().to_string());
  entry = log;
  return log;
}

LocalLog::~LocalLog() {
  {
    std::lock_guard lock(flush_mu_);
    stopping_ = true;
  }
  flush_cv_.notify_all();
  if (flusher_.joinable()) flusher_.join();
  // Writers sync (per the policy) and release their locks as slots_ is destroyed.
}

std::filesystem::path LocalLog::partition_dir(const std::string& topic, int32_t partition) const {
  return root_ / "topics" / topic / std::to_string(partition);
}

Result<int32_t> LocalLog::read_topic_meta(const std::string& topic) {
  auto path = root_ / "topics" / topic / kTopicMetaName;
  auto text = read_small_file(path);
  if (!text.ok()) {
    if (text.status().code() == StatusCode::kNotFound) {
      return Status::not_found("topic " + topic + " does not exist in " + name_);
    }
    return text.status();
  }
  return parse_topic_meta(*text, path.string());
}

Result<int32_t> LocalLog::partition_count(const std::string& topic) {
  if (!valid_topic_name(topic)) {
    return Status::invalid("bad topic name '" + topic +
                           "' (1-249 characters of letters, digits, '.', '_', '-')");
  }
  {
    std::lock_guard lock(mu_);
    if (auto it = topics_.find(topic); it != topics_.end()) return it->second;
  }
  FC_ASSIGN_OR_RETURN(int32_t n, read_topic_meta(topic));
  std::lock_guard lock(mu_);
  topics_[topic] = n;
  return n;
}

Result<int32_t> LocalLog::ensure_topic(const std::string& topic, int32_t partitions) {
  auto existing = partition_count(topic);
  if (existing.ok() || existing.status().code() != StatusCode::kNotFound) return existing;
  if (partitions < 0) return Status::invalid("topic " + topic + ": negative partition count");
  if (partitions == 0) partitions = options_.default_partitions;

  const bool durable = options_.fsync != LocalBusOptions::Fsync::kNever;
  const auto topics_dir = root_ / "topics";
  uint64_t counter;
  {
    std::lock_guard lock(mu_);
    counter = ++tmp_counter_;
  }
  // '~' cannot start a topic name, so the directory built aside never collides with a topic.
  const auto tmp = topics_dir / ("~tmp-" + std::to_string(pid_) + "-" + std::to_string(counter));
  std::error_code ec;
  std::filesystem::remove_all(tmp, ec);
  FC_RETURN_IF_ERROR(mkdirs(tmp));
  {
    std::string meta = "format 1\npartitions " + std::to_string(partitions) + "\n";
    FC_ASSIGN_OR_RETURN(LocalFile f,
                        LocalFile::open(tmp / kTopicMetaName, O_WRONLY | O_CREAT | O_TRUNC));
    FC_RETURN_IF_ERROR(f.write_all(meta.data(), meta.size()));
    if (durable) FC_RETURN_IF_ERROR(f.sync());
  }
  for (int32_t p = 0; p < partitions; ++p) FC_RETURN_IF_ERROR(mkdirs(tmp / std::to_string(p)));
  if (durable) FC_RETURN_IF_ERROR(sync_directory(tmp));

  const auto final_dir = topics_dir / topic;
  if (::rename(tmp.c_str(), final_dir.c_str()) != 0) {
    int err = errno;
    std::filesystem::remove_all(tmp, ec);
    if (err != EEXIST && err != ENOTEMPTY) {
      return Status::io_error("rename " + tmp.string() + " to " + final_dir.string() + ": " +
                              std::strerror(err));
    }
    // Another process (or thread) created it first: its count wins.
    return partition_count(topic);
  }
  if (durable) FC_RETURN_IF_ERROR(sync_directory(topics_dir));
  logger("bus.local")->info("created topic {} with {} partitions in {}", topic, partitions, name_);
  std::lock_guard lock(mu_);
  topics_[topic] = partitions;
  return partitions;
}

LocalLog::PartitionSlot* LocalLog::slot(const std::string& topic, int32_t partition) {
  std::lock_guard lock(mu_);
  auto& s = slots_[{topic, partition}];
  if (!s) s = std::make_unique<PartitionSlot>();
  return s.get();
}

Result<LocalPartitionWriter*> LocalLog::writer(const std::string& topic, int32_t partition) {
  PartitionSlot* s = slot(topic, partition);
  if (auto* w = s->ready.load(std::memory_order_acquire)) return w;
  {
    std::lock_guard lock(s->mu);
    if (!s->writer) {
      FC_ASSIGN_OR_RETURN(
          s->writer, LocalPartitionWriter::open(partition_dir(topic, partition), topic, partition,
                                                name_, options_, &s->end));
      s->ready.store(s->writer.get(), std::memory_order_release);
    }
  }
  // Started outside s->mu: the flusher takes mu_ and then reads slots.
  if (options_.fsync == LocalBusOptions::Fsync::kInterval) {
    std::lock_guard lock(mu_);
    if (!flusher_.joinable()) flusher_ = std::thread([this] { flusher_loop(); });
  }
  return s->ready.load(std::memory_order_acquire);
}

void LocalLog::notify_written() {
  if (wake_) {
    wake_->notify();
    return;
  }
  {
    std::lock_guard lock(notify_mu_);
    write_seq_.fetch_add(1, std::memory_order_acq_rel);
  }
  notify_cv_.notify_all();
}

void LocalLog::wait_for_write(uint64_t seen, std::chrono::steady_clock::time_point until) {
  if (wake_) {
    wake_->wait(static_cast<uint32_t>(seen), until);
    return;
  }
  std::unique_lock lock(notify_mu_);
  notify_cv_.wait_until(lock, until, [&] { return write_seq() != seen; });
}

void LocalLog::flusher_loop() {
  const auto interval = std::chrono::milliseconds(options_.fsync_interval_ms);
  std::unique_lock lock(flush_mu_);
  while (!stopping_) {
    flush_cv_.wait_for(lock, interval, [&] { return stopping_; });
    if (stopping_) break;
    lock.unlock();
    std::vector<LocalPartitionWriter*> writers;
    {
      std::lock_guard l(mu_);
      for (auto& [key, s] : slots_) {
        if (auto* w = s->ready.load(std::memory_order_acquire)) writers.push_back(w);
      }
    }
    // Writers are only destroyed with the LocalLog, after this thread has stopped.
    for (auto* w : writers) {
      Status st = w->sync();
      if (!st.ok()) logger("bus.local")->error("periodic fsync failed: {}", st.to_string());
    }
    lock.lock();
  }
}

}  // namespace flowcast::bus
