// Layer tars in and out of the on-disk layer format (cairn/layer.hpp).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "cairn/layer.hpp"

namespace cairn::store {

enum class Compression { none, gzip, zstd };

// By magic bytes: gzip 1f 8b, zstd 28 b5 2f fd, anything else is taken as a plain tar.
Compression detect_compression(const unsigned char* data, std::size_t size);
std::string compression_name(Compression c);

struct UnpackLimits {
  std::uint64_t max_unpacked_bytes = 64ull << 30;  // a decompression bomb stops here
};

// When the input is an uncompressed tar, also write a compressed copy of exactly those
// bytes (so the diff_id stays the same) to `fd`, on a third thread.
struct Recompress {
  int fd = -1;
  Compression compression = Compression::gzip;
};

struct UnpackResult {
  Compression compression = Compression::none;
  std::string digest;       // "sha256:…" of the bytes read (the blob digest)
  std::uint64_t size = 0;   // bytes read
  std::string diff_id;      // "sha256:…" of the uncompressed tar
  std::uint64_t unpacked_bytes = 0;
  std::size_t entries = 0;
  std::vector<std::string> warnings;  // e.g. dropped reserved xattrs
  bool recompressed = false;           // a compressed copy was written
  std::string recompressed_digest;
  std::uint64_t recompressed_size = 0;
};

// Reads a layer tar (compression detected by content) from `fd` until EOF and writes it
// into `dir` (which must not exist yet): files under dir.root(), the metadata record to
// dir.record(). Refuses hostile input with an Error naming the entry: paths escaping the
// root, writes through symlinks, hard links to missing or outside targets, duplicates
// that change an entry's type, bad whiteouts, corrupt or truncated streams, and layers
// larger than the limit. On error the partial directory is left for the caller to
// remove. Decompression and extraction run on two threads.
UnpackResult unpack_layer(int fd, const layer::LayerDir& dir, const UnpackLimits& limits = {},
                          const Recompress& recompress = {});

struct PackOptions {
  Compression compression = Compression::gzip;
  int level = -1;  // compressor default
  std::optional<std::int64_t> source_date_epoch;  // clamp mtimes to this
};

struct PackResult {
  std::string diff_id;     // sha256 of the tar
  std::string digest;      // sha256 of what was written
  std::uint64_t size = 0;  // bytes written
  std::size_t entries = 0;
};

// Writes `dir` as a deterministic layer tar (sorted entries, numeric owners, PAX xattrs,
// hard links kept, OCI whiteouts, mtimes clamped to source_date_epoch) to `out_fd`,
// compressed as asked. The tar and its compression run on two threads; both digests come
// from the same pass.
PackResult pack_layer(const layer::LayerDir& dir, int out_fd, const PackOptions& options = {});

}  // namespace cairn::store
