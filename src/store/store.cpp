#include "cairn/store/store.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <nlohmann/json.hpp>
#include <random>
#include <set>

#include "cairn/base/digest.hpp"
#include "cairn/base/error.hpp"
#include "cairn/base/log.hpp"
#include "cairn/base/sys.hpp"
#include "cairn/store/reference.hpp"

namespace cairn::store {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

std::string hex_of(std::string_view digest) {
  if (!is_sha256_digest(digest))
    throw Error("invalid digest \"" + std::string(digest) + "\": expected sha256:<64 hex digits>");
  return std::string(digest.substr(7));
}

std::string random_suffix() {
  // Reseeded in a forked child (parallel stage builders), whose copy of the generator would
  // otherwise give its parent's names.
  static thread_local std::mt19937_64 random{std::random_device{}()};
  static thread_local pid_t seeded_for = ::getpid();
  if (seeded_for != ::getpid()) {
    random.seed(std::random_device{}());
    seeded_for = ::getpid();
  }
  char buffer[17];
  std::snprintf(buffer, sizeof buffer, "%016llx", static_cast<unsigned long long>(random()));
  return buffer;
}

void fsync_path(const fs::path& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd) ::fsync(fd.get());
}

// Removes a tree even where directories lack write permission for the owner (layer
// directories keep u+rwx, but a crashed process may have left anything).
void remove_tree(const fs::path& path) {
  std::error_code ec;
  fs::remove_all(path, ec);
  if (!ec) return;
  for (auto it = fs::recursive_directory_iterator(path, ec); it != fs::end(it); it.increment(ec))
    if (it->is_directory(ec) && !it->is_symlink(ec))
      fs::permissions(it->path(), fs::perms::owner_all, fs::perm_options::add, ec);
  fs::remove_all(path, ec);
  if (ec) throw Error("remove", path.string(), ec.value());
}

std::vector<std::string> names_of(const json& descriptor) {
  std::vector<std::string> names;
  auto annotations = descriptor.find("annotations");
  if (annotations == descriptor.end()) return names;
  auto name = annotations->find(kAnnotationRefName);
  if (name != annotations->end()) names.push_back(name->get<std::string>());
  return names;
}

json descriptor_for(const ImageEntry& e, const std::string* name) {
  json d = {{"mediaType", e.media_type}, {"digest", e.manifest_digest}, {"size", e.manifest_size}};
  if (name)
    d["annotations"] = {{std::string(kAnnotationRefName), *name},
                        {std::string(kAnnotationContainerdName), *name}};
  return d;
}

std::string normalized_name(const std::string& name) { return parse_reference(name).str(); }

}  // namespace

TempDir& TempDir::operator=(TempDir&& other) noexcept {
  if (this != &other) {
    // Swap first: the old tree goes with `old`, and no member is used after its end.
    TempDir old(std::exchange(path_, std::exchange(other.path_, {})));
  }
  return *this;
}

TempDir::~TempDir() {
  if (path_.empty()) return;
  try {
    remove_tree(path_);
  } catch (const std::exception& e) {
    log(LogLevel::warn, "cannot remove temporary directory {}: {}", path_.string(), e.what());
  }
}

Store::Store(fs::path root) : root_(std::move(root)) {
  ensure_layout();
}

// Directories first; then the lock (which may clear stale temp files); then the layout
// files, whose temp files live in tmp/ and so must not be written before the lock is held.
void Store::ensure_layout() {
  std::error_code ec;
  fs::create_directories(root_ / "blobs/sha256", ec);
  if (ec) throw Error("create store directory", (root_ / "blobs/sha256").string(), ec.value())
      .hint("set storage.root in cairn.toml or --root to a writable directory");
  fs::create_directories(root_ / "cairn/layers");
  fs::create_directories(root_ / "cairn/tmp");
  clean_stale_temp();
  const std::string tmp = (root_ / "cairn/tmp").string();
  if (fs::exists(root_ / "oci-layout") && fs::exists(root_ / "index.json")) return;
  FileLock lock = FileLock::acquire((root_ / "cairn/index.lock").string(), FileLock::Mode::exclusive);
  if (!fs::exists(root_ / "oci-layout"))
    sys::write_file_atomic((root_ / "oci-layout").string(), R"({"imageLayoutVersion":"1.0.0"})",
                           0644, tmp);
  if (!fs::exists(root_ / "index.json"))
    sys::write_file_atomic((root_ / "index.json").string(),
                           json{{"schemaVersion", 2}, {"mediaType", kOciIndex},
                                {"manifests", json::array()}}.dump(),
                           0644, tmp);
}

// Leftovers of killed processes may be removed only while no other process uses the store.
void Store::clean_stale_temp() {
  const std::string lock_path = (root_ / "cairn/gc.lock").string();
  gc_lock_ = FileLock::try_acquire(lock_path, FileLock::Mode::exclusive);
  if (gc_lock_) {
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(root_ / "cairn/tmp", ec)) remove_tree(entry.path());
    gc_lock_.convert(FileLock::Mode::shared);
  } else {
    gc_lock_ = FileLock::acquire(lock_path, FileLock::Mode::shared);
  }
}

fs::path Store::blob_path(std::string_view digest) const {
  return root_ / "blobs/sha256" / hex_of(digest);
}

bool Store::has_blob(std::string_view digest) const { return fs::exists(blob_path(digest)); }

std::string Store::read_blob(std::string_view digest) const {
  std::string data;
  try {
    data = sys::read_file(blob_path(digest).string());
  } catch (Error& e) {
    e.context("read blob " + std::string(digest));
    throw;
  }
  if ("sha256:" + sha256_hex(data) != digest)
    throw Error("blob " + std::string(digest) + " is corrupt: its content has another digest")
        .hint("run `cairn store verify`, then remove and reload the image");
  return data;
}

std::string Store::put_blob(std::string_view data) {
  const std::string digest = "sha256:" + sha256_hex(data);
  const fs::path target = blob_path(digest);
  if (!fs::exists(target))
    sys::write_file_atomic(target.string(), data, 0644, (root_ / "cairn/tmp").string());
  return digest;
}

void Store::adopt_blob(const fs::path& file, std::string_view digest) {
  const fs::path target = blob_path(digest);
  if (fs::exists(target)) return;
  fsync_path(file);
  if (::rename(file.c_str(), target.c_str()) != 0)
    throw Error("rename blob into", target.string(), errno);
  fsync_path(target.parent_path());
}

TempDir Store::make_temp(std::string_view purpose) {
  for (;;) {  // a name another process already has is never shared
    fs::path path = root_ / "cairn/tmp" / (std::string(purpose) + "-" + random_suffix());
    if (fs::create_directory(path)) return TempDir(path);
  }
}

bool Store::has_layer(std::string_view diff_id) const {
  return fs::exists(layer_dir(diff_id).record()) || fs::exists(layer_dir(diff_id).root());
}

layer::LayerDir Store::layer_dir(std::string_view diff_id) const {
  return layer::LayerDir{root_ / "cairn/layers" / hex_of(diff_id)};
}

void Store::adopt_layer(const layer::LayerDir& unpacked, std::string_view diff_id) {
  const fs::path target = layer_dir(diff_id).path;
  fsync_path(unpacked.path);
  if (::rename(unpacked.path.c_str(), target.c_str()) != 0) {
    if (errno == EEXIST || errno == ENOTEMPTY) return;  // another process was first
    throw Error("rename layer into", target.string(), errno);
  }
  fsync_path(target.parent_path());
}

std::vector<ImageEntry> Store::images() const {
  const json index = json::parse(sys::read_file((root_ / "index.json").string()));
  std::vector<ImageEntry> out;
  for (const auto& d : index.at("manifests")) {
    const std::string digest = d.at("digest").get<std::string>();
    auto it = std::find_if(out.begin(), out.end(),
                           [&](const ImageEntry& e) { return e.manifest_digest == digest; });
    if (it == out.end()) {
      out.push_back({digest, d.at("size").get<std::int64_t>(), {},
                     d.value("mediaType", std::string(kOciManifest))});
      it = out.end() - 1;
    }
    for (auto& name : names_of(d)) it->names.push_back(std::move(name));
  }
  return out;
}

template <typename Change>
void Store::update_index(Change&& change) {
  FileLock lock =
      FileLock::acquire((root_ / "cairn/index.lock").string(), FileLock::Mode::exclusive);
  std::vector<ImageEntry> entries = images();
  change(entries);
  json manifests = json::array();
  for (const auto& e : entries) {
    if (e.names.empty()) manifests.push_back(descriptor_for(e, nullptr));
    for (const auto& name : e.names) manifests.push_back(descriptor_for(e, &name));
  }
  const json index = {{"schemaVersion", 2}, {"mediaType", kOciIndex}, {"manifests", manifests}};
  sys::write_file_atomic((root_ / "index.json").string(), index.dump(), 0644,
                         (root_ / "cairn/tmp").string());
}

void Store::add_image(const std::string& manifest_digest, std::int64_t size,
                      const std::vector<std::string>& names, std::string_view media_type) {
  std::vector<std::string> full;
  for (const auto& n : names) full.push_back(normalized_name(n));
  update_index([&](std::vector<ImageEntry>& entries) {
    for (auto& e : entries)
      std::erase_if(e.names, [&](const std::string& n) {
        return std::find(full.begin(), full.end(), n) != full.end();
      });
    auto it = std::find_if(entries.begin(), entries.end(), [&](const ImageEntry& e) {
      return e.manifest_digest == manifest_digest;
    });
    if (it == entries.end()) {
      entries.push_back({manifest_digest, size, {}, std::string(media_type)});
      it = entries.end() - 1;
    }
    for (const auto& n : full)
      if (std::find(it->names.begin(), it->names.end(), n) == it->names.end()) it->names.push_back(n);
    // An untagged image that lost its last name to another stays until pruned or removed.
  });
}

bool Store::remove_name(const std::string& name) {
  const std::string full = normalized_name(name);
  bool removed = false;
  update_index([&](std::vector<ImageEntry>& entries) {
    for (auto& e : entries) {
      const auto before = e.names.size();
      std::erase(e.names, full);
      removed = removed || e.names.size() != before;
    }
  });
  return removed;
}

void Store::remove_image(const std::string& manifest_digest) {
  update_index([&](std::vector<ImageEntry>& entries) {
    std::erase_if(entries, [&](const ImageEntry& e) { return e.manifest_digest == manifest_digest; });
  });
}

std::optional<ImageEntry> Store::resolve(std::string_view name_or_id) const {
  const std::vector<ImageEntry> all = images();
  std::string id(name_or_id);
  if (id.rfind("sha256:", 0) == 0) id = id.substr(7);
  const bool hex = id.size() >= 4 && id.size() <= 64 &&
                   id.find_first_not_of("0123456789abcdef") == std::string::npos;
  if (hex) {
    std::optional<ImageEntry> found;
    for (const auto& e : all) {
      const std::string config = image_config_digest(*this, e).substr(7);
      if (config.rfind(id, 0) == 0 || e.manifest_digest.substr(7).rfind(id, 0) == 0) {
        if (found && found->manifest_digest != e.manifest_digest)
          throw Error("image ID prefix \"" + std::string(name_or_id) + "\" is ambiguous");
        found = e;
      }
    }
    if (found) return found;
  }
  std::string full;
  try {
    full = normalized_name(std::string(name_or_id));
  } catch (const std::invalid_argument&) {
    return std::nullopt;
  }
  for (const auto& e : all)
    if (std::find(e.names.begin(), e.names.end(), full) != e.names.end()) return e;
  return std::nullopt;
}

std::string image_config_digest(const Store& store, const ImageEntry& image) {
  const json manifest = json::parse(store.read_blob(image.manifest_digest));
  return manifest.at("config").at("digest").get<std::string>();
}

}  // namespace cairn::store
