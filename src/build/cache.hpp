// The layer cache (private to src/build): a step's key, and the image state after the step
// stored under that key in ROOT/cairn/build-cache/, so that a hit costs one small read.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "state.hpp"

namespace cairn::build {

// Changes whenever what a step produces from the same inputs changes (a fix in how cairn
// builds), so that entries of an older cairn are not taken for this one's.
inline constexpr std::string_view kCacheVersion = "cairn build cache 1";

// sha256 over the parent's key and what decides the step's result: the expanded
// instruction, the build args it uses, and for COPY/ADD the digest of its sources.
std::string step_key(const std::string& parent, const nlohmann::json& inputs);

class StepCache {
 public:
  explicit StepCache(store::Store& store);
  // The state stored for `key`, when every layer it names is still in the store.
  std::optional<ImageState> lookup(const std::string& key) const;
  // Written atomically (no fsync: a cache entry lost in a crash is only a miss).
  void save(const std::string& key, const ImageState& state) const;

 private:
  store::Store& store_;
  std::filesystem::path dir_;
};

}  // namespace cairn::build
