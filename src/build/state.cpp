#include "state.hpp"

#include "cairn/sandbox/sandbox.hpp"

namespace cairn::build {
using nlohmann::json;

ImageState scratch_state() {
  ImageState state;
  state.config = {{"architecture", store::host_architecture()},
                  {"os", "linux"},
                  {"config", {{"Env", {"PATH=" + std::string(sandbox::kDefaultPath)}}}},
                  {"rootfs", {{"type", "layers"}, {"diff_ids", json::array()}}},
                  {"history", json::array()}};
  return state;
}

ImageState state_of(const store::Store& store, const store::ImageEntry& image) {
  ImageState state;
  state.config = store::read_config(store, image);
  state.layers = store::manifest_layers(store::read_manifest(store, image), state.config);
  if (!state.config.contains("config") || !state.config["config"].is_object())
    state.config["config"] = json::object();
  if (!state.config.contains("history")) state.config["history"] = json::array();
  return state;
}

std::vector<layer::LayerDir> layer_dirs_of(const store::Store& store, const ImageState& state) {
  std::vector<layer::LayerDir> dirs;
  for (const auto& l : state.layers)
    dirs.insert(dirs.begin(), store.layer_dir(l.diff_id));
  return dirs;
}

void record_step(ImageState& state, const std::string& created_by, const std::string& created,
                 const std::optional<store::LayerBlob>& layer) {
  json entry = {{"created", created}, {"created_by", created_by}, {"comment", "cairn build"}};
  if (layer) {
    state.layers.push_back(*layer);
    state.config["rootfs"]["diff_ids"].push_back(layer->diff_id);
  } else {
    entry["empty_layer"] = true;
  }
  state.config["history"].push_back(std::move(entry));
}

json state_to_json(const ImageState& state) {
  json layers = json::array();
  for (const auto& l : state.layers)
    layers.push_back({{"digest", l.digest},
                      {"size", l.size},
                      {"mediaType", l.media_type},
                      {"diff_id", l.diff_id}});
  return {{"config", state.config}, {"layers", std::move(layers)}};
}

ImageState state_from_json(const json& value) {
  ImageState state{value.at("config"), {}};
  for (const auto& l : value.at("layers"))
    state.layers.push_back({l.at("digest"), l.at("size"), l.at("mediaType"), l.at("diff_id")});
  return state;
}

std::vector<std::pair<std::string, std::string>> env_pairs(const json& container_config) {
  std::vector<std::pair<std::string, std::string>> env;
  for (const auto& e : container_config.value("Env", json::array())) {
    const std::string s = e.get<std::string>();
    const auto eq = s.find('=');
    env.emplace_back(s.substr(0, eq), eq == std::string::npos ? "" : s.substr(eq + 1));
  }
  return env;
}

std::vector<std::pair<std::string, std::string>> env_of(const json& config) {
  return env_pairs(config.value("config", json::object()));
}

std::vector<std::string> shell_of(const json& config) {
  const json c = config.value("config", json::object());
  if (c.contains("Shell") && c["Shell"].is_array() && !c["Shell"].empty())
    return c["Shell"].get<std::vector<std::string>>();
  return {"/bin/sh", "-c"};
}

std::string workdir_of(const json& config) {
  const std::string w = config.value("config", json::object()).value("WorkingDir", "");
  return w.empty() ? "/" : w;
}

}  // namespace cairn::build
