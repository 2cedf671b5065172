// An overlay's upper directory committed as a new layer on top of its base image.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cairn/base/error.hpp"
#include "cairn/base/sys.hpp"
#include "cairn/base/timer.hpp"
#include "cairn/store/image.hpp"
#include "image_internal.hpp"

namespace cairn::store {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

void copy_data(const fs::path& from, const fs::path& to) {
  const UniqueFd in = sys::open(from.string(), O_RDONLY);
  const UniqueFd out = sys::open(to.string(), O_WRONLY | O_TRUNC);
  for (;;) {
    const ssize_t n = ::copy_file_range(in.get(), nullptr, out.get(), nullptr, 1 << 30, 0);
    if (n == 0) return;
    if (n < 0) throw_errno("copy data of", from.string(), errno);
  }
}

// A metadata-only copy-up has an empty placeholder in the upper; the data is the file at
// the same path in the top-most lower layer that has it.
void fill_metacopies(const layer::LayerDir& upper, const std::vector<layer::LayerDir>& lowers) {
  layer::Record record = layer::Record::load(upper.record());
  bool changed = false;
  for (const auto& [path, meta] : record.entries()) {
    if (!meta.metacopy) continue;
    bool filled = false;
    for (const layer::LayerDir& lower : lowers) {
      struct stat st {};
      const fs::path source = lower.root() / path;
      if (::lstat(source.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
      copy_data(source, upper.root() / path);
      filled = true;
      break;
    }
    if (!filled) throw Error("commit: no lower layer has the data of /" + path);
    record[path].metacopy = false;
    changed = true;
  }
  if (changed) record.save(upper.record());
}

}  // namespace

LayerBlob add_layer(Store& store, const layer::LayerDir& dir,
                    const std::vector<layer::LayerDir>& lowers, const PackOptions& options) {
  {
    ScopedTimer timer("commit: fill metadata-only copies");
    with_context("commit: filling metadata-only copies", [&] { fill_metacopies(dir, lowers); });
  }
  std::error_code ec;
  fs::remove_all(dir.path / "work", ec);
  TempDir temp = store.make_temp("commit");
  const fs::path blob = temp.path() / "blob";
  PackResult packed;
  {
    ScopedTimer timer("commit: pack (tar, compress, hash)");
    const UniqueFd out = sys::open(blob.string(), O_WRONLY | O_CREAT | O_EXCL, 0644);
    packed = pack_layer(dir, out.get(), options);
  }
  ScopedTimer timer("commit: adopt blob and layer");
  store.adopt_blob(blob, packed.digest);
  if (!store.has_layer(packed.diff_id)) store.adopt_layer(dir, packed.diff_id);
  return {packed.digest, static_cast<std::int64_t>(packed.size),
          layer_media_type(options.compression), packed.diff_id};
}

std::vector<LayerBlob> manifest_layers(const json& manifest, const json& config) {
  std::vector<LayerBlob> layers;
  const json& diff_ids = config.at("rootfs").at("diff_ids");
  std::size_t index = 0;
  for (const auto& l : manifest.at("layers")) {
    std::string type = l.at("mediaType").get<std::string>();
    if (type == kDockerLayerGzip) type = kOciLayerGzip;
    const std::string diff_id =
        index < diff_ids.size() ? diff_ids[index].get<std::string>() : std::string();
    layers.push_back({l.at("digest").get<std::string>(), l.at("size").get<std::int64_t>(), type,
                      diff_id});
    ++index;
  }
  return layers;
}

ImageEntry commit_layer(Store& store, const ImageEntry& base, const layer::LayerDir& upper,
                        const CommitOptions& options) {
  check_names(options.names, "commit");
  json config = read_config(store, base);
  std::vector<LayerBlob> layers = manifest_layers(read_manifest(store, base), config);
  const LayerBlob added =
      add_layer(store, upper, layer_dirs(store, config, base.manifest_digest),
                {Compression::gzip, -1, options.source_date_epoch});
  const std::string created = rfc3339(now_or_epoch(options.source_date_epoch));
  config["created"] = created;
  config["rootfs"]["diff_ids"].push_back(added.diff_id);
  json history = {{"created", created}, {"created_by", options.created_by}};
  if (!options.comment.empty()) history["comment"] = options.comment;
  if (!config.contains("history")) config["history"] = json::array();
  config["history"].push_back(history);
  layers.push_back(added);
  return store_image(store, config.dump(), layers, options.names);
}

}  // namespace cairn::store
