#include "ml/model.h"

#include <cmath>
#include <cstring>

#include "core/config_error.h"

namespace flowcast::ml {
namespace {
constexpr char kMagic[8] = {'F', 'C', 'M', 'O', 'D', 'E', 'L', '1'};

std::string hex64(uint64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
  return buf;
}
}  // namespace

Model::Model(DatasetSpec spec, FeaturePipeline pipeline, std::unique_ptr<Learner> learner,
             nlohmann::json card)
    : spec_(std::move(spec)),
      pipeline_(std::move(pipeline)),
      learner_(std::move(learner)),
      card_(std::move(card)) {
  learner_kind_ = learner_->kind();
  log1p_target_ = spec_.model().target_transform == "log1p";
  if (learner_kind_ == "xgboost") {
    // Compiled from the same bytes the artifact stores, so a loaded model scores as the trained
    // one did. A model that does not compile is still served, by XGBoost.
    Result<std::string> saved = learner_->save();
    if (!saved.ok()) {
      forest_status_ = saved.status();
      return;
    }
    Result<CompiledForest> forest = CompiledForest::from_xgboost_json(*saved);
    if (!forest.ok()) {
      forest_status_ = forest.status();
    } else if (forest->num_features() != pipeline_.width()) {
      forest_status_ = Status::invalid(
          "the XGBoost model expects " + std::to_string(forest->num_features()) +
          " features, the feature pipeline makes " + std::to_string(pipeline_.width()));
    } else {
      forest_ = std::move(forest.value());
    }
  }
}

const std::string& Model::learner_kind() const { return learner_kind_; }

std::string Model::scorer_description() const {
  if (forest_) {
    std::string out = std::string("compiled forest, ") + forest_->kernel() + " kernel";
    if (!forest_->kernel_note().empty()) out += " (" + forest_->kernel_note() + ")";
    return out;
  }
  if (!forest_status_.ok())
    return learner_kind_ + " (the compiled forest cannot score it: " + forest_status_.message() +
           ")";
  return learner_kind_;
}

Result<std::string> Model::serialize() const {
  nlohmann::json header = card_;
  header["format"] = 1;
  header["dataset"] = spec_.name();
  header["schema_fingerprint"] = hex64(spec_.schema_fingerprint());
  header["dataset_yaml"] = spec_.source_yaml();
  header["pipeline"] = pipeline_.to_json();
  header["learner"] = learner_kind_;
  header["target_transform"] = spec_.model().target_transform;
  FC_ASSIGN_OR_RETURN(std::string body, learner_->save());
  std::string h = header.dump();
  std::string out(kMagic, sizeof kMagic);
  uint32_t len = static_cast<uint32_t>(h.size());
  char lenbuf[4] = {char(len & 0xFF), char((len >> 8) & 0xFF), char((len >> 16) & 0xFF),
                    char((len >> 24) & 0xFF)};
  out.append(lenbuf, 4);
  out += h;
  out += body;
  return out;
}

Result<std::unique_ptr<Model>> Model::load(std::string_view bytes, const DatasetSpec& serving) {
  if (bytes.size() < 12 || std::memcmp(bytes.data(), kMagic, sizeof kMagic) != 0)
    return Status::invalid("not a flowcast model artifact (bad magic)");
  auto u = [&](size_t i) { return static_cast<uint32_t>(static_cast<unsigned char>(bytes[i])); };
  uint32_t len = u(8) | (u(9) << 8) | (u(10) << 16) | (u(11) << 24);
  if (12 + size_t(len) > bytes.size())
    return Status::invalid("the model artifact is truncated (header runs past the end)");
  nlohmann::json header;
  try {
    header = nlohmann::json::parse(bytes.substr(12, len));
  } catch (const std::exception& e) {
    return Status::invalid(std::string("the model header is not valid JSON: ") + e.what());
  }
  try {
    if (header.at("format").get<int>() != 1)
      return Status::invalid("unsupported model format " + header.at("format").dump());
    std::string fp = header.at("schema_fingerprint").get<std::string>();
    if (fp != hex64(serving.schema_fingerprint()))
      return Status::invalid("the model was trained on a different schema of dataset '" +
                             header.at("dataset").get<std::string>() +
                             "' (field names or types differ)");
    DatasetSpec spec =
        parse_dataset_yaml(serving.name(), header.at("dataset_yaml").get<std::string>());
    FeaturePipeline pipeline = FeaturePipeline::from_json(spec, header.at("pipeline"));
    std::string kind = header.at("learner").get<std::string>();
    // XGBoost loads its copy only if the CompiledForest cannot score the model: loading it and
    // saving it again to compile took more than half of a load.
    FC_ASSIGN_OR_RETURN(auto learner, load_learner(kind, std::string(bytes.substr(12 + len)),
                                                   pipeline.width(), LoadMode::kWhenUsed));
    nlohmann::json card = header;
    for (const char* k : {"dataset_yaml", "pipeline"}) card.erase(k);
    auto model = std::make_unique<Model>(std::move(spec), std::move(pipeline), std::move(learner),
                                         std::move(card));
    if (!model->forest_) FC_RETURN_IF_ERROR(model->learner_->ready());
    return model;
  } catch (const ConfigError& e) {
    return Status::invalid(std::string("the model does not fit the dataset: ") + e.what());
  } catch (const std::exception& e) {
    return Status::invalid(std::string("the model header is incomplete: ") + e.what());
  }
}

Status Model::predict(std::span<const Record* const> rows, double* out) const {
  // Per-thread scratch: one Model is shared by the predict stage and the HTTP server's workers.
  thread_local std::vector<float> features, scores;
  const size_t w = pipeline_.width();
  features.resize(rows.size() * w);
  scores.resize(rows.size());
  for (size_t i = 0; i < rows.size(); ++i) pipeline_.transform(*rows[i], &features[i * w]);
  if (forest_) {
    forest_->predict(features.data(), rows.size(), w, scores.data());
  } else {
    std::lock_guard lock(learner_mu_);
    FC_RETURN_IF_ERROR(learner_->predict(Matrix{features.data(), rows.size(), w}, scores.data()));
  }
  for (size_t i = 0; i < rows.size(); ++i) {
    double s = scores[i];
    out[i] = log1p_target_ ? std::expm1(s) : s;
  }
  return Status();
}

Status Model::predict_one(const Record& row, double& out) const {
  const Record* p = &row;
  return predict(std::span<const Record* const>(&p, 1), &out);
}

}  // namespace flowcast::ml
