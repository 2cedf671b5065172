// `cairn pull`: a manifest (the platform's, from an index), its config, and each layer blob
// the store lacks — downloaded in parallel, verified before it is moved into the store. The
// registry build cache fetches layers here too, unpacking each while it arrives.
#include <fmt/format.h>
#include <fcntl.h>
#include <sys/socket.h>

#include <nlohmann/json.hpp>
#include <thread>

#include "cairn/base/digest.hpp"
#include "cairn/base/error.hpp"
#include "cairn/base/log.hpp"
#include "cairn/base/sys.hpp"
#include "cairn/build/transfer.hpp"
#include "cairn/store/layer_tar.hpp"
#include "transfer_progress.hpp"
#include "transfer_internal.hpp"
#include "transfer_pool.hpp"

namespace cairn::build {
namespace fs = std::filesystem;
using json = nlohmann::json;

std::string Platform::str() const {
  return os + "/" + architecture + (variant.empty() ? "" : "/" + variant);
}

Platform parse_platform(const std::string& text) {
  Platform p;
  if (text.empty()) {
    p.architecture = store::host_architecture();
    return p;
  }
  std::vector<std::string> parts;
  std::size_t start = 0;
  for (std::size_t slash; (slash = text.find('/', start)) != std::string::npos; start = slash + 1)
    parts.push_back(text.substr(start, slash - start));
  parts.push_back(text.substr(start));
  for (const auto& part : parts)
    if (part.empty() || part.find_first_of(" \t") != std::string::npos)
      throw Error("--platform " + text + ": write it as os/arch[/variant], e.g. linux/amd64");
  if (parts.size() == 1) {
    p.architecture = parts[0];
  } else if (parts.size() <= 3) {
    p.os = parts[0];
    p.architecture = parts[1];
    if (parts.size() == 3) p.variant = parts[2];
  } else {
    throw Error("--platform " + text + ": write it as os/arch[/variant], e.g. linux/amd64");
  }
  return p;
}

std::vector<store::Reference> pull_candidates(const std::string& ref,
                                              const std::vector<std::string>& search) {
  const std::string first = ref.substr(0, ref.find('/'));
  const bool qualified = ref.find('/') != std::string::npos &&
                         (first.find_first_of(".:") != std::string::npos || first == "localhost");
  if (qualified || search.empty()) return {store::parse_reference(ref)};
  std::vector<store::Reference> out;
  for (const auto& domain : search) {
    // docker.io's rules (library/ for one component) come from normalising it as docker does.
    out.push_back(store::parse_reference(domain == "docker.io" ? ref : domain + "/" + ref));
  }
  return out;
}

namespace {

json parse_object(const std::string& bytes, const std::string& what) {
  json j = json::parse(bytes, nullptr, false);
  if (j.is_discarded() || !j.is_object()) throw Error(what + " is not a JSON object");
  return j;
}

// The index entry for the platform: os and architecture must match; a variant, when asked
// for, too (an entry without one matches any).
const json* choose_platform(const json& index, const Platform& want) {
  const json* fallback = nullptr;
  if (!index.contains("manifests") || !index["manifests"].is_array()) return nullptr;
  for (const auto& d : index["manifests"]) {
    if (!d.contains("platform")) continue;
    const json& p = d["platform"];
    if (p.value("os", "") != want.os || p.value("architecture", "") != want.architecture) continue;
    const std::string variant = p.value("variant", "");
    if (want.variant.empty() || variant == want.variant) return &d;
    if (variant.empty() && !fallback) fallback = &d;
  }
  return fallback;
}

std::string platforms_of(const json& index) {
  std::string out;
  for (const auto& d : index.value("manifests", json::array()))
    if (d.contains("platform")) {
      const json& p = d["platform"];
      std::string one = p.value("os", "?") + "/" + p.value("architecture", "?");
      if (p.contains("variant")) one += "/" + p["variant"].get<std::string>();
      out += (out.empty() ? "" : ", ") + one;
    }
  return out;
}

// The image manifest REF names for the platform (following an index).
registry::Manifest image_manifest(registry::Client& client, const std::string& reference,
                                  const Platform& platform) {
  registry::Manifest m = client.get_manifest(reference);
  if (m.media_type == store::kOciIndex || m.media_type == registry::kDockerManifestList) {
    const json index = parse_object(m.bytes, "index " + m.digest);
    const json* chosen = choose_platform(index, platform);
    if (!chosen)
      throw Error(fmt::format("{}:{} has no image for platform {} (it has: {})", client.repository().str(),
                              reference, platform.str(), platforms_of(index)))
          .hint("choose one with --platform");
    m = client.get_manifest(chosen->at("digest").get<std::string>());
  }
  if (m.media_type != store::kOciManifest && m.media_type != store::kDockerManifest)
    throw Error(fmt::format("{}:{}: unsupported manifest type \"{}\"", client.repository().str(),
                            reference, m.media_type));
  return m;
}

// Downloads one layer blob and, verified, moves it into the store.
void fetch_blob_only(store::Store& store, registry::Client& client, const LayerFetch& job,
                     std::size_t line, TransferProgress& progress) {
  store::TempDir temp = store.make_temp("pull");
  const fs::path blob = temp.path() / "blob";
  progress.state(line, "Downloading");
  client.fetch_blob(job.digest, job.size, blob, {},
                    [&](std::uint64_t done, std::uint64_t) { progress.bytes(line, done); });
  store.adopt_blob(blob, job.digest);
  progress.state(line, "Pull complete");
}

// Downloads one layer blob while unpacking it (the bytes reach the unpacker through a
// socket, so an unpacker that fails ends the stream with EPIPE rather than a signal), then
// checks both digests and moves blob and layer into the store.
void fetch_layer(store::Store& store, registry::Client& client, const LayerFetch& job,
                 std::size_t line, const PullOptions& options, TransferProgress& progress) {
  store::TempDir temp = store.make_temp("pull");
  const fs::path blob = temp.path() / "blob";
  const layer::LayerDir dir{temp.path() / "layer"};
  auto [reader, writer] = sys::socketpair();
  store::UnpackResult unpacked;
  std::exception_ptr unpack_error;
  std::thread unpacker([&, in = std::move(reader)]() mutable {
    try {
      unpacked = store::unpack_layer(in.get(), dir, options.limits);
    } catch (...) {
      unpack_error = std::current_exception();
    }
    in.reset();  // a writer still sending gets EPIPE
  });
  bool streamed = true;
  registry::Client::BlobSink sink;
  sink.data = [&](std::string_view chunk) {
    while (streamed && !chunk.empty()) {
      const ssize_t n = ::send(writer.get(), chunk.data(), chunk.size(), MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) streamed = false;  // the unpacker stopped: its error is reported below
      else chunk.remove_prefix(static_cast<std::size_t>(n));
    }
  };
  sink.restart = [&] { streamed = false; };
  progress.state(line, "Downloading");
  try {
    client.fetch_blob(job.digest, job.size, blob, sink,
                      [&](std::uint64_t done, std::uint64_t) { progress.bytes(line, done); });
  } catch (...) {
    writer.reset();
    unpacker.join();
    throw;
  }
  writer.reset();
  unpacker.join();
  if (!streamed && !unpack_error) {
    // The registry restarted the blob mid-way: unpack the verified file instead.
    fs::remove_all(dir.path);
    const UniqueFd in = sys::open(blob.string(), O_RDONLY);
    unpacked = store::unpack_layer(in.get(), dir, options.limits);
  } else if (unpack_error) {
    with_context("layer " + job.digest, [&] { std::rethrow_exception(unpack_error); });
  }
  progress.state(line, "Verifying");
  if (unpacked.diff_id != job.diff_id)
    throw Error(fmt::format("layer {}: its content has diff_id {} but the image config says {}",
                            job.digest, unpacked.diff_id, job.diff_id));
  store.adopt_blob(blob, job.digest);
  if (!store.has_layer(job.diff_id)) store.adopt_layer(dir, job.diff_id);
  progress.state(line, "Pull complete");
}

std::vector<std::string> diff_ids_of(const json& config, const std::string& what) {
  try {
    return config.at("rootfs").at("diff_ids").get<std::vector<std::string>>();
  } catch (const json::exception&) {
    throw Error(what + " has no rootfs.diff_ids");
  }
}

PullResult pull_one(store::Store& store, registry::Session& session, const store::Reference& ref,
                    const PullOptions& options, TransferProgress& progress) {
  const registry::Repository repo{ref.domain, ref.path};
  registry::Client client(session, repo, registry::Client::Access::pull, true);
  const std::string reference = ref.manifest_reference();
  const Platform platform = parse_platform(options.platform.value_or(""));
  const registry::Manifest m = image_manifest(client, reference, platform);
  progress.message(fmt::format("{}: Pulling from {}", reference, ref.path));
  const json manifest = parse_object(m.bytes, "manifest " + m.digest);
  const std::string config_digest = manifest.at("config").at("digest").get<std::string>();
  const std::string config_bytes = store.has_blob(config_digest) ? store.read_blob(config_digest)
                                                                 : client.fetch_blob_bytes(config_digest);
  const json config = parse_object(config_bytes, "config " + config_digest);
  // `cairn pull --platform` must match a single-platform image too, as docker pull refuses
  // it (a build only warns, as BuildKit: its RUN steps then say what is wrong).
  if (options.platform && options.require_platform && (config.value("architecture", "") != platform.architecture ||
                           config.value("os", "") != platform.os))
    throw Error(fmt::format("{} is for {}/{}, not the platform asked for ({})", ref.familiar(),
                            config.value("os", "?"), config.value("architecture", "?"), platform.str()));
  const auto diff_ids = diff_ids_of(config, "config " + config_digest);
  const json& layers = manifest.at("layers");
  if (layers.size() != diff_ids.size())
    throw Error(fmt::format("manifest {} lists {} layers but its config {} diff_ids", m.digest,
                            layers.size(), diff_ids.size()));
  PullResult result;
  std::vector<LayerFetch> jobs;
  for (std::size_t i = 0; i < layers.size(); ++i) {
    const std::string media_type = layers[i].value("mediaType", "");
    const std::string digest = layers[i].at("digest").get<std::string>();
    if (!store::known_layer_type(media_type))
      throw Error(fmt::format("layer {} has media type \"{}\", which cairn cannot unpack", digest, media_type));
    if (!is_sha256_digest(digest)) throw Error("manifest " + m.digest + ": invalid layer digest \"" + digest + "\"");
    jobs.push_back({digest, layers[i].at("size").get<std::uint64_t>(), diff_ids[i]});
  }
  result.layers_present = jobs.size();
  jobs = fetch_layers(store, session, repo, jobs, Unpack::later, options, progress);
  result.layers_present -= jobs.size();
  result.layers_fetched = jobs.size();
  store.put_blob(config_bytes);
  store.put_blob(m.bytes);
  result.reference = ref.str();
  store.add_image(m.digest, static_cast<std::int64_t>(m.bytes.size()), {result.reference}, m.media_type);
  result.image = *store.resolve(result.reference);
  result.digest = m.digest;
  progress.message("Digest: " + m.digest);
  progress.message(fmt::format("Status: {} for {}", jobs.empty() ? "Image is up to date" : "Downloaded newer image",
                               ref.familiar()));
  return result;
}

}  // namespace

std::vector<LayerFetch> fetch_layers(store::Store& store, registry::Session& session,
                                     const registry::Repository& repo,
                                     const std::vector<LayerFetch>& layers, Unpack unpack,
                                     const PullOptions& options, TransferProgress& progress) {
  std::vector<LayerFetch> missing;
  std::vector<std::size_t> lines;
  for (const auto& l : layers) {
    if (store.has_blob(l.digest) && (unpack == Unpack::later || store.has_layer(l.diff_id))) {
      progress.add(l.digest, l.size, "Already exists");
      continue;
    }
    if (std::any_of(missing.begin(), missing.end(), [&](const LayerFetch& m) { return m.digest == l.digest; }))
      continue;  // the same layer twice in one image
    missing.push_back(l);
    lines.push_back(progress.add(l.digest, l.size, "Waiting"));
  }
  run_pool(missing.size(), static_cast<std::size_t>(session.settings().parallel), [&](std::size_t i) {
    registry::Client worker(session, repo, registry::Client::Access::pull, true);
    if (unpack == Unpack::now)
      fetch_layer(store, worker, missing[i], lines[i], options, progress);
    else
      fetch_blob_only(store, worker, missing[i], lines[i], progress);
  });
  return missing;
}

PullResult pull_image(store::Store& store, registry::Session& session, const std::string& text,
                      const PullOptions& options) {
  std::vector<store::Reference> candidates;
  try {
    candidates = pull_candidates(text, session.settings().search);
  } catch (const std::invalid_argument& e) {
    throw Error("pull " + text + ": " + e.what());
  }
  TransferProgress progress(options.progress);
  for (std::size_t i = 0;; ++i) {
    try {
      return pull_one(store, session, candidates[i], options, progress);
    } catch (Error& e) {
      e.context("pull " + candidates[i].familiar());
      if (i + 1 >= candidates.size()) throw;
      log(LogLevel::info, "{}; trying {}", e.what(), candidates[i + 1].str());
    }
  }
}

}  // namespace cairn::build
