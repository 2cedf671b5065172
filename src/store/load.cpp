// `cairn load`: docker-archive, OCI archive and the hybrid tar into the store. The archive
// is hostile: only regular files and directories are taken from it, nothing it names is
// followed outside it, and every blob is verified before it enters the store.
#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <set>

#include "cairn/base/digest.hpp"
#include "cairn/base/error.hpp"
#include "cairn/base/log.hpp"
#include "cairn/base/sys.hpp"
#include "cairn/store/image.hpp"
#include "cairn/store/reference.hpp"
#include "image_internal.hpp"
#include "paths.hpp"

namespace cairn::store {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

struct ReadFree {
  void operator()(archive* a) const { archive_read_free(a); }
};

std::optional<std::string> clean_name(std::string_view raw) {
  return clean_member_path(raw, DotDot::refuse);
}

void write_member(archive* a, int dirfd, const std::string& name) {
  const auto slash = name.rfind('/');
  if (slash != std::string::npos) {
    std::string parent = name.substr(0, slash);
    std::error_code ec;
    // Parents are created as plain directories below the extraction root.
    std::size_t at = 0;
    for (;;) {
      const std::size_t next = parent.find('/', at);
      const std::string prefix = parent.substr(0, next);
      UniqueFd probe(sys::try_open_beneath(dirfd, prefix, O_PATH | O_DIRECTORY));
      if (!probe && ::mkdirat(dirfd, prefix.c_str(), 0755) != 0 && errno != EEXIST)
        throw Error("mkdir", prefix, errno).context("load");
      if (next == std::string::npos) break;
      at = next + 1;
    }
  }
  UniqueFd fd(sys::try_open_beneath(dirfd, name, O_WRONLY | O_CREAT | O_EXCL, 0644));
  if (!fd) throw Error("load: archive member \"" + name + "\" cannot be written (duplicate or unsafe path)");
  const void* buffer;
  size_t size;
  la_int64_t offset;
  for (;;) {
    const int rc = archive_read_data_block(a, &buffer, &size, &offset);
    if (rc == ARCHIVE_EOF) break;
    if (rc != ARCHIVE_OK) throw Error(std::string("load: corrupt archive: ") + archive_error_string(a));
    if (::pwrite(fd.get(), buffer, size, offset) != static_cast<ssize_t>(size))
      throw Error("write", name, errno).context("load");
  }
}

// Extracts regular files and directories of the (possibly compressed) archive.
void extract_archive(int fd, const fs::path& into) {
  fs::create_directory(into);
  UniqueFd dirfd = sys::open(into.string(), O_PATH | O_DIRECTORY);
  std::unique_ptr<archive, ReadFree> a(archive_read_new());
  archive_read_support_format_tar(a.get());
  archive_read_support_filter_gzip(a.get());
  archive_read_support_filter_zstd(a.get());
  archive_read_support_filter_bzip2(a.get());
  archive_read_support_filter_xz(a.get());
  if (archive_read_open_fd(a.get(), fd, 1 << 20) != ARCHIVE_OK)
    throw Error(std::string("load: not a tar archive: ") + archive_error_string(a.get()));
  archive_entry* e;
  for (;;) {
    const int rc = archive_read_next_header(a.get(), &e);
    if (rc == ARCHIVE_EOF) break;
    if (rc != ARCHIVE_OK && rc != ARCHIVE_WARN)
      throw Error(std::string("load: corrupt archive: ") + archive_error_string(a.get()));
    const char* raw = archive_entry_pathname(e);
    auto name = clean_name(raw ? raw : "");
    if (!name) throw Error("load: archive member \"" + std::string(raw) + "\" points outside the archive");
    if (name->empty()) continue;
    const auto type = archive_entry_filetype(e);
    if (archive_entry_hardlink(e) || type == AE_IFLNK)
      throw Error("load: archive member \"" + *name + "\" is a link; image archives must not contain links");
    if (type == AE_IFDIR) continue;  // created on demand
    if (type != AE_IFREG) throw Error("load: archive member \"" + *name + "\" is not a regular file");
    write_member(a.get(), dirfd.get(), *name);
  }
}

class ArchiveLoader {
 public:
  ArchiveLoader(Store& store, const fs::path& root, TempDir& temp, const UnpackLimits& limits)
      : store_(store), root_(sys::open(root.string(), O_PATH | O_DIRECTORY)), temp_(temp), limits_(limits) {}

  // Reads a member named by a manifest; refuses names that leave the archive.
  std::string read_member(const std::string& name) {
    return sys::read_all(open_member(name).get(), name);
  }

  UniqueFd open_member(const std::string& raw) {
    auto name = clean_name(raw);
    if (!name || name->empty()) throw Error("load: \"" + raw + "\" points outside the archive");
    const int fd = sys::try_open_beneath(root_.get(), *name, O_RDONLY | O_NOFOLLOW);
    if (fd < 0) throw Error("load: the archive has no file \"" + raw + "\" (named by its manifest)");
    return UniqueFd(fd);
  }

  std::string read_blob(const std::string& digest) {
    if (!is_sha256_digest(digest)) throw Error("load: invalid digest \"" + digest + "\"");
    std::string data = read_member("blobs/sha256/" + digest.substr(7));
    if ("sha256:" + sha256_hex(data) != digest)
      throw Error("load: blob " + digest + " does not match its digest");
    return data;
  }

  static json parse_json(const std::string& data, const std::string& what) {
    json j = json::parse(data, nullptr, false);
    if (j.is_discarded() || !j.is_object()) throw Error("load: " + what + " is not a JSON object");
    return j;
  }

  static std::vector<std::string> diff_ids_of(const json& config) {
    try {
      return config.at("rootfs").at("diff_ids").get<std::vector<std::string>>();
    } catch (const json::exception&) {
      throw Error("load: the image config has no rootfs.diff_ids");
    }
  }

  // Unpacks one layer file unless the store has it; checks its digests.
  LayerBlob layer(const std::string& member, const std::string& diff_id,
                  const std::optional<std::string>& digest, bool recompress) {
    if (digest && store_.has_layer(diff_id) && store_.has_blob(*digest))
      return {*digest, static_cast<std::int64_t>(fs::file_size(store_.blob_path(*digest))),
              sniff_layer_media_type(store_, *digest), diff_id};
    const std::string n = std::to_string(++counter_);
    const layer::LayerDir dir{temp_.path() / ("layer-" + n)};
    const fs::path packed = temp_.path() / ("blob-" + n);
    UniqueFd in = open_member(member);
    UnpackResult r;
    {
      UniqueFd out;
      if (recompress) out = sys::open(packed.string(), O_WRONLY | O_CREAT | O_EXCL, 0644);
      r = unpack_layer(in.get(), dir, limits_, Recompress{recompress ? out.get() : -1, Compression::gzip});
    }
    for (const auto& w : r.warnings) log(LogLevel::warn, "{}: {}", member, w);
    if (r.diff_id != diff_id)
      throw Error("load: layer " + member + " has diff_id " + r.diff_id + " but the config says " + diff_id);
    if (digest && r.digest != *digest)
      throw Error("load: layer " + member + " has digest " + r.digest + " but the manifest says " + *digest);
    LayerBlob blob{r.digest, static_cast<std::int64_t>(r.size), layer_media_type(r.compression), diff_id};
    if (r.recompressed) {
      blob = {r.recompressed_digest, static_cast<std::int64_t>(r.recompressed_size),
              std::string(kOciLayerGzip), diff_id};
      store_.adopt_blob(packed, blob.digest);
    } else {
      // The member file is the blob: move it out of the extracted archive.
      const fs::path copy = temp_.path() / ("member-" + n);
      in.reset();
      const auto name = clean_name(member);
      fs::rename(temp_.path() / "archive" / *name, copy);
      store_.adopt_blob(copy, blob.digest);
    }
    if (!store_.has_layer(diff_id)) store_.adopt_layer(dir, diff_id);
    return blob;
  }

  Store& store_;
  UniqueFd root_;
  TempDir& temp_;
  const UnpackLimits& limits_;
  int counter_ = 0;
};

}  // namespace

bool known_layer_type(const std::string& media_type) {
  static const std::set<std::string> known = {
      std::string(kOciLayerTar), std::string(kOciLayerGzip), std::string(kOciLayerZstd),
      std::string(kDockerLayerGzip), "application/vnd.docker.image.rootfs.diff.tar"};
  return known.count(media_type) != 0;
}

namespace {

std::string display(const std::vector<std::string>& names, const std::string& config_digest) {
  if (names.empty()) return config_digest;
  return parse_reference(names.front()).familiar();
}

// docker save: manifest.json lists Config, RepoTags and Layers as member names.
void load_docker(ArchiveLoader& loader, Store& store, LoadReport& report) {
  const json manifests = json::parse(loader.read_member("manifest.json"), nullptr, false);
  if (manifests.is_discarded() || !manifests.is_array())
    throw Error("load: manifest.json is not a JSON array");
  for (const auto& m : manifests) {
    const std::string config_name = m.at("Config").get<std::string>();
    const std::string config_bytes = loader.read_member(config_name);
    const json config = ArchiveLoader::parse_json(config_bytes, config_name);
    const auto diff_ids = ArchiveLoader::diff_ids_of(config);
    const auto layers = m.at("Layers").get<std::vector<std::string>>();
    if (layers.size() != diff_ids.size())
      throw Error("load: " + config_name + " lists " + std::to_string(diff_ids.size()) +
                  " diff_ids but manifest.json lists " + std::to_string(layers.size()) + " layers");
    std::vector<LayerBlob> blobs;
    for (std::size_t i = 0; i < layers.size(); ++i)
      blobs.push_back(loader.layer(layers[i], diff_ids[i], std::nullopt, true));
    std::vector<std::string> names = m.value("RepoTags", std::vector<std::string>{});
    // The config keeps its exact bytes, so the image ID is the one docker shows.
    commit_image(store, config_bytes, blobs, names);
    report.loaded(display(names, "sha256:" + sha256_hex(config_bytes)));
  }
}

std::vector<std::string> names_from(const json& descriptor, const json& docker_manifests,
                                    const std::string& config_digest) {
  std::vector<std::string> names;
  const json annotations = descriptor.value("annotations", json::object());
  if (annotations.contains(kAnnotationContainerdName)) {
    names.push_back(annotations[std::string(kAnnotationContainerdName)].get<std::string>());
    return names;
  }
  if (annotations.contains(kAnnotationRefName)) {
    const std::string ref = annotations[std::string(kAnnotationRefName)].get<std::string>();
    if (ref.find_first_of("/:") != std::string::npos) {
      names.push_back(ref);
      return names;
    }
  }
  if (docker_manifests.is_array())
    for (const auto& m : docker_manifests)
      if (m.value("Config", "").find(config_digest.substr(7)) != std::string::npos)
        for (const auto& tag : m.value("RepoTags", json::array())) names.push_back(tag.get<std::string>());
  return names;
}

void load_oci_manifest(ArchiveLoader& loader, Store& store, const json& descriptor,
                       const json& docker_manifests, LoadReport& report) {
  const std::string digest = descriptor.at("digest").get<std::string>();
  const std::string manifest_bytes = loader.read_blob(digest);
  const json manifest = ArchiveLoader::parse_json(manifest_bytes, "manifest " + digest);
  const std::string config_digest = manifest.at("config").at("digest").get<std::string>();
  const std::string config_bytes = loader.read_blob(config_digest);
  const json config = ArchiveLoader::parse_json(config_bytes, "config " + config_digest);
  const auto diff_ids = ArchiveLoader::diff_ids_of(config);
  const json& layers = manifest.at("layers");
  if (layers.size() != diff_ids.size())
    throw Error("load: config " + config_digest + " lists " + std::to_string(diff_ids.size()) +
                " diff_ids but manifest " + digest + " lists " + std::to_string(layers.size()) + " layers");
  for (std::size_t i = 0; i < layers.size(); ++i) {
    const std::string media_type = layers[i].value("mediaType", "");
    if (!known_layer_type(media_type))
      throw Error("load: layer " + std::to_string(i + 1) + " of " + digest + " has unknown media type \"" + media_type + "\"");
    const std::string layer_digest = layers[i].at("digest").get<std::string>();
    if (!is_sha256_digest(layer_digest)) throw Error("load: invalid layer digest \"" + layer_digest + "\"");
    loader.layer("blobs/sha256/" + layer_digest.substr(7), diff_ids[i], layer_digest, false);
  }
  store.put_blob(config_bytes);
  store.put_blob(manifest_bytes);
  const auto names = names_from(descriptor, docker_manifests, config_digest);
  // The manifest is kept byte for byte, so its descriptors must keep its media type.
  const std::string media_type = manifest.value("mediaType", descriptor.value("mediaType", std::string(kOciManifest)));
  if (media_type != kOciManifest && media_type != kDockerManifest)
    throw Error("load: manifest " + digest + " has media type \"" + media_type + "\"");
  store.add_image(digest, static_cast<std::int64_t>(manifest_bytes.size()), names, media_type);
  report.loaded(display(names, config_digest));
}

const json* pick_platform(const json& index) {
  const std::string arch = host_architecture();
  for (const auto& d : index.at("manifests"))
    if (d.contains("platform") && d["platform"].value("architecture", "") == arch &&
        d["platform"].value("os", "") == "linux")
      return &d;
  return index.at("manifests").empty() ? nullptr : &index.at("manifests")[0];
}

void load_oci(ArchiveLoader& loader, Store& store, const json& docker_manifests, LoadReport& report) {
  const json index = ArchiveLoader::parse_json(loader.read_member("index.json"), "index.json");
  for (const auto& d : index.at("manifests")) {
    const std::string media_type = d.value("mediaType", "");
    if (media_type == kOciIndex || media_type == "application/vnd.docker.distribution.manifest.list.v2+json") {
      const json nested = ArchiveLoader::parse_json(loader.read_blob(d.at("digest")), "index " + d.at("digest").get<std::string>());
      const json* chosen = pick_platform(nested);
      if (!chosen) throw Error("load: index " + d.at("digest").get<std::string>() + " lists no manifests");
      json descriptor = *chosen;
      if (d.contains("annotations")) descriptor["annotations"] = d["annotations"];
      load_oci_manifest(loader, store, descriptor, docker_manifests, report);
    } else if (media_type == kOciManifest || media_type == kDockerManifest) {
      load_oci_manifest(loader, store, d, docker_manifests, report);
    } else {
      throw Error("load: index.json names a \"" + media_type + "\"; expected an image manifest or index");
    }
  }
}

LoadReport load_extracted(Store& store, const fs::path& root, TempDir& temp,
                          const UnpackLimits& limits,
                          const std::function<void(const std::string&)>& on_loaded);

}  // namespace

LoadReport load_archive(Store& store, int fd, const UnpackLimits& limits,
                        const std::function<void(const std::string&)>& on_loaded) {
  TempDir temp = store.make_temp("load");
  const fs::path root = temp.path() / "archive";
  extract_archive(fd, root);
  try {
    return load_extracted(store, root, temp, limits, on_loaded);
  } catch (const json::exception& e) {
    throw Error(std::string("load: a manifest or config does not have the expected shape: ") +
                e.what());
  }
}

namespace {
LoadReport load_extracted(Store& store, const fs::path& root, TempDir& temp,
                          const UnpackLimits& limits,
                          const std::function<void(const std::string&)>& on_loaded) {
  ArchiveLoader loader(store, root, temp, limits);
  LoadReport report;
  report.on_loaded = on_loaded;
  const bool has_index = fs::exists(root / "index.json") && fs::exists(root / "oci-layout");
  const bool has_docker = fs::exists(root / "manifest.json");
  json docker_manifests;
  if (has_docker) docker_manifests = json::parse(loader.read_member("manifest.json"), nullptr, false);
  if (has_index) {
    load_oci(loader, store, docker_manifests, report);
  } else if (has_docker) {
    load_docker(loader, store, report);
  } else {
    throw Error("load: the archive has neither index.json (OCI) nor manifest.json (docker save): "
                "not an image archive")
        .hint("for a root filesystem tarball use `cairn import FILE NAME`");
  }
  return report;
}
}  // namespace

}  // namespace cairn::store
