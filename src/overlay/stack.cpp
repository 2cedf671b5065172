// OCI layer resolution over layer directories (see cairn/overlay/stack.hpp).
//
// The central notion is a directory's chain: the layers, top-down, whose copy of the
// directory shows through in the merged view. A layer stops the chain below itself where
// it hides the lower layers: a whiteout, an opaque directory, or a non-directory at the
// directory's path or at any of its parents. lookup() looks the last name up along the
// parent's chain; list() merges the directory's chain.
//
// Cost matters (the kernel asks for every path of a 150k-entry tree), and syscalls dominate
// it: a chain costs one openat2 per layer, resolving the whole path at once with
// RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS (which also refuses to follow a symlink anywhere in
// a layer); the records, already in memory, say where whiteouts and opaque directories are.
#include "cairn/overlay/stack.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <memory>

#include "cairn/base/error.hpp"
#include "cairn/base/sys.hpp"

namespace cairn::overlay {

struct Stack::Level {
  std::size_t layer;
  int fd;          // O_PATH descriptor of the directory in that layer
  UniqueFd owned;  // holds fd, except for layer roots (the stack owns those)
};

namespace {

// "a/b/c" → {"a", "a/b", "a/b/c"}; nullopt for paths the kernel never asks for (leading,
// trailing or doubled '/', ".", "..", NUL bytes), so a name can never climb out of a layer.
std::optional<std::vector<std::string>> prefixes(std::string_view path) {
  std::vector<std::string> out;
  if (path.empty()) return out;
  for (std::size_t start = 0;;) {
    const std::size_t slash = std::min(path.find('/', start), path.size());
    const std::string_view name = path.substr(start, slash - start);
    if (name.empty() || name == "." || name == ".." || name.find('\0') != name.npos)
      return std::nullopt;
    out.emplace_back(path.substr(0, slash));
    if (slash == path.size()) return out;
    start = slash + 1;
  }
}

std::pair<std::string, std::string> split_parent(const std::string& path) {
  const std::size_t slash = path.rfind('/');
  if (slash == std::string::npos) return {"", path};
  return {path.substr(0, slash), path.substr(slash + 1)};
}

// lstat of one name in a layer directory: 1 when the layer has it, 0 when not, else -errno.
int stat_child(int dirfd, const char* name, struct stat& st) {
  if (::fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0) return 1;
  return errno == ENOENT || errno == ENOTDIR ? 0 : -errno;
}

// The host lstat says what the layer has on disk; the record says what the image means:
// owners, 07000 bits and modes the host refused, device nodes behind placeholder files.
Attributes attributes(const struct stat& st, const layer::EntryMeta* meta) {
  Attributes a;
  a.mode = st.st_mode;  // unrecorded paths are root-owned with their host mode
  a.size = st.st_size;
  a.nlink = st.st_nlink;
  a.mtime = st.st_mtim;
  a.ctime = st.st_ctim;
  a.atime = st.st_atim;
  a.host_ino = st.st_ino;
  a.host_dev = st.st_dev;
  if (meta == nullptr) return a;
  a.uid = meta->uid;
  a.gid = meta->gid;
  if (meta->mode == 0) return a;  // a bare whiteout or opaque marker records no mode
  if (meta->is_device() && S_ISREG(st.st_mode)) {
    a.mode = meta->mode;
    a.rdev = meta->rdev;
    a.size = 0;
  } else {
    // The host decides the type: a record entry cannot turn a directory into a file.
    a.mode = (st.st_mode & S_IFMT) | (meta->mode & 07777);
  }
  return a;
}

}  // namespace

Stack::Stack(std::vector<layer::LayerDir> lowers, std::optional<layer::LayerDir> upper) {
  if (upper) lowers.insert(lowers.begin(), std::move(*upper));
  if (lowers.empty()) throw Error("overlay: a layer stack needs at least one layer");
  layers_.reserve(lowers.size());
  for (auto& dir : lowers)
    layers_.push_back(open_layer(std::move(dir)));
}

Stack::Layer Stack::open_layer(layer::LayerDir dir) {
  return with_context("overlay: layer " + dir.path.string(), [&] {
    Layer l;
    const UniqueFd top = sys::open(dir.path.string(), O_PATH | O_DIRECTORY);
    // root/ itself must not be a symlink either: nothing inside a layer is followed.
    l.root = sys::open_beneath(top.get(), "root", O_PATH | O_DIRECTORY);
    l.record = layer::Record::load(dir.record());
    for (const auto& [path, meta] : l.record.entries()) {
      if (path.empty()) {
        l.opaque_root = meta.opaque;
      } else if (meta.whiteout || meta.opaque) {
        l.markers.emplace(path, meta.whiteout);
      }
      if (meta.whiteout) {
        auto [parent, name] = split_parent(path);
        l.whiteouts[parent].push_back(std::move(name));
      } else if (meta.is_device()) {
        l.device_dirs.insert(split_parent(path).first);
      }
    }
    l.dir = std::move(dir);
    return l;
  });
}

const layer::EntryMeta* Stack::meta(std::size_t layer, const std::string& path) const {
  const auto& entries = layers_[layer].record.entries();
  if (entries.empty()) return nullptr;
  const auto it = entries.find(path);
  return it == entries.end() ? nullptr : &it->second;
}

std::string Stack::where(std::size_t layer, const std::string& path) const {
  return (layers_[layer].dir.root() / path).string();
}

// The chain of prefixes[depth - 1] (the root for depth 0). Resolution stops at the first
// failing name, so a layer's openat2 error tells what it has on the way: ENOTDIR or ELOOP
// mean a non-directory (or symlink) at some prefix, which hides every layer below; ENOENT
// means a missing name, which hides nothing unless the record has a whiteout there.
std::vector<Stack::Level> Stack::chain(const std::vector<std::string>& prefixes,
                                       std::size_t depth) const {
  std::vector<Level> out;
  for (std::size_t k = 0; k < layers_.size(); ++k) {
    const Layer& l = layers_[k];
    if (depth == 0) {
      out.push_back({k, l.root.get(), UniqueFd()});
      if (l.opaque_root) break;
      continue;
    }
    const std::string& path = prefixes[depth - 1];
    const int fd = sys::try_open_beneath(l.root.get(), path, O_PATH | O_DIRECTORY);
    if (fd >= 0) {
      out.push_back({k, fd, UniqueFd(fd)});
      if (l.opaque_root || present_hides(k, prefixes, depth)) break;
    } else if (fd == -ENOTDIR || fd == -ELOOP) {
      break;
    } else if (fd != -ENOENT) {
      throw_errno("open", where(k, path), -fd);
    } else if (l.opaque_root || absent_hides(k, prefixes, depth)) {
      break;
    }
  }
  return out;
}

// The layer has every prefix as a directory: any marker on the way hides the layers below
// (a whiteout of a directory the layer has means it was recreated here: OCI applies a
// whiteout only to lower layers, so the layer's own directory replaces the lower ones).
bool Stack::present_hides(std::size_t layer, const std::vector<std::string>& prefixes,
                          std::size_t depth) const {
  const auto& markers = layers_[layer].markers;
  if (markers.empty()) return false;
  for (std::size_t i = 0; i < depth; ++i)
    if (markers.count(prefixes[i]) != 0) return true;
  return false;
}

// The layer lacks some prefix. A whiteout of prefix i hides below if the layer has prefix
// i - 1 (its parent), an opaque marker if the layer has prefix i itself. Only the first
// marker matters: any later one needs a deeper directory, which the layer cannot have.
bool Stack::absent_hides(std::size_t layer, const std::vector<std::string>& prefixes,
                         std::size_t depth) const {
  const auto& markers = layers_[layer].markers;
  if (markers.empty()) return false;
  for (std::size_t i = 1; i <= depth; ++i) {
    const auto it = markers.find(prefixes[i - 1]);
    if (it == markers.end()) continue;
    const std::size_t needed = it->second ? i - 1 : i;  // whiteout : opaque
    return needed == 0 || is_directory(layer, prefixes[needed - 1]);
  }
  return false;
}

bool Stack::is_directory(std::size_t layer, const std::string& path) const {
  const UniqueFd fd(sys::try_open_beneath(layers_[layer].root.get(), path, O_PATH | O_DIRECTORY));
  return static_cast<bool>(fd);
}

std::optional<Resolved> Stack::lookup(std::string_view path) const {
  const auto names = prefixes(path);
  if (!names) return std::nullopt;
  if (names->empty()) {
    struct stat st;
    if (::fstat(layers_[0].root.get(), &st) != 0) throw_errno("stat", where(0, ""), errno);
    return resolved(0, path, st);
  }
  const std::string& full = names->back();
  const std::string name = full.substr(full.rfind('/') + 1);  // npos + 1 == 0
  for (const Level& level : chain(*names, names->size() - 1)) {
    struct stat st;
    const int found = stat_child(level.fd, name.c_str(), st);
    if (found < 0) throw_errno("stat", where(level.layer, full), -found);
    if (found == 1) return resolved(level.layer, path, st);
    const auto& markers = layers_[level.layer].markers;
    if (const auto it = markers.find(full); it != markers.end() && it->second) break;
  }
  return std::nullopt;
}

Resolved Stack::resolved(std::size_t layer, std::string_view path, const struct stat& st) const {
  const layer::EntryMeta* m = meta(layer, std::string(path));
  Resolved r;
  r.layer = layer;
  r.path = path;
  r.attr = attributes(st, m);
  if (m != nullptr) r.xattrs = m->xattrs;
  return r;
}

std::vector<DirEntry> Stack::list(std::string_view dir) const {
  std::vector<DirEntry> out;
  const auto names = prefixes(dir);
  if (!names) return out;
  const std::string path(dir);
  std::unordered_set<std::string> seen;  // names listed or hidden by a higher layer
  for (const Level& level : chain(*names, names->size()))
    list_layer(level.layer, level.fd, path, seen, out);
  std::sort(out.begin(), out.end(),
            [](const DirEntry& a, const DirEntry& b) { return a.name < b.name; });
  return out;
}

void Stack::list_layer(std::size_t layer, int dirfd, const std::string& dir,
                       std::unordered_set<std::string>& seen, std::vector<DirEntry>& out) const {
  // An O_PATH descriptor cannot be read: reopen the same directory for getdents.
  const int fd = sys::try_open_beneath(dirfd, ".", O_RDONLY | O_DIRECTORY);
  if (fd < 0) throw_errno("open", where(layer, dir), -fd);
  std::unique_ptr<DIR, int (*)(DIR*)> stream(::fdopendir(fd), ::closedir);
  if (!stream) {
    const int error = errno;
    ::close(fd);
    throw_errno("opendir", where(layer, dir), error);
  }
  const bool may_have_devices = layers_[layer].device_dirs.count(dir) != 0;
  for (;;) {
    errno = 0;
    const dirent* e = ::readdir(stream.get());
    if (e == nullptr) {
      if (errno != 0) throw_errno("readdir", where(layer, dir), errno);
      break;
    }
    const std::string_view name = e->d_name;
    if (name == "." || name == ".." || !seen.emplace(name).second) continue;
    mode_t type = entry_type(layer, fd, dir, e->d_name, e->d_type);
    if (may_have_devices && type == S_IFREG) {
      // Device nodes are empty placeholder files on disk: only the record knows.
      const layer::EntryMeta* m =
          meta(layer, dir.empty() ? std::string(name) : dir + '/' + e->d_name);
      if (m != nullptr && m->is_device()) type = m->mode & S_IFMT;
    }
    out.push_back({std::string(name), type, layer});
  }
  // Names whited out here hide the layers below. A name this layer also has on disk was
  // listed above and stays: a whiteout never applies to its own layer.
  const auto& whiteouts = layers_[layer].whiteouts;
  if (const auto it = whiteouts.find(dir); it != whiteouts.end())
    seen.insert(it->second.begin(), it->second.end());
}

// The type from readdir's d_type; filesystems that leave it DT_UNKNOWN (XFS without
// ftype, some network filesystems) cost one fstatat.
mode_t Stack::entry_type(std::size_t layer, int dirfd, const std::string& dir, const char* name,
                         unsigned char d_type) const {
  if (d_type != DT_UNKNOWN) return DTTOIF(d_type);
  struct stat st;
  const int found = stat_child(dirfd, name, st);
  if (found < 0) throw_errno("stat", where(layer, dir.empty() ? name : dir + '/' + name), -found);
  return found == 1 ? (st.st_mode & S_IFMT) : 0;  // 0: gone meanwhile (only the upper changes)
}

}  // namespace cairn::overlay
