// `cairn save`: images as one tar for docker, podman, containerd, skopeo and umoci.
//
// hybrid (default): an OCI image layout (oci-layout and index.json first) plus docker's
//   manifest.json and repositories pointing at the same blobs. docker 20.10 needs the
//   manifest.json (it refuses bare OCI archives); docker >= 25, containerd, podman and
//   skopeo read the OCI part. Layers stay compressed (docker load decompresses them).
// docker: the classic `docker save` layout (<id>.json, <diff-id>/layer.tar uncompressed).
// oci: a bare OCI archive.
#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <map>
#include <set>

#include "cairn/base/error.hpp"
#include "cairn/base/sys.hpp"
#include "cairn/store/image.hpp"
#include "cairn/store/reference.hpp"
#include "image_internal.hpp"
#include "stream.hpp"

namespace cairn::store {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

struct WriteFree {
  void operator()(archive* a) const { archive_write_free(a); }
};

class TarWriter {
 public:
  explicit TarWriter(int fd) : a_(archive_write_new()) {
    archive_write_set_format_pax_restricted(a_.get());
    archive_write_add_filter_none(a_.get());
    archive_write_set_bytes_in_last_block(a_.get(), 1);
    if (archive_write_open_fd(a_.get(), fd) != ARCHIVE_OK) fail("open output");
  }

  void directory(const std::string& name) {
    if (!dirs_.insert(name).second) return;
    header(name + "/", AE_IFDIR | 0755, 0);
  }

  void file(const std::string& name, std::string_view data) {
    if (!files_.insert(name).second) return;
    header(name, AE_IFREG | 0644, static_cast<la_int64_t>(data.size()));
    write(data.data(), data.size());
  }

  // Copies a file (a blob) into the archive under `name`.
  void copy(const std::string& name, const fs::path& source) {
    if (!files_.insert(name).second) return;
    UniqueFd fd = sys::open(source.string(), O_RDONLY);
    struct stat st;
    if (::fstat(fd.get(), &st) != 0) throw Error("stat", source.string(), errno);
    header(name, AE_IFREG | 0644, st.st_size);
    sys::read_chunks(fd.get(), source.string(),
                     [&](std::string_view chunk) { write(chunk.data(), chunk.size()); });
  }

  void close() {
    if (archive_write_close(a_.get()) != ARCHIVE_OK) fail("finish");
  }

 private:
  void header(const std::string& name, mode_t mode, la_int64_t size) {
    std::unique_ptr<archive_entry, decltype(&archive_entry_free)> e(archive_entry_new(), archive_entry_free);
    archive_entry_set_pathname(e.get(), name.c_str());
    archive_entry_set_mode(e.get(), mode);
    archive_entry_set_size(e.get(), size);
    archive_entry_set_mtime(e.get(), 0, 0);
    if (archive_write_header(a_.get(), e.get()) != ARCHIVE_OK) fail("write " + name);
  }
  void write(const void* data, std::size_t size) {
    if (archive_write_data(a_.get(), data, size) < 0) fail("write");
  }
  [[noreturn]] void fail(const std::string& what) {
    throw Error("save: " + what + ": " + archive_error_string(a_.get()));
  }

  std::unique_ptr<archive, WriteFree> a_;
  std::set<std::string> dirs_;
  std::set<std::string> files_;
};

struct Selected {
  ImageEntry image;
  json manifest;
  std::string config_digest;
  std::vector<std::string> names;  // full references to export (all, or the one asked for)
};

std::vector<Selected> select(Store& store, const std::vector<std::string>& requested) {
  std::vector<Selected> out;
  for (const auto& ask : requested) {
    auto image = store.resolve(ask);
    if (!image) throw Error("save: no image \"" + ask + "\" in the store").hint("see `cairn images`");
    Selected s{*image, read_manifest(store, *image), "", {}};
    s.config_digest = s.manifest.at("config").at("digest").get<std::string>();
    // Asked by name: export that name; asked by ID: export every name it has.
    try {
      const std::string full = parse_reference(ask).str();
      if (std::find(image->names.begin(), image->names.end(), full) != image->names.end())
        s.names = {full};
    } catch (const std::invalid_argument&) {
    }
    if (s.names.empty()) s.names = image->names;
    out.push_back(std::move(s));
  }
  return out;
}

std::string blob_name(const std::string& digest) { return "blobs/sha256/" + digest.substr(7); }

void write_oci_part(TarWriter& tar, Store& store, const std::vector<Selected>& images, bool hybrid) {
  tar.file("oci-layout", R"({"imageLayoutVersion":"1.0.0"})");
  json manifests = json::array();
  for (const auto& s : images) {
    json base = {{"mediaType", s.image.media_type}, {"digest", s.image.manifest_digest},
                 {"size", s.image.manifest_size}};
    if (s.names.empty()) manifests.push_back(base);
    for (const auto& name : s.names) {
      const Reference ref = parse_reference(name);
      json d = base;
      d["annotations"] = {{std::string(kAnnotationContainerdName), ref.str()},
                          {std::string(kAnnotationRefName), hybrid ? ref.tag.value_or("latest") : ref.str()}};
      manifests.push_back(d);
    }
  }
  tar.file("index.json", json{{"schemaVersion", 2}, {"mediaType", kOciIndex}, {"manifests", manifests}}.dump());
  tar.directory("blobs");
  tar.directory("blobs/sha256");
  for (const auto& s : images) {
    tar.copy(blob_name(s.config_digest), store.blob_path(s.config_digest));
    for (const auto& l : s.manifest.at("layers")) {
      const std::string d = l.at("digest").get<std::string>();
      tar.copy(blob_name(d), store.blob_path(d));
    }
    tar.copy(blob_name(s.image.manifest_digest), store.blob_path(s.image.manifest_digest));
  }
}

// docker's manifest.json + repositories, with layer paths as given by `layer_path`.
template <typename LayerPath>
void write_docker_part(TarWriter& tar, const std::vector<Selected>& images,
                       const std::string& config_prefix, LayerPath&& layer_path) {
  json manifest = json::array();
  json repositories = json::object();
  for (const auto& s : images) {
    json tags = json::array();
    json layers = json::array();
    for (std::size_t i = 0; i < s.manifest.at("layers").size(); ++i) layers.push_back(layer_path(s, i));
    for (const auto& name : s.names) {
      const Reference ref = parse_reference(name);
      tags.push_back(ref.familiar());
      const std::string repo = parse_reference(ref.repository(), false).familiar();
      repositories[repo][ref.tag.value_or("latest")] = s.config_digest.substr(7);
    }
    manifest.push_back({{"Config", config_prefix + s.config_digest.substr(7) + (config_prefix.empty() ? ".json" : "")},
                        {"RepoTags", tags},
                        {"Layers", layers}});
  }
  tar.file("manifest.json", manifest.dump());
  tar.file("repositories", repositories.dump());
}

// Classic docker layout: uncompressed layer.tar per layer.
void write_classic_docker(TarWriter& tar, Store& store, const std::vector<Selected>& images) {
  TempDir temp = store.make_temp("save");
  // Each image's layer directories (diff-id hex), read from its config once.
  std::vector<std::vector<std::string>> layer_dirs;
  for (const auto& s : images) {
    const std::string config_bytes = store.read_blob(s.config_digest);
    tar.file(s.config_digest.substr(7) + ".json", config_bytes);
    const auto diff_ids = json::parse(config_bytes).at("rootfs").at("diff_ids");
    const auto& layers = s.manifest.at("layers");
    auto& dirs = layer_dirs.emplace_back();
    for (std::size_t i = 0; i < layers.size(); ++i) {
      const std::string dir = diff_ids.at(i).get<std::string>().substr(7);
      dirs.push_back(dir);
      const fs::path plain = temp.path() / dir;
      if (!fs::exists(plain)) {
        const std::string digest = layers[i].at("digest").get<std::string>();
        UniqueFd in = sys::open(store.blob_path(digest).string(), O_RDONLY);
        UniqueFd out = sys::open(plain.string(), O_WRONLY | O_CREAT | O_EXCL, 0644);
        decompress_to(in.get(), out.get());
      }
      tar.directory(dir);
      tar.file(dir + "/VERSION", "1.0");
      tar.copy(dir + "/layer.tar", plain);
    }
  }
  write_docker_part(tar, images, "", [&](const Selected& s, std::size_t i) {
    return layer_dirs[static_cast<std::size_t>(&s - images.data())][i] + "/layer.tar";
  });
}

}  // namespace

std::optional<SaveFormat> parse_save_format(std::string_view name) {
  if (name == "hybrid") return SaveFormat::hybrid;
  if (name == "docker" || name == "docker-archive") return SaveFormat::docker;
  if (name == "oci" || name == "oci-archive") return SaveFormat::oci;
  return std::nullopt;
}

void save_images(Store& store, const std::vector<std::string>& requested, SaveFormat format,
                 int out_fd) {
  if (requested.empty()) throw Error("save: name at least one image");
  const auto images = select(store, requested);
  TarWriter tar(out_fd);
  if (format == SaveFormat::docker) {
    write_classic_docker(tar, store, images);
  } else {
    write_oci_part(tar, store, images, format == SaveFormat::hybrid);
    if (format == SaveFormat::hybrid)
      write_docker_part(tar, images, "blobs/sha256/", [](const Selected& s, std::size_t i) {
        return blob_name(s.manifest.at("layers").at(i).at("digest").get<std::string>());
      });
  }
  tar.close();
}

}  // namespace cairn::store
