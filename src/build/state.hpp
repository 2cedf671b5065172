// What a build carries from step to step (private to src/build).
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "cairn/store/image.hpp"
#include "cairn/store/store.hpp"

namespace cairn::build {

// An image as the build has it after a step: the full OCI config (with history and
// rootfs.diff_ids) and the manifest's layers, all already in the store.
struct ImageState {
  nlohmann::json config;
  std::vector<store::LayerBlob> layers;
};

// The config of FROM scratch: no layers, docker's default PATH.
ImageState scratch_state();

// An image of the store as a starting point.
ImageState state_of(const store::Store& store, const store::ImageEntry& image);

// The unpacked layer directories of a state, top-most first.
std::vector<layer::LayerDir> layer_dirs_of(const store::Store& store, const ImageState& state);

// Adds one history entry (and, when `layer` is given, the layer and its diff_id).
void record_step(ImageState& state, const std::string& created_by, const std::string& created,
                 const std::optional<store::LayerBlob>& layer);

// A state as JSON ({"config", "layers"}) and back (what the cache and parallel stages
// keep); from_json throws on a malformed value.
nlohmann::json state_to_json(const ImageState& state);
ImageState state_from_json(const nlohmann::json& value);

// Readers of an image config (the whole OCI config: its "config" object holds Env etc.).
// Env as KEY/VALUE pairs; of the inner "config" object alone: env_pairs.
std::vector<std::pair<std::string, std::string>> env_of(const nlohmann::json& config);
std::vector<std::pair<std::string, std::string>> env_pairs(const nlohmann::json& container_config);
// The Shell for shell-form commands (docker's ["/bin/sh", "-c"] when the config has none).
std::vector<std::string> shell_of(const nlohmann::json& config);
// WorkingDir, "/" when unset.
std::string workdir_of(const nlohmann::json& config);

}  // namespace cairn::build
