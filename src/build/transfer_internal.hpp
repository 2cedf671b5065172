// Blob transfers shared by pull, push and the registry build cache (private to src/build).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "cairn/build/transfer.hpp"
#include "transfer_progress.hpp"

namespace cairn::build {

struct LayerFetch {
  std::string digest;
  std::uint64_t size = 0;
  std::string diff_id;
};

// What a layer fetch leaves in the store: the verified blob only (a pull: the layer is
// unpacked when an image first needs it), or blob and unpacked layer (the build cache).
enum class Unpack { later, now };

// Downloads in parallel the layers the store lacks, each verified before it enters the
// store (with Unpack::now, unpacked while it arrives and checked against its diff_id);
// returns those it fetched.
std::vector<LayerFetch> fetch_layers(store::Store& store, registry::Session& session,
                                     const registry::Repository& repo,
                                     const std::vector<LayerFetch>& layers, Unpack unpack,
                                     const PullOptions& options, TransferProgress& progress);

struct BlobPush {
  std::string digest;
  std::uint64_t size = 0;
};

struct PushCounts {
  std::size_t uploaded = 0, skipped = 0, mounted = 0;
};

// Sends the store's blobs to `repo` in parallel: skipped when the registry has them,
// mounted from one of `mount_sources` (repositories of the same registry), else uploaded.
PushCounts push_blobs(store::Store& store, registry::Session& session,
                      const registry::Repository& repo, const std::vector<BlobPush>& blobs,
                      const std::vector<std::string>& mount_sources, TransferProgress& progress);

}  // namespace cairn::build
