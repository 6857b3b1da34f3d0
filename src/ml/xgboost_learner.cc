#include "ml/xgboost_learner.h"

#include <xgboost/c_api.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <thread>
#include <nlohmann/json.hpp>

#include "ml/ridge_learner.h"

namespace flowcast::ml {
namespace {

// XGBGetLastError() as one line: without the "[12:00:00] ../src/file.cc:26: " prefixes and the
// native stack trace, with "Objective candidate: x" lines folded into one list.
std::string xgb_last_error() {
  std::string_view all = XGBGetLastError();
  if (size_t trace = all.find("Stack trace:"); trace != std::string_view::npos)
    all = all.substr(0, trace);
  std::string out, candidates;
  size_t pos = 0;
  while (pos < all.size()) {
    size_t end = all.find('\n', pos);
    if (end == std::string_view::npos) end = all.size();
    std::string_view line = all.substr(pos, end - pos);
    pos = end + 1;
    if (!line.empty() && line.front() == '[') {
      // "[hh:mm:ss] path:line: message"
      if (size_t close = line.find("] "); close != std::string_view::npos) {
        std::string_view rest = line.substr(close + 2);
        size_t colon = rest.find(": ");
        if (colon != std::string_view::npos && rest.substr(0, colon).find(' ') == std::string_view::npos)
          line = rest.substr(colon + 2);
      }
    }
    while (!line.empty() && (line.front() == ' ' || line.front() == '\t')) line.remove_prefix(1);
    while (!line.empty() && (line.back() == ' ' || line.back() == '\r')) line.remove_suffix(1);
    if (line.empty()) continue;
    constexpr std::string_view kCandidate = "Objective candidate: ";
    if (line.substr(0, kCandidate.size()) == kCandidate) {
      candidates += (candidates.empty() ? "" : ", ") + std::string(line.substr(kCandidate.size()));
      continue;
    }
    out += (out.empty() ? "" : "; ") + std::string(line);
  }
  if (!candidates.empty()) out += " (expected one of: " + candidates + ")";
  return out.empty() ? "unknown error" : out;
}

Status xgb_error(const char* what) {
  return Status::internal(std::string("xgboost ") + what + ": " + xgb_last_error());
}

// RAII owner of a DMatrixHandle.
class DMatrix {
 public:
  DMatrix() = default;
  ~DMatrix() {
    if (h_) XGDMatrixFree(h_);
  }
  DMatrix(const DMatrix&) = delete;
  DMatrix& operator=(const DMatrix&) = delete;
  Status create(Matrix m, const float* labels) {
    if (XGDMatrixCreateFromMat(m.data, m.rows, m.cols, std::nanf(""), &h_) != 0)
      return xgb_error("creating a matrix");
    if (labels && XGDMatrixSetFloatInfo(h_, "label", labels, m.rows) != 0)
      return xgb_error("setting labels");
    return Status();
  }
  DMatrixHandle get() const { return h_; }

 private:
  DMatrixHandle h_ = nullptr;
};

const std::map<std::string, std::string> kDefaults = {
    {"objective", "reg:squarederror"}, {"tree_method", "hist"}, {"max_depth", "8"},
    {"eta", "0.1"}, {"subsample", "0.8"}, {"colsample_bytree", "0.8"}, {"min_child_weight", "5"},
    {"verbosity", "0"}};

// flowcast's own parameters: rounds and early_stopping_rounds, whole numbers.
Status read_rounds(const std::map<std::string, std::string>& params, int& rounds, int& patience) {
  for (const auto& [k, v] : params) {
    if (k != "rounds" && k != "early_stopping_rounds") continue;
    size_t used = 0;
    int n = 0;
    try {
      n = std::stoi(v, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used == 0 || used != v.size())
      return Status::invalid("model.params." + k + ": expected a whole number, got '" + v + "'");
    (k == "rounds" ? rounds : patience) = n;
  }
  if (rounds < 1) return Status::invalid("model.params.rounds must be at least 1");
  return Status();
}

}  // namespace

struct XgboostLearner::Booster {
  BoosterHandle h = nullptr;
  ~Booster() {
    if (h) XGBoosterFree(h);
  }
};

XgboostLearner::XgboostLearner(std::map<std::string, std::string> params)
    : params_(std::move(params)) {}
XgboostLearner::~XgboostLearner() = default;

Status XgboostLearner::fit(Matrix train, const float* y, Matrix validation, const float* y_val) {
  if (train.rows == 0) return Status::invalid("no training rows");
  int rounds = 300, patience = 30;
  FC_RETURN_IF_ERROR(read_rounds(params_, rounds, patience));
  std::map<std::string, std::string> params = kDefaults;
  for (const auto& [k, v] : params_)
    if (k != "rounds" && k != "early_stopping_rounds") params[k] = v;
  // Training shares the machine with the stages that score the stream: leave them a core.
  if (!params.count("nthread")) {
    unsigned cores = std::thread::hardware_concurrency();
    params["nthread"] = std::to_string(cores > 1 ? cores - 1 : 1);
  }

  DMatrix dtrain, dval;
  FC_RETURN_IF_ERROR(dtrain.create(train, y));
  bool has_val = validation.rows > 0;
  if (has_val) FC_RETURN_IF_ERROR(dval.create(validation, y_val));

  auto booster = std::make_unique<Booster>();
  DMatrixHandle cache[2] = {dtrain.get(), dval.get()};
  if (XGBoosterCreate(cache, has_val ? 2 : 1, &booster->h) != 0) return xgb_error("create");
  for (const auto& [k, v] : params)
    if (XGBoosterSetParam(booster->h, k.c_str(), v.c_str()) != 0)
      return Status::invalid("model.params." + k + ": " + xgb_last_error());

  double best = std::numeric_limits<double>::infinity();
  int best_round = rounds - 1;
  const char* names[1] = {"val"};
  DMatrixHandle evals[1] = {dval.get()};
  for (int it = 0; it < rounds; ++it) {
    if (XGBoosterUpdateOneIter(booster->h, it, dtrain.get()) != 0) {
      // XGBoost reads its parameters at the first round: a failure there is a bad parameter.
      if (it == 0) return Status::invalid("model.params: " + xgb_last_error());
      return xgb_error("training");
    }
    if (!has_val) continue;
    const char* out = nullptr;
    if (XGBoosterEvalOneIter(booster->h, it, evals, names, 1, &out) != 0) return xgb_error("eval");
    // The evaluation string looks like "[12]\tval-rmse:0.41234".
    const char* p = std::strstr(out, "val-rmse:");
    double rmse = p ? std::strtod(p + 9, nullptr) : NAN;
    if (rmse < best) {
      best = rmse;
      best_round = it;
    } else if (it - best_round >= patience) {
      break;
    }
  }
  if (has_val) {
    BoosterHandle sliced = nullptr;
    if (XGBoosterSlice(booster->h, 0, best_round + 1, 1, &sliced) != 0) return xgb_error("slice");
    booster = std::make_unique<Booster>();
    booster->h = sliced;
  }
  rounds_used_ = best_round + 1;
  best_validation_rmse_ = has_val ? best : NAN;
  XGBoosterSetParam(booster->h, "nthread", "1");
  booster_ = std::move(booster);
  unloaded_.clear();
  load_status_ = Status();
  cols_ = train.cols;
  return Status();
}

Status XgboostLearner::predict(Matrix x, float* out) const {
  FC_RETURN_IF_ERROR(ready());
  if (x.rows == 0) return Status();
  if (x.cols != cols_)
    return Status::invalid("expected " + std::to_string(cols_) + " features, got " +
                           std::to_string(x.cols));
  char array[160];
  std::snprintf(array, sizeof array,
                R"({"data":[%llu,true],"shape":[%zu,%zu],"typestr":"<f4","version":3})",
                static_cast<unsigned long long>(reinterpret_cast<uintptr_t>(x.data)), x.rows, x.cols);
  static const char* kConfig =
      R"({"type":0,"training":false,"iteration_begin":0,"iteration_end":0,"strict_shape":false,"cache_id":0,"missing":NaN})";
  const bst_ulong* shape = nullptr;
  bst_ulong dim = 0;
  const float* result = nullptr;
  if (XGBoosterPredictFromDense(booster_->h, array, kConfig, nullptr, &shape, &dim, &result) != 0)
    return xgb_error("predict");
  std::copy(result, result + x.rows, out);
  return Status();
}

Result<std::string> XgboostLearner::save() const {
  if (!unloaded_.empty()) return unloaded_;
  if (!booster_) return Status::internal("xgboost learner used before fit or load");
  bst_ulong len = 0;
  const char* buf = nullptr;
  if (XGBoosterSaveModelToBuffer(booster_->h, R"({"format":"json"})", &len, &buf) != 0)
    return xgb_error("save");
  return std::string(buf, len);
}

void XgboostLearner::load_when_used(std::string bytes, size_t cols) {
  booster_.reset();
  unloaded_ = std::move(bytes);
  load_status_ = Status();
  cols_ = cols;
}

Status XgboostLearner::ready() const {
  if (booster_) return Status();
  if (!load_status_.ok()) return load_status_;
  if (unloaded_.empty()) return Status::internal("xgboost learner used before fit or load");
  auto booster = open_booster(unloaded_, cols_);
  if (!booster.ok()) return load_status_ = booster.status();
  booster_ = std::move(booster).value();
  unloaded_.clear();
  return Status();
}

Status XgboostLearner::load(const std::string& bytes, size_t cols) {
  FC_ASSIGN_OR_RETURN(auto booster, open_booster(bytes, cols));
  int rounds = 0;
  XGBoosterBoostedRounds(booster->h, &rounds);
  rounds_used_ = rounds;
  booster_ = std::move(booster);
  unloaded_.clear();
  load_status_ = Status();
  cols_ = cols;
  return Status();
}

Result<std::unique_ptr<XgboostLearner::Booster>> XgboostLearner::open_booster(
    const std::string& bytes, size_t cols) {
  auto booster = std::make_unique<Booster>();
  if (XGBoosterCreate(nullptr, 0, &booster->h) != 0) return xgb_error("create");
  if (XGBoosterLoadModelFromBuffer(booster->h, bytes.data(), bytes.size()) != 0)
    return Status::invalid("the XGBoost model does not load: " + xgb_last_error());
  bst_ulong features = 0;
  if (XGBoosterGetNumFeature(booster->h, &features) != 0) return xgb_error("num_feature");
  if (features != cols)
    return Status::invalid("the XGBoost model expects " + std::to_string(features) +
                           " features, the feature pipeline makes " + std::to_string(cols));
  XGBoosterSetParam(booster->h, "nthread", "1");
  return booster;
}

std::string XgboostLearner::summary_json() const {
  nlohmann::json j = {{"rounds", rounds_used_}};
  if (!std::isnan(best_validation_rmse_)) j["best_validation_rmse"] = best_validation_rmse_;
  return j.dump();
}

Result<std::unique_ptr<Learner>> make_learner(const std::string& kind,
                                              const std::map<std::string, std::string>& params) {
  if (kind == "xgboost") return std::unique_ptr<Learner>(std::make_unique<XgboostLearner>(params));
  if (kind == "ridge") return std::unique_ptr<Learner>(std::make_unique<RidgeLearner>(params));
  return Status::invalid("unknown learner '" + kind + "' (expected xgboost or ridge)");
}

Status check_learner(const std::string& kind, const std::map<std::string, std::string>& params) {
  std::map<std::string, std::string> one_round = params;
  if (kind == "xgboost") {
    int rounds = 300, patience = 30;
    FC_RETURN_IF_ERROR(read_rounds(params, rounds, patience));
    one_round["rounds"] = "1";
    one_round["nthread"] = "1";
  }
  FC_ASSIGN_OR_RETURN(auto learner, make_learner(kind, one_round));
  // Labels in (0, 1) suit every regression objective (logistic and gamma included).
  constexpr size_t kRows = 32, kCols = 2;
  float x[kRows * kCols], y[kRows];
  for (size_t i = 0; i < kRows; ++i) {
    x[i * kCols] = float(i % 7);
    x[i * kCols + 1] = float(i % 5);
    y[i] = 0.25f + 0.5f * float(i) / float(kRows);
  }
  Status s = learner->fit(Matrix{x, kRows, kCols}, y, Matrix{}, nullptr);
  if (!s.ok() && s.code() != StatusCode::kInvalidArgument)
    return Status::invalid("model.params: " + s.message());
  return s;
}

Result<std::unique_ptr<Learner>> load_learner(const std::string& kind, const std::string& bytes,
                                              size_t cols, LoadMode mode) {
  if (kind == "xgboost") {
    auto l = std::make_unique<XgboostLearner>(std::map<std::string, std::string>{});
    if (mode == LoadMode::kWhenUsed)
      l->load_when_used(bytes, cols);
    else
      FC_RETURN_IF_ERROR(l->load(bytes, cols));
    return std::unique_ptr<Learner>(std::move(l));
  }
  if (kind == "ridge") {
    auto l = std::make_unique<RidgeLearner>(std::map<std::string, std::string>{});
    FC_RETURN_IF_ERROR(l->load(bytes, cols));
    return std::unique_ptr<Learner>(std::move(l));
  }
  return Status::invalid("unknown learner '" + kind + "' in the model");
}

}  // namespace flowcast::ml
