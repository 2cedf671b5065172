// Shared by import, load and save (private to src/store).
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "cairn/store/layer_tar.hpp"
#include "cairn/store/store.hpp"

namespace cairn::store {

struct LayerBlob {
  std::string digest;
  std::int64_t size = 0;
  std::string media_type;
  std::string diff_id;
};

std::string host_architecture();
std::string layer_media_type(Compression c);
std::int64_t now_or_epoch(const std::optional<std::int64_t>& source_date_epoch);

// Refuses, before any work, a name that is not a valid reference ("OPERATION: image name
// "NAME": why").
void check_names(const std::vector<std::string>& names, std::string_view operation);

// Stores config and an OCI manifest for the layers (already in the store) and names it.
// `config_bytes` is stored as is, so a loaded image keeps the ID docker gave it.
ImageEntry commit_image(Store& store, const std::string& config_bytes,
                        const std::vector<LayerBlob>& layers, const std::vector<std::string>& names);

// The layer media type of a stored blob, from its first bytes.
std::string sniff_layer_media_type(const Store& store, const std::string& digest);

}  // namespace cairn::store
