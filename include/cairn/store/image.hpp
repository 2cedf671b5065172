// Images in and out of the store: `docker import`-style root filesystems, archives from
// `docker save` / OCI tools (load), archives for docker, podman and skopeo (save), and the
// JSON that inspect and history show.
#pragma once

#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "cairn/store/layer_tar.hpp"
#include "cairn/store/store.hpp"

namespace cairn::store {

struct ImportOptions {
  std::vector<std::string> names;  // references to tag the image with
  std::string source = "-";        // what was imported, for the history
  std::string message;             // history comment (default "Imported from SOURCE")
  // Applies --change instructions to the image config ("config" object of the JSON).
  std::function<void(nlohmann::json& config)> apply_changes;
  std::optional<std::int64_t> source_date_epoch;
  UnpackLimits limits;
};

// A plain root-filesystem tarball (any compression) as a one-layer image.
ImageEntry import_rootfs(Store& store, int fd, const ImportOptions& options);

struct LoadReport {
  std::vector<std::string> images;  // names loaded, or image IDs for unnamed ones
  std::vector<std::string> warnings;
  std::function<void(const std::string&)> on_loaded;
  void loaded(const std::string& image) {
    images.push_back(image);
    if (on_loaded) on_loaded(image);
  }
};

struct CommitOptions {
  std::vector<std::string> names;  // references to tag the new image with
  std::string created_by;          // history entry ("cairn run /bin/sh -c ...")
  std::string comment;
  std::optional<std::int64_t> source_date_epoch;
};

// `docker commit`: the upper layer directory of an overlay over `base` becomes a new layer
// on top of it (metadata-only copy-ups filled with their data first, the overlay's work
// directory dropped), moved into the store without re-extraction. Returns the new image.
ImageEntry commit_layer(Store& store, const ImageEntry& base, const layer::LayerDir& upper,
                        const CommitOptions& options);

// A docker-archive (any docker version), an OCI archive, or the hybrid tar (optionally
// gzip/zstd compressed as a whole). Nothing enters the store unless it verifies.
// `on_loaded` is told each image as soon as it is in the store (its display name, or its
// ID when it has no name), so a failure later in the archive does not hide it.
LoadReport load_archive(Store& store, int fd, const UnpackLimits& limits = {},
                        const std::function<void(const std::string&)>& on_loaded = {});

enum class SaveFormat { hybrid, docker, oci };
std::optional<SaveFormat> parse_save_format(std::string_view name);

// Writes the images (names or IDs) as one tar archive to `out_fd`.
void save_images(Store& store, const std::vector<std::string>& images, SaveFormat format,
                 int out_fd);

// docker-inspect-like JSON for one image.
nlohmann::json inspect_image(const Store& store, const ImageEntry& image);

// The unpacked layer directories of an image (its parsed config), top-most first. Throws
// Error naming `image` and the layer when one is not unpacked in the store.
std::vector<layer::LayerDir> layer_dirs(const Store& store, const nlohmann::json& config,
                                        const std::string& image);

// One layer of a manifest, with the diff_id the config lists for it.
struct LayerBlob {
  std::string digest;
  std::int64_t size = 0;
  std::string media_type;
  std::string diff_id;
};

// A pulled image keeps its layers as blobs until it is first used (run, build, mount):
// these unpack the layers whose directories are missing from their blobs, each verified
// against its diff_id before it enters the store. Throws Error when a blob is missing too.
void ensure_layers(Store& store, const std::vector<LayerBlob>& layers, const UnpackLimits& limits = {});
void ensure_unpacked(Store& store, const ImageEntry& image, const UnpackLimits& limits = {});

// Stores config and an OCI manifest for layers already in the store and gives the image
// `names` (none: an untagged image). `config_bytes` is stored as is.
ImageEntry store_image(Store& store, const std::string& config_bytes,
                       const std::vector<LayerBlob>& layers, const std::vector<std::string>& names);

// Packs a layer directory (an overlay's upper, or one a build step wrote) into a blob and
// moves the directory into the store as that layer, without re-extraction. Metadata-only
// copies in it are first filled with their data from `lowers` (top-most first).
LayerBlob add_layer(Store& store, const layer::LayerDir& dir,
                    const std::vector<layer::LayerDir>& lowers, const PackOptions& options);

// A layer media type cairn can unpack: OCI and docker tar, tar+gzip, tar+zstd (not foreign
// or non-distributable layers).
bool known_layer_type(const std::string& media_type);

// A manifest's layers in OCI media types (a docker base's become their OCI names), with
// the diff_ids of `config`.
std::vector<LayerBlob> manifest_layers(const nlohmann::json& manifest, const nlohmann::json& config);

// Refuses, before any work, a name that is not a valid reference ("OPERATION: image name
// "NAME": why").
void check_names(const std::vector<std::string>& names, std::string_view operation);

// The OCI architecture name of this machine ("amd64", "arm64", ...).
std::string host_architecture();

// The image's config and manifest, parsed.
nlohmann::json read_manifest(const Store& store, const ImageEntry& image);
nlohmann::json read_config(const Store& store, const ImageEntry& image);

// RFC 3339 UTC ("2024-05-01T12:00:00Z") for a Unix time.
std::string rfc3339(std::int64_t unix_seconds);
// Parses RFC 3339 (seconds precision is kept); nullopt when malformed.
std::optional<std::int64_t> parse_rfc3339(std::string_view text);

}  // namespace cairn::store
