// Image configs, manifests, import, inspect.
#include "cairn/store/image.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <ctime>

#include "cairn/base/error.hpp"
#include "cairn/base/sys.hpp"
#include "cairn/store/reference.hpp"
#include "image_internal.hpp"

namespace cairn::store {
namespace fs = std::filesystem;
using nlohmann::json;

std::string rfc3339(std::int64_t unix_seconds) {
  const std::time_t t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  char buffer[32];
  std::strftime(buffer, sizeof buffer, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buffer;
}

std::optional<std::int64_t> parse_rfc3339(std::string_view text) {
  std::tm tm{};
  const std::string s(text);
  const char* end = ::strptime(s.c_str(), "%Y-%m-%dT%H:%M:%S", &tm);
  if (!end) return std::nullopt;
  std::int64_t seconds = ::timegm(&tm);
  if (*end == '.')
    while (*++end >= '0' && *end <= '9') {
    }
  if (*end == '+' || *end == '-') {
    int hours = 0, minutes = 0;
    if (std::sscanf(end + 1, "%d:%d", &hours, &minutes) != 2) return std::nullopt;
    const int offset = (hours * 60 + minutes) * 60;
    seconds += *end == '+' ? -offset : offset;
  } else if (*end != 'Z' && *end != '\0') {
    return std::nullopt;
  }
  return seconds;
}

std::int64_t now_or_epoch(const std::optional<std::int64_t>& source_date_epoch) {
  return source_date_epoch ? *source_date_epoch : static_cast<std::int64_t>(std::time(nullptr));
}

std::string host_architecture() {
  // The same mapping the frontend uses for TARGETARCH; kept small here to avoid a
  // dependency from store on frontend.
#if defined(__x86_64__)
  return "amd64";
#elif defined(__aarch64__)
  return "arm64";
#elif defined(__arm__)
  return "arm";
#elif defined(__powerpc64__)
  return "ppc64le";
#elif defined(__s390x__)
  return "s390x";
#elif defined(__riscv)
  return "riscv64";
#else
  return "unknown";
#endif
}

std::string layer_media_type(Compression c) {
  switch (c) {
    case Compression::gzip: return std::string(kOciLayerGzip);
    case Compression::zstd: return std::string(kOciLayerZstd);
    case Compression::none: break;
  }
  return std::string(kOciLayerTar);
}

std::string sniff_layer_media_type(const Store& store, const std::string& digest) {
  UniqueFd fd = sys::open(store.blob_path(digest).string(), O_RDONLY);
  unsigned char magic[4] = {};
  const ssize_t n = ::read(fd.get(), magic, sizeof magic);
  return layer_media_type(detect_compression(magic, n > 0 ? static_cast<std::size_t>(n) : 0));
}

ImageEntry store_image(Store& store, const std::string& config_bytes,
                       const std::vector<LayerBlob>& layers, const std::vector<std::string>& names) {
  const std::string config_digest = store.put_blob(config_bytes);
  json manifest = {{"schemaVersion", 2},
                   {"mediaType", kOciManifest},
                   {"config",
                    {{"mediaType", kOciConfig},
                     {"digest", config_digest},
                     {"size", config_bytes.size()}}},
                   {"layers", json::array()}};
  for (const auto& l : layers)
    manifest["layers"].push_back({{"mediaType", l.media_type}, {"digest", l.digest}, {"size", l.size}});
  const std::string manifest_bytes = manifest.dump();
  const std::string manifest_digest = store.put_blob(manifest_bytes);
  store.add_image(manifest_digest, static_cast<std::int64_t>(manifest_bytes.size()), names);
  return {manifest_digest, static_cast<std::int64_t>(manifest_bytes.size()), names};
}

void check_names(const std::vector<std::string>& names, std::string_view operation) {
  for (const auto& name : names) {
    try {
      (void)parse_reference(name);
    } catch (const std::invalid_argument& e) {
      throw Error(std::string(operation) + ": image name \"" + name + "\": " + e.what());
    }
  }
}

void ensure_layers(Store& store, const std::vector<LayerBlob>& layers, const UnpackLimits& limits) {
  for (const auto& l : layers) {
    if (store.has_layer(l.diff_id)) continue;
    if (!store.has_blob(l.digest))
      throw Error("layer " + l.diff_id + " is neither unpacked nor kept as a blob in the store")
          .hint("pull or load the image again");
    TempDir temp = store.make_temp("unpack");
    const layer::LayerDir dir{temp.path() / "layer"};
    const UniqueFd in = sys::open(store.blob_path(l.digest).string(), O_RDONLY);
    const UnpackResult r = with_context("unpack layer " + l.digest, [&] { return unpack_layer(in.get(), dir, limits); });
    if (r.diff_id != l.diff_id)
      throw Error("layer " + l.digest + ": its content has diff_id " + r.diff_id + " but the image config says " + l.diff_id);
    if (!store.has_layer(l.diff_id)) store.adopt_layer(dir, l.diff_id);
  }
}

void ensure_unpacked(Store& store, const ImageEntry& image, const UnpackLimits& limits) {
  ensure_layers(store, manifest_layers(read_manifest(store, image), read_config(store, image)), limits);
}

std::vector<layer::LayerDir> layer_dirs(const Store& store, const json& config,
                                        const std::string& image) {
  std::vector<layer::LayerDir> dirs;
  for (const auto& diff_id : config.at("rootfs").at("diff_ids")) {
    const std::string id = diff_id.get<std::string>();
    if (!store.has_layer(id))
      throw Error("image " + image + ": layer " + id + " is not unpacked in the store")
          .hint("run `cairn store verify`");
    dirs.insert(dirs.begin(), store.layer_dir(id));
  }
  return dirs;
}

ImageEntry import_rootfs(Store& store, int fd, const ImportOptions& options) {
  check_names(options.names, "import");
  TempDir temp = store.make_temp("import");
  const layer::LayerDir dir{temp.path() / "layer"};
  const fs::path blob = temp.path() / "blob";
  UnpackResult unpacked;
  {
    UniqueFd out = sys::open(blob.string(), O_WRONLY | O_CREAT | O_EXCL, 0644);
    unpacked = unpack_layer(fd, dir, options.limits, Recompress{out.get(), Compression::gzip});
  }
  LayerBlob layer;
  layer.diff_id = unpacked.diff_id;
  if (unpacked.recompressed) {
    layer = {unpacked.recompressed_digest, static_cast<std::int64_t>(unpacked.recompressed_size),
             std::string(kOciLayerGzip), unpacked.diff_id};
  } else {
    // Already compressed: the input itself is the blob; it was consumed from a stream, so
    // pack the unpacked layer again (same content, our deterministic tar).
    UniqueFd out = sys::open(blob.string(), O_WRONLY | O_TRUNC);
    PackResult packed = pack_layer(dir, out.get(), {Compression::gzip, -1, options.source_date_epoch});
    layer = {packed.digest, static_cast<std::int64_t>(packed.size), std::string(kOciLayerGzip),
             packed.diff_id};
  }
  store.adopt_blob(blob, layer.digest);
  if (!store.has_layer(layer.diff_id)) store.adopt_layer(dir, layer.diff_id);
  const std::string created = rfc3339(now_or_epoch(options.source_date_epoch));
  json config = {{"architecture", host_architecture()},
                 {"os", "linux"},
                 {"created", created},
                 {"config", json::object()},
                 {"rootfs", {{"type", "layers"}, {"diff_ids", {layer.diff_id}}}},
                 {"history",
                  {{{"created", created}, {"created_by", "cairn import " + options.source},
                    {"comment", options.message.empty() ? "Imported from " + options.source
                                                        : options.message}}}}};
  if (options.apply_changes) options.apply_changes(config["config"]);
  return commit_image(store, config.dump(), {layer}, options.names);
}

json read_manifest(const Store& store, const ImageEntry& image) {
  return json::parse(store.read_blob(image.manifest_digest));
}

json read_config(const Store& store, const ImageEntry& image) {
  return json::parse(store.read_blob(read_manifest(store, image).at("config").at("digest").get<std::string>()));
}

json inspect_image(const Store& store, const ImageEntry& image) {
  const json manifest = read_manifest(store, image);
  const json config = read_config(store, image);
  std::int64_t size = 0;
  for (const auto& l : manifest.at("layers")) size += l.at("size").get<std::int64_t>();
  json tags = json::array();
  for (const auto& name : image.names) tags.push_back(parse_reference(name).familiar());
  json out = {{"Id", manifest.at("config").at("digest")},
              {"RepoTags", tags},
              {"ManifestDigest", image.manifest_digest},
              {"Created", config.value("created", "")},
              {"Architecture", config.value("architecture", "")},
              {"Os", config.value("os", "")},
              {"Config", config.value("config", json::object())},
              {"RootFS", config.value("rootfs", json::object())},
              {"History", config.value("history", json::array())},
              {"Size", size},
              {"Layers", manifest.at("layers")}};
  if (config.contains("variant")) out["Variant"] = config["variant"];
  return out;
}

}  // namespace cairn::store
