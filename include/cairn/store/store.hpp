// The image store: a content-addressed OCI image layout at its root (so skopeo and umoci
// read it directly), plus cairn's unpacked layers beside it.
//
//   ROOT/oci-layout, ROOT/index.json, ROOT/blobs/sha256/<hex>   the OCI image layout
//   ROOT/cairn/layers/<diff-id hex>/{root,meta.jsonl}              unpacked layers
//   ROOT/cairn/tmp/                                                work in progress
//   ROOT/cairn/gc.lock    shared by every cairn process using the store, exclusive for prune
//   ROOT/cairn/index.lock exclusive while index.json is rewritten
//
// Writes are atomic (temp file or directory, fsync, rename), so a process killed at any
// instant leaves nothing half-visible: only leftovers in tmp/, which the next process
// that finds the store idle removes.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "cairn/base/lock.hpp"
#include "cairn/layer.hpp"

namespace cairn::store {

inline constexpr std::string_view kOciManifest = "application/vnd.oci.image.manifest.v1+json";
inline constexpr std::string_view kOciIndex = "application/vnd.oci.image.index.v1+json";
inline constexpr std::string_view kOciConfig = "application/vnd.oci.image.config.v1+json";
inline constexpr std::string_view kOciLayerTar = "application/vnd.oci.image.layer.v1.tar";
inline constexpr std::string_view kOciLayerGzip = "application/vnd.oci.image.layer.v1.tar+gzip";
inline constexpr std::string_view kOciLayerZstd = "application/vnd.oci.image.layer.v1.tar+zstd";
inline constexpr std::string_view kDockerManifest =
    "application/vnd.docker.distribution.manifest.v2+json";
inline constexpr std::string_view kDockerConfig = "application/vnd.docker.container.image.v1+json";
inline constexpr std::string_view kDockerLayerGzip =
    "application/vnd.docker.image.rootfs.diff.tar.gzip";
inline constexpr std::string_view kAnnotationRefName = "org.opencontainers.image.ref.name";
inline constexpr std::string_view kAnnotationContainerdName = "io.containerd.image.name";

// One image in the store: a manifest and the names that point at it.
struct ImageEntry {
  std::string manifest_digest;
  std::int64_t manifest_size = 0;
  std::vector<std::string> names;  // full references, "docker.io/library/busybox:latest"
  // OCI, or Docker schema 2 for a manifest loaded as such (kept byte for byte).
  std::string media_type = std::string(kOciManifest);
};

// A scratch directory under ROOT/cairn/tmp, removed when dropped unless released.
class TempDir {
 public:
  TempDir() = default;
  explicit TempDir(std::filesystem::path path) : path_(std::move(path)) {}
  TempDir(TempDir&& other) noexcept : path_(std::exchange(other.path_, {})) {}
  TempDir& operator=(TempDir&& other) noexcept;
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir();
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

struct VerifyReport {
  std::size_t blobs_checked = 0;
  std::size_t layers_checked = 0;
  std::vector<std::string> problems;
};

struct PruneReport {
  std::size_t blobs_removed = 0;
  std::size_t layers_removed = 0;
  std::uint64_t bytes_freed = 0;
};

class Store {
 public:
  // Opens the store at `root`, creating the layout when missing.
  explicit Store(std::filesystem::path root);

  const std::filesystem::path& root() const { return root_; }

  // Blobs.
  std::filesystem::path blob_path(std::string_view digest) const;
  bool has_blob(std::string_view digest) const;
  // Reads a (small) blob and checks its digest.
  std::string read_blob(std::string_view digest) const;
  // Stores bytes as a blob; returns the digest.
  std::string put_blob(std::string_view data);
  // Moves a finished file into blobs/ after checking its digest (same filesystem).
  void adopt_blob(const std::filesystem::path& file, std::string_view digest);

  TempDir make_temp(std::string_view purpose);

  // Layers, by diff_id.
  bool has_layer(std::string_view diff_id) const;
  layer::LayerDir layer_dir(std::string_view diff_id) const;
  // Renames an unpacked layer into place; a layer already present wins (same content).
  void adopt_layer(const layer::LayerDir& unpacked, std::string_view diff_id);

  // Images (index.json).
  std::vector<ImageEntry> images() const;
  // Records a manifest, giving it `names` (taken away from any other image).
  void add_image(const std::string& manifest_digest, std::int64_t size,
                 const std::vector<std::string>& names,
                 std::string_view media_type = kOciManifest);
  // Removes one name; the image stays (untagged) unless remove_untagged.
  bool remove_name(const std::string& name);
  void remove_image(const std::string& manifest_digest);
  // A name ("busybox", "docker.io/library/busybox:latest"), an image ID (config digest,
  // full or a unique prefix of at least 4 hex digits), or a manifest digest.
  std::optional<ImageEntry> resolve(std::string_view name_or_id) const;

  VerifyReport verify() const;
  PruneReport prune();

 private:
  void ensure_layout();
  void clean_stale_temp();
  template <typename Change>
  void update_index(Change&& change);

  std::filesystem::path root_;
  FileLock gc_lock_;  // shared while this process uses the store
};

// The config digest of an image (its ID), read through the manifest.
std::string image_config_digest(const Store& store, const ImageEntry& image);

}  // namespace cairn::store
