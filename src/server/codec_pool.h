// CodecPool: JsonCodecs of one dataset for the HTTP worker threads. A JsonCodec is not
// thread-safe (it owns a simdjson parser and scratch buffers), so each request leases one and
// gives it back when the lease ends; the pool grows to the number of concurrent requests.
//
// Thread-safety: lease() from any thread. The DatasetSpec must outlive the pool, and the pool
// every lease.
#pragma once

#include <memory>
#include <mutex>
#include <vector>

#include "core/json_codec.h"

namespace flowcast::server {

class CodecPool {
 public:
  class Lease {
   public:
    Lease(CodecPool& pool, std::unique_ptr<JsonCodec> codec)
        : pool_(pool), codec_(std::move(codec)) {}
    ~Lease() { pool_.give_back(std::move(codec_)); }
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    JsonCodec& operator*() { return *codec_; }
    JsonCodec* operator->() { return codec_.get(); }

   private:
    CodecPool& pool_;
    std::unique_ptr<JsonCodec> codec_;
  };

  explicit CodecPool(const DatasetSpec& spec) : spec_(spec) {}
  Lease lease() {
    {
      std::lock_guard lock(mu_);
      if (!free_.empty()) {
        auto c = std::move(free_.back());
        free_.pop_back();
        return Lease(*this, std::move(c));
      }
    }
    return Lease(*this, std::make_unique<JsonCodec>(spec_));
  }

 private:
  void give_back(std::unique_ptr<JsonCodec> codec) {
    std::lock_guard lock(mu_);
    free_.push_back(std::move(codec));
  }
  const DatasetSpec& spec_;
  std::mutex mu_;
  std::vector<std::unique_ptr<JsonCodec>> free_;  // guarded by mu_
};

}  // namespace flowcast::server
