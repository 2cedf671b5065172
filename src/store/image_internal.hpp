// Shared by import, load and save (private to src/store).
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "cairn/store/image.hpp"
#include "cairn/store/layer_tar.hpp"
#include "cairn/store/store.hpp"

namespace cairn::store {

std::string layer_media_type(Compression c);
std::int64_t now_or_epoch(const std::optional<std::int64_t>& source_date_epoch);

// Stores config and an OCI manifest for the layers (already in the store) and names it.
// `config_bytes` is stored as is, so a loaded image keeps the ID docker gave it.
inline ImageEntry commit_image(Store& store, const std::string& config_bytes,
                               const std::vector<LayerBlob>& layers,
                               const std::vector<std::string>& names) {
  return store_image(store, config_bytes, layers, names);
}

// The layer media type of a stored blob, from its first bytes.
std::string sniff_layer_media_type(const Store& store, const std::string& digest);

}  // namespace cairn::store
