// `cairn push`: each blob of an image that the registry lacks — mounted from another
// repository of the same registry when one of the image's other names lives there,
// uploaded otherwise — then the manifest, byte for byte as the store keeps it.
#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "cairn/base/error.hpp"
#include "cairn/base/log.hpp"
#include "cairn/build/transfer.hpp"
#include "transfer_internal.hpp"
#include "transfer_pool.hpp"
#include "transfer_progress.hpp"

namespace cairn::build {
namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

store::Reference destination_of(const store::ImageEntry& image, const std::string& given,
                                 const std::optional<std::string>& destination) {
  std::string text;
  if (destination) {
    text = *destination;
  } else if (store::looks_like_image_id(given) || image.names.empty()) {
    throw Error("push " + given + ": the image has no name to push it under")
        .hint("give the destination: cairn push " + given + " REGISTRY/REPOSITORY[:TAG]");
  } else {
    // The name the user gave, when it is one of the image's; else its first name.
    try {
      text = store::parse_reference(given).str();
    } catch (const std::invalid_argument&) {
      text = image.names.front();
    }
    if (std::find(image.names.begin(), image.names.end(), text) == image.names.end())
      text = image.names.front();
  }
  try {
    return store::parse_reference(text);
  } catch (const std::invalid_argument& e) {
    throw Error("push: destination \"" + text + "\": " + e.what());
  }
}

// Other repositories of the destination's registry that the image has names in: a blob
// there can be mounted instead of uploaded.
std::vector<std::string> mount_sources(const store::ImageEntry& image, const store::Reference& dest) {
  std::vector<std::string> out;
  for (const auto& name : image.names) {
    const store::Reference r = store::parse_reference(name);
    if (r.domain == dest.domain && r.path != dest.path &&
        std::find(out.begin(), out.end(), r.path) == out.end())
      out.push_back(r.path);
  }
  return out;
}

enum class Outcome { skipped, mounted, uploaded };

Outcome push_blob(store::Store& store, registry::Client& client, const BlobPush& job,
                  std::size_t line, const std::vector<std::string>& sources,
                  TransferProgress& progress) {
  if (client.has_blob(job.digest)) {
    progress.state(line, "Layer already exists");
    return Outcome::skipped;
  }
  for (const auto& from : sources)
    if (client.mount_blob(job.digest, from)) {
      progress.state(line, "Mounted from " + from);
      return Outcome::mounted;
    }
  progress.state(line, "Pushing");
  client.upload_blob(job.digest, store.blob_path(job.digest),
                     [&](std::uint64_t done, std::uint64_t) { progress.bytes(line, done); });
  progress.state(line, "Pushed");
  return Outcome::uploaded;
}

}  // namespace

PushCounts push_blobs(store::Store& store, registry::Session& session,
                      const registry::Repository& repo, const std::vector<BlobPush>& blobs,
                      const std::vector<std::string>& mount_sources, TransferProgress& progress) {
  std::vector<std::size_t> lines;
  for (const auto& b : blobs) lines.push_back(progress.add(b.digest, b.size, "Preparing"));
  std::vector<Outcome> outcomes(blobs.size());
  run_pool(blobs.size(), static_cast<std::size_t>(session.settings().parallel), [&](std::size_t i) {
    registry::Client client(session, repo, registry::Client::Access::push);
    outcomes[i] = push_blob(store, client, blobs[i], lines[i], mount_sources, progress);
  });
  PushCounts counts;
  for (const auto o : outcomes) {
    if (o == Outcome::skipped) ++counts.skipped;
    if (o == Outcome::mounted) ++counts.mounted;
    if (o == Outcome::uploaded) ++counts.uploaded;
  }
  return counts;
}

PushResult push_image(store::Store& store, registry::Session& session, const std::string& given,
                      const std::optional<std::string>& destination, const PushOptions& options) {
  const auto image = store.resolve(given);
  if (!image) throw Error("push " + given + ": no such image in the store").hint("cairn images lists what there is");
  const store::Reference dest = destination_of(*image, given, destination);
  if (dest.digest && *dest.digest != image->manifest_digest)
    throw Error(fmt::format("push {}: the image's manifest is {}, not the digest given", dest.str(), image->manifest_digest));
  const registry::Repository repo{dest.domain, dest.path};
  const std::string manifest_bytes = store.read_blob(image->manifest_digest);
  const json manifest = json::parse(manifest_bytes);
  TransferProgress progress(options.progress);
  progress.message("The push refers to repository [" + repo.str() + "]");
  std::vector<BlobPush> blobs;
  for (const auto& l : manifest.at("layers"))
    blobs.push_back({l.at("digest").get<std::string>(), l.at("size").get<std::uint64_t>()});
  const json& config = manifest.at("config");
  blobs.push_back({config.at("digest").get<std::string>(), config.at("size").get<std::uint64_t>()});
  const PushCounts counts = with_context("push " + dest.familiar(), [&] {
    return push_blobs(store, session, repo, blobs, mount_sources(*image, dest), progress);
  });
  registry::Client client(session, repo, registry::Client::Access::push);
  const std::string tag = dest.manifest_reference();
  PushResult result;
  result.digest = with_context("push " + dest.familiar(), [&] {
    return client.put_manifest(tag, manifest_bytes, image->media_type);
  });
  result.reference = dest.str();
  result.repository = dest.repository();
  result.uploaded = counts.uploaded;
  result.skipped = counts.skipped;
  result.mounted = counts.mounted;
  progress.message(fmt::format("{}: digest: {} size: {}", tag, result.digest, manifest_bytes.size()));
  return result;
}

}  // namespace cairn::build
