// `cairn store verify` and `cairn prune`: what the images reference, and what is stale.
#include <fcntl.h>

#include <nlohmann/json.hpp>
#include <set>

#include "cairn/base/digest.hpp"
#include "cairn/base/error.hpp"
#include "cairn/base/sys.hpp"
#include "cairn/store/store.hpp"

namespace cairn::store {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

struct Reachable {
  std::set<std::string> blobs;     // hex
  std::set<std::string> layers;    // diff-id hex
  std::vector<std::string> problems;
};

Reachable reachable_from_images(const Store& store) {
  Reachable r;
  for (const auto& image : store.images()) {
    const std::string what = image.names.empty() ? image.manifest_digest : image.names.front();
    try {
      r.blobs.insert(image.manifest_digest.substr(7));
      const json manifest = json::parse(store.read_blob(image.manifest_digest));
      const std::string config_digest = manifest.at("config").at("digest");
      r.blobs.insert(config_digest.substr(7));
      for (const auto& l : manifest.at("layers")) r.blobs.insert(l.at("digest").get<std::string>().substr(7));
      const json config = json::parse(store.read_blob(config_digest));
      const json& diff_ids = config.at("rootfs").at("diff_ids");
      for (std::size_t i = 0; i < diff_ids.size(); ++i) {
        const std::string diff_id = diff_ids[i].get<std::string>();
        r.layers.insert(diff_id.substr(7));
        // A pulled image's layers stay blobs until first used: only both missing is a loss.
        const bool blob = i < manifest.at("layers").size() &&
                          store.has_blob(manifest["layers"][i].at("digest").get<std::string>());
        if (!store.has_layer(diff_id) && !blob)
          r.problems.push_back(what + ": layer " + diff_id + " is not unpacked in the store");
      }
      for (const auto& l : manifest.at("layers"))
        if (!store.has_blob(l.at("digest").get<std::string>()))
          r.problems.push_back(what + ": layer blob " + l.at("digest").get<std::string>() + " is missing");
    } catch (const std::exception& e) {
      r.problems.push_back(what + ": " + e.what());
    }
  }
  return r;
}

std::string file_digest(const fs::path& path) {
  UniqueFd fd = sys::open(path.string(), O_RDONLY);
  Sha256 hash;
  sys::read_chunks(fd.get(), path.string(), [&](std::string_view chunk) { hash.update(chunk); });
  return hash.hex_digest();
}

std::uint64_t tree_size(const fs::path& path) {
  std::uint64_t total = 0;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(path, ec); it != fs::end(it); it.increment(ec))
    if (it->is_regular_file(ec) && !it->is_symlink(ec)) total += it->file_size(ec);
  return total;
}

}  // namespace

VerifyReport Store::verify() const {
  VerifyReport report;
  Reachable r = reachable_from_images(*this);
  report.problems = std::move(r.problems);
  for (const auto& entry : fs::directory_iterator(root_ / "blobs/sha256")) {
    ++report.blobs_checked;
    const std::string name = entry.path().filename().string();
    if (file_digest(entry.path()) != name)
      report.problems.push_back("blob sha256:" + name + " does not match its digest");
  }
  for (const auto& entry : fs::directory_iterator(root_ / "cairn/layers")) {
    ++report.layers_checked;
    const layer::LayerDir dir{entry.path()};
    if (!fs::is_directory(dir.root()))
      report.problems.push_back("layer " + entry.path().filename().string() + " has no root directory");
    try {
      (void)layer::Record::load(dir.record());
    } catch (const std::exception& e) {
      report.problems.push_back(e.what());
    }
  }
  return report;
}

PruneReport Store::prune() {
  // Our own shared hold must go, or the exclusive lock would wait for ourselves.
  const std::string lock_path = (root_ / "cairn/gc.lock").string();
  gc_lock_.release();
  FileLock exclusive = FileLock::acquire(lock_path, FileLock::Mode::exclusive);
  PruneReport report;
  const Reachable r = reachable_from_images(*this);
  if (!r.problems.empty()) {
    exclusive.convert(FileLock::Mode::shared);
    gc_lock_ = std::move(exclusive);
    // What a damaged image references cannot be known: deleting could lose its data.
    throw Error("prune: the store has damaged images (" + r.problems.front() + ")")
        .hint("run `cairn store verify`, then remove or reload the damaged images");
  }
  for (const auto& entry : fs::directory_iterator(root_ / "blobs/sha256")) {
    if (r.blobs.count(entry.path().filename().string())) continue;
    report.bytes_freed += entry.file_size();
    fs::remove(entry.path());
    ++report.blobs_removed;
  }
  for (const auto& entry : fs::directory_iterator(root_ / "cairn/layers")) {
    if (r.layers.count(entry.path().filename().string())) continue;
    report.bytes_freed += tree_size(entry.path());
    // Move aside first so that a crash mid-delete leaves no half layer in layers/.
    const fs::path doomed = root_ / "cairn/tmp" / ("prune-" + entry.path().filename().string());
    fs::rename(entry.path(), doomed);
    TempDir remove_on_exit(doomed);
    ++report.layers_removed;
  }
  exclusive.convert(FileLock::Mode::shared);
  gc_lock_ = std::move(exclusive);
  return report;
}

}  // namespace cairn::store
