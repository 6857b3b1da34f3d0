#include "bus/local_group.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstring>
#include <sstream>
#include <system_error>

#include "bus/local_format.h"

namespace flowcast::bus {
namespace {
constexpr std::string_view kOffsetsHeader = "flowcast local offsets 1";
}  // namespace

Result<LocalGroup> LocalGroup::join(const std::filesystem::path& root, const std::string& bus_name,
                                    const std::string& group, bool durable) {
  if (group.empty()) return Status::invalid("empty consumer group name");
  LocalGroup g;
  g.group_ = group;
  g.durable_ = durable;
  g.dir_ = root / "groups" / escape_group_name(group);
  std::error_code ec;
  std::filesystem::create_directories(g.dir_, ec);
  if (ec) return Status::io_error("create " + g.dir_.string() + ": " + ec.message());

  FC_ASSIGN_OR_RETURN(g.lock_, LocalFile::open(g.dir_ / kLockFileName, O_RDWR | O_CREAT));
  Status locked = g.lock_.try_lock_exclusive();
  if (locked.code() == StatusCode::kBusy) {
    char buf[32] = {};
    auto n = g.lock_.pread(buf, sizeof buf - 1, 0);
    std::string pid = n.ok() && *n > 0 ? std::string(buf, std::strcspn(buf, "\n")) : "unknown";
    if (pid == std::to_string(::getpid())) pid += ", this process";
    return Status::busy("consumer group '" + group + "' of " + bus_name +
                        " already has a member (pid " + pid +
                        "); a local bus group has one member, which reads every partition. "
                        "Use Kafka (bus: kafka://...) to share partitions between members");
  }
  FC_RETURN_IF_ERROR(locked);
  std::string pid = std::to_string(::getpid()) + "\n";
  FC_RETURN_IF_ERROR(g.lock_.truncate(0));
  FC_RETURN_IF_ERROR(g.lock_.pwrite_all(pid.data(), pid.size(), 0));
  FC_RETURN_IF_ERROR(g.load());
  return g;
}

Status LocalGroup::load() {
  auto path = dir_ / kOffsetsFileName;
  auto text = read_small_file(path);
  if (!text.ok()) {
    if (text.status().code() == StatusCode::kNotFound) return Status();
    return text.status();
  }
  std::istringstream in(*text);
  std::string line;
  if (!std::getline(in, line) || line != kOffsetsHeader) {
    return Status::corruption(path.string() + ": not a flowcast offsets file");
  }
  // "<topic> <partition> <offset>" per line; topic names have no spaces.
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    std::istringstream fields(line);
    TopicPartition tp;
    int64_t offset;
    if (!(fields >> tp.topic >> tp.partition >> offset) || tp.partition < 0 || offset < 0) {
      return Status::corruption(path.string() + ": bad line '" + line + "'");
    }
    offsets_[tp] = offset;
  }
  return Status();
}

std::optional<int64_t> LocalGroup::committed(const TopicPartition& tp) const {
  auto it = offsets_.find(tp);
  if (it == offsets_.end()) return std::nullopt;
  return it->second;
}

Status LocalGroup::commit(const std::vector<PartitionOffset>& offsets) {
  if (offsets.empty()) return Status();
  auto merged = offsets_;
  for (const auto& po : offsets) {
    if (!valid_topic_name(po.tp.topic) || po.tp.partition < 0 || po.offset < 0) {
      return Status::invalid("cannot commit offset " + std::to_string(po.offset) + " of " +
                             po.tp.topic + "/" + std::to_string(po.tp.partition));
    }
    merged[po.tp] = po.offset;
  }
  std::string text(kOffsetsHeader);
  text += '\n';
  for (const auto& [tp, offset] : merged) {
    text += tp.topic + " " + std::to_string(tp.partition) + " " + std::to_string(offset) + "\n";
  }
  FC_RETURN_IF_ERROR(write_file_atomically(dir_ / kOffsetsFileName, text, durable_)
                         .with_context("commit of group '" + group_ + "'"));
  offsets_ = std::move(merged);
  return Status();
}

}  // namespace flowcast::bus
