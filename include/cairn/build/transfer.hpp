// Images between the store and registries: `cairn pull`, `cairn push`, and the base images a
// build pulls. Joins the store (what is local) and the registry client (what is remote).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "cairn/build/build.hpp"
#include "cairn/registry/registry.hpp"
#include "cairn/store/image.hpp"
#include "cairn/store/reference.hpp"
#include "cairn/store/store.hpp"

namespace cairn::build {

// An image platform: "linux/amd64", "linux/arm64/v8" (os, architecture, variant).
struct Platform {
  std::string os = "linux";
  std::string architecture;
  std::string variant;
  std::string str() const;
};
// "os/arch[/variant]" or "arch"; throws Error when malformed. Empty: this machine's.
Platform parse_platform(const std::string& text);

struct PullOptions {
  std::optional<std::string> platform;
  // A single-platform image must be of `platform` (cairn pull --platform); else it is taken
  // whatever its platform.
  bool require_platform = false;
  ProgressMode progress = ProgressMode::plain;
  store::UnpackLimits limits;
};

struct PullResult {
  store::ImageEntry image;
  std::string reference;  // the full name it was stored under
  std::string digest;     // the manifest's (for an index: the chosen platform's manifest)
  std::size_t layers_fetched = 0;
  std::size_t layers_present = 0;
};

// Fetches REF's manifest (choosing the platform from an index), the config and the layer
// blobs the store lacks — in parallel, each verified before it enters the store — and tags
// the image REF. The layers stay blobs (the store is an OCI layout) until the image is
// first used: store::ensure_unpacked. An unqualified name is looked up in
// `settings.search` in order.
PullResult pull_image(store::Store& store, registry::Session& session, const std::string& ref,
                      const PullOptions& options);

struct PushOptions {
  ProgressMode progress = ProgressMode::plain;
};

struct PushResult {
  std::string reference;   // where it went, with the tag
  std::string repository;  // where it went, without the tag
  std::string digest;      // the manifest's digest in the registry
  std::size_t uploaded = 0, skipped = 0, mounted = 0;
};

// Pushes IMAGE (a name or ID in the store) to DEST (default: IMAGE's name): blobs the
// registry has are skipped, blobs another repository of the same registry holds (one the
// image was pulled from or pushed to under another name) are mounted, the rest uploaded,
// the manifest last.
PushResult push_image(store::Store& store, registry::Session& session, const std::string& image,
                      const std::optional<std::string>& destination, const PushOptions& options);

// The references an image name stands for, in the order a pull tries them: a name with a
// registry domain stands for itself; an unqualified one for each of `search` in turn.
std::vector<store::Reference> pull_candidates(const std::string& ref,
                                              const std::vector<std::string>& search);

}  // namespace cairn::build
