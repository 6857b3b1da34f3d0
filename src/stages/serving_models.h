// ServingModels: the model each dataset is served with, kept current by a thread of its own and
// shared by every thread that scores (the predict stage's, the HTTP server's workers).
//
// One refresher thread owns a stages::ServingModel per dataset (the same registry logic as the
// predict stage: version 0 is the baseline until a model is active; a newer active version is
// loaded and swapped in; a version that fails to load is refused and the current one stays) and
// publishes an immutable Snapshot through an atomic shared_ptr. A request takes one snapshot and
// scores with it, so a swap never changes the model under a request in flight, and the old model
// is freed when the last request that holds it finishes.
//
// Lifecycle: construct, start() (loads every dataset once, synchronously, then refreshes every
// `poll_ms` on its thread), stop() (joins; also done by the destructor).
// Thread-safety: snapshot() from any thread; refresh_now() from any thread (serialised).
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "core/dataset_spec.h"
#include "ml/model.h"
#include "stages/serving_model.h"
#include "store/store.h"

namespace flowcast::stages {

class ServingModels {
 public:
  struct Snapshot {
    std::shared_ptr<const ml::Model> model;  // nullptr: version 0, the baseline
    int64_t version = 0;
    double baseline = 0;
    // Scores `rows` with the model or the baseline. Safe from any thread.
    Status predict(std::span<const Record* const> rows, double* out) const;
  };

  // `datasets` must outlive this object.
  ServingModels(std::vector<const DatasetSpec*> datasets, store::Store& store, int64_t poll_ms);
  ~ServingModels();
  ServingModels(const ServingModels&) = delete;
  ServingModels& operator=(const ServingModels&) = delete;

  void start();
  void stop();
  // The current snapshot of dataset `i` (index into the constructor's list). Never null after
  // start().
  std::shared_ptr<const Snapshot> snapshot(size_t i) const;
  // Checks the registry now (after a promotion or a training), then publishes.
  void refresh_now();

 private:
  void refresh_all();

  std::vector<const DatasetSpec*> datasets_;
  int64_t poll_ms_;
  std::mutex refresh_mu_;  // guards serving_ (ServingModel is single-threaded)
  std::vector<std::unique_ptr<ServingModel>> serving_;
  std::unique_ptr<std::atomic<std::shared_ptr<const Snapshot>>[]> published_;
  std::mutex wake_mu_;
  std::condition_variable wake_;
  bool stopping_ = false;  // guarded by wake_mu_
  std::thread thread_;
};

}  // namespace flowcast::stages
