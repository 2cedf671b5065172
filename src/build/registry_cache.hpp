// The build cache shared through a registry (private to src/build): `--cache-to
// type=registry,ref=R` stores the state after every step of the build (its config and
// layers) under its cache key in one OCI artifact at R — a manifest whose config blob maps
// each key to its state and whose layers are every layer those states name; `--cache-from`
// reads that map, and a step whose key is in it becomes a cache hit once the layers the
// store lacks are pulled. No cairn server: the registry holds ordinary blobs.
#pragma once

#include <map>
#include <optional>
#include <string>

#include "cairn/build/transfer.hpp"
#include "state.hpp"

namespace cairn::build {

inline constexpr std::string_view kCacheConfigType = "application/vnd.cairn.build-cache.config.v1+json";

class RegistryCache {
 public:
  RegistryCache(store::Store& store, const RegistrySettings& settings, const std::string& ref,
                ProgressMode progress);
  ~RegistryCache();

  // --cache-from: reads the map at the reference. A reference that does not exist yet is a
  // warning (the first build that exports it creates it); other failures are errors.
  void import_index();
  // The state stored for `key`, its layers pulled into the store; nullopt when the map
  // lacks the key.
  std::optional<ImageState> lookup(const std::string& key);

  // --cache-to: pushes the states (and the layers they name) as the artifact at the
  // reference, merged with nothing (the map holds exactly this build's steps).
  void export_steps(const std::map<std::string, ImageState>& steps);

  const store::Reference& reference() const { return ref_; }

 private:
  store::Store& store_;
  std::unique_ptr<registry::Session> session_;
  store::Reference ref_;
  ProgressMode progress_;
  std::map<std::string, nlohmann::json> entries_;  // key → state JSON
};

}  // namespace cairn::build
