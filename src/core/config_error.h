// ConfigError: the one exception flowcast throws on purpose. It means "the configuration is wrong";
// main() turns it into one line naming the file, the key and the problem, and exits with code 2.
#pragma once

#include <stdexcept>
#include <string>

namespace flowcast {

class ConfigError : public std::runtime_error {
 public:
  // `path` is the dotted key ("datasets.taxi.fields.vendor_id.type"), empty for the whole file.
  ConfigError(std::string path, std::string problem)
      : std::runtime_error(path.empty() ? problem : path + ": " + problem),
        path_(std::move(path)),
        problem_(std::move(problem)) {}
  const std::string& path() const { return path_; }
  // What is wrong, without the key in front (what() is "path: problem").
  const std::string& problem() const { return problem_; }

 private:
  std::string path_;
  std::string problem_;
};

}  // namespace flowcast
