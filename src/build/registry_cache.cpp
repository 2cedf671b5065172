#include "registry_cache.hpp"

#include <fmt/format.h>

#include <set>

#include "cairn/base/digest.hpp"
#include "cairn/base/error.hpp"
#include "cairn/base/log.hpp"
#include "cache.hpp"
#include "transfer_internal.hpp"

namespace cairn::build {
using json = nlohmann::json;

namespace {

store::Reference parse_ref(const std::string& text) {
  try {
    return store::parse_reference(text);
  } catch (const std::invalid_argument& e) {
    throw Error("cache reference \"" + text + "\": " + e.what());
  }
}

// Checked before the build starts: a bad reference must not waste the build.
std::string check_cache_ref(const std::string& ref, std::string_view flag) {
  store::Reference parsed;
  try {
    parsed = store::parse_reference(ref);
  } catch (const std::invalid_argument& e) {
    throw Error(fmt::format("{} {}: {}", flag, ref, e.what()));
  }
  if (parsed.digest)
    throw Error(fmt::format("{} {}: a cache is written and read by tag, not by digest", flag, ref));
  return ref;
}

}  // namespace

RegistryCache::RegistryCache(store::Store& store, const RegistrySettings& settings,
                             const std::string& ref, ProgressMode progress)
    : store_(store),
      session_(std::make_unique<registry::Session>(
          settings, registry::CredentialStore(registry::CredentialPaths::from_process()))),
      ref_(parse_ref(ref)),
      progress_(progress) {}

RegistryCache::~RegistryCache() = default;

void RegistryCache::import_index() {
  const std::string what = "--cache-from " + ref_.familiar();
  with_context(what, [&] {
    registry::Client client(*session_, {ref_.domain, ref_.path}, registry::Client::Access::pull, true);
    const auto m = client.find_manifest(ref_.manifest_reference());
    if (!m) {
      log(LogLevel::warn, "{}: not in the registry yet; building without it", what);
      return;
    }
    const json manifest = json::parse(m->bytes, nullptr, false);
    if (manifest.is_discarded() || manifest.value("config", json::object()).value("mediaType", "") != kCacheConfigType)
      throw Error("not a cairn build cache (its config is not " + std::string(kCacheConfigType) + ")");
    const json index = json::parse(client.fetch_blob_bytes(manifest["config"].at("digest").get<std::string>()), nullptr, false);
    if (index.is_discarded() || !index.is_object()) throw Error("the cache index is not a JSON object");
    if (index.value("version", "") != kCacheVersion) {
      log(LogLevel::warn, "{}: written by another cairn version (\"{}\"); not used", what, index.value("version", ""));
      return;
    }
    if (!index.contains("steps") || !index["steps"].is_object()) throw Error("the cache index has no steps");
    for (const auto& [key, state] : index["steps"].items()) entries_[key] = state;
    log(LogLevel::info, "{}: {} cached steps", what, entries_.size());
  });
}

std::optional<ImageState> RegistryCache::lookup(const std::string& key) {
  const auto it = entries_.find(key);
  if (it == entries_.end()) return std::nullopt;
  ImageState state = state_from_json(it->second);
  std::vector<LayerFetch> layers;
  for (const auto& l : state.layers) layers.push_back({l.digest, static_cast<std::uint64_t>(l.size), l.diff_id});
  TransferProgress progress(ProgressMode::quiet);
  PullOptions options;
  with_context("--cache-from " + ref_.familiar(), [&] {
    const auto fetched = fetch_layers(store_, *session_, {ref_.domain, ref_.path}, layers, Unpack::now, options, progress);
    if (!fetched.empty()) log(LogLevel::info, "cache: pulled {} layers for step {}", fetched.size(), key.substr(0, 12));
  });
  return state;
}

void RegistryCache::export_steps(const std::map<std::string, ImageState>& steps) {
  const std::string what = "--cache-to " + ref_.familiar();
  with_context(what, [&] {
    const registry::Repository repo{ref_.domain, ref_.path};
    json index = {{"version", kCacheVersion}, {"steps", json::object()}};
    std::vector<BlobPush> blobs;
    json layers = json::array();
    std::set<std::string> seen;
    for (const auto& [key, state] : steps) {
      index["steps"][key] = state_to_json(state);
      for (const auto& l : state.layers)
        if (seen.insert(l.digest).second) {
          blobs.push_back({l.digest, static_cast<std::uint64_t>(l.size)});
          layers.push_back({{"mediaType", l.media_type}, {"digest", l.digest}, {"size", l.size}});
        }
    }
    TransferProgress progress(ProgressMode::quiet);
    const PushCounts counts = push_blobs(store_, *session_, repo, blobs, {}, progress);
    const std::string config = index.dump();
    const std::string config_digest = "sha256:" + sha256_hex(config);
    registry::Client client(*session_, repo, registry::Client::Access::push);
    if (!client.has_blob(config_digest)) client.upload_blob_bytes(config_digest, config);
    const json manifest = {{"schemaVersion", 2},
                           {"mediaType", store::kOciManifest},
                           {"config", {{"mediaType", kCacheConfigType}, {"digest", config_digest}, {"size", config.size()}}},
                           {"layers", layers}};
    const std::string digest = client.put_manifest(ref_.manifest_reference(), manifest.dump(), std::string(store::kOciManifest));
    if (progress_ != ProgressMode::quiet)
      fmt::print(stderr, "cache exported to {} ({} steps, {} layers: {} uploaded, {} present) {}\n",
                 ref_.familiar(), steps.size(), blobs.size(), counts.uploaded, counts.skipped + counts.mounted, digest);
  });
}

std::string parse_cache_ref(std::string_view text, std::string_view flag) {
  if (text.find('=') == std::string_view::npos) return check_cache_ref(std::string(text), flag);
  std::map<std::string, std::string> fields;
  for (std::size_t start = 0; start <= text.size();) {
    std::size_t end = text.find(',', start);
    if (end == std::string_view::npos) end = text.size();
    const std::string_view field = text.substr(start, end - start);
    const auto eq = field.find('=');
    fields[std::string(field.substr(0, eq))] = eq == std::string_view::npos ? "" : std::string(field.substr(eq + 1));
    start = end + 1;
  }
  if (fields["type"] != "registry")
    throw Error(fmt::format("{} {}: type=registry is the only cache type cairn shares (its local "
                            "cache is always used)",
                            flag, text));
  for (const auto& [key, value] : fields)
    if (key != "type" && key != "ref" && !(key == "mode" && (value == "max" || value == "min")))
      throw Error(fmt::format("{} {}: unknown field \"{}={}\" (cairn takes type=registry,ref=REF)", flag, text, key, value));
  if (fields["ref"].empty()) throw Error(fmt::format("{} {}: give ref=REGISTRY/REPOSITORY:TAG", flag, text));
  return check_cache_ref(fields["ref"], flag);
}

}  // namespace cairn::build
