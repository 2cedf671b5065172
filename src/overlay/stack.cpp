// OCI layer resolution over layer directories (see cairn/overlay/stack.hpp).
//
// The central notion is a directory's chain: the layers, top-down, whose copy of the
// directory shows through in the merged view. A child's chain is derived from its parent's:
// each layer of the parent's chain that has the child as a directory continues it, until a
// layer hides the ones below — a whiteout or a non-directory of that name, or an opaque
// directory. So a lookup costs one fstatat per layer of the parent's chain (plus an openat
// per layer for a directory), never a walk from the root: the kernel asks for every path of
// a 150k-entry tree, and syscalls dominate that cost.
#include "cairn/overlay/stack.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>

#include "cairn/base/error.hpp"
#include "cairn/base/sys.hpp"
#include "paths.hpp"

namespace cairn::overlay {
namespace {

bool valid_name(std::string_view name) {
  return !name.empty() && name != "." && name != ".." && name.find('/') == name.npos &&
         name.find('\0') == name.npos;
}

// "a/b/c" → {"a", "b", "c"}; nullopt for paths the kernel never asks for (leading,
// trailing or doubled '/', ".", "..", NUL bytes), so a name can never climb out of a layer.
std::optional<std::vector<std::string_view>> components(std::string_view path) {
  std::vector<std::string_view> out;
  if (path.empty()) return out;
  for (std::size_t start = 0;;) {
    const std::size_t slash = std::min(path.find('/', start), path.size());
    const std::string_view name = path.substr(start, slash - start);
    if (!valid_name(name)) return std::nullopt;
    out.push_back(name);
    if (slash == path.size()) return out;
    start = slash + 1;
  }
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
  a.blocks = st.st_blocks;
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

Attributes host_attributes(const struct stat& st) {
  Attributes a = attributes(st, nullptr);
  a.uid = st.st_uid;
  a.gid = st.st_gid;
  a.rdev = st.st_rdev;
  return a;
}

// containers/storage writes the whiteouts of layers it unpacks for a mount program as
// AUFS-style ".wh.NAME" files (and ".wh..wh..opq" for opaque directories), and
// fuse-overlayfs honours them: so does a kernel-format layer here.
bool aufs_whiteout(int dirfd, const std::string& name, bool prefix = true) {
  struct stat st;
  const std::string marker = prefix ? ".wh." + name : name;
  return ::fstatat(dirfd, marker.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0;
}

// The kernel's opaque marker (either namespace; unprivileged overlays use user.*) on the
// directory `name` in the directory open as `parent_fd`.
bool kernel_opaque(int parent_fd, std::string_view name) {
  const std::string proc = join(proc_path(parent_fd), name);
  // fuse-overlayfs marks its own with user.fuseoverlayfs.opaque.
  for (const char* name :
       {"trusted.overlay.opaque", "user.overlay.opaque", "user.fuseoverlayfs.opaque"}) {
    char value[2];
    const ssize_t n = ::getxattr(proc.c_str(), name, value, sizeof value);
    if (n == 1 && value[0] == 'y') return true;
  }
  return false;
}

}  // namespace

Stack::Stack(std::vector<LayerSource> layers, bool has_upper) : has_upper_(has_upper) {
  if (layers.empty()) throw Error("overlay: a layer stack needs at least one layer");
  std::vector<dev_t> devices;
  for (const LayerSource& source : layers) {
    auto l = open_layer(source);
    struct stat st;
    if (::fstat(l->root.get(), &st) != 0) throw_errno("stat", source.path.string(), errno);
    auto it = std::find(devices.begin(), devices.end(), st.st_dev);
    if (it == devices.end()) it = devices.insert(devices.end(), st.st_dev);
    l->dev_slot = static_cast<unsigned>(it - devices.begin());
    layers_.push_back(std::move(l));
  }
}

namespace {
std::vector<LayerSource> cairn_sources(std::vector<layer::LayerDir> lowers,
                                       std::optional<layer::LayerDir>& upper) {
  std::vector<LayerSource> out;
  if (upper) out.push_back({upper->path, Format::cairn});
  for (auto& dir : lowers) out.push_back({dir.path, Format::cairn});
  return out;
}
}  // namespace

Stack::Stack(std::vector<layer::LayerDir> lowers, std::optional<layer::LayerDir> upper)
    : Stack(cairn_sources(std::move(lowers), upper), upper.has_value()) {}

std::unique_ptr<Stack::Layer> Stack::open_layer(const LayerSource& source) {
  return with_context("overlay: layer " + source.path.string(), [&] {
    auto l = std::make_unique<Layer>();
    l->format = source.format;
    l->path = source.path;
    if (source.format == Format::kernel) {
      l->root = sys::open(source.path.string(), O_PATH | O_DIRECTORY);
      return l;
    }
    const layer::LayerDir dir{source.path};
    const UniqueFd top = sys::open(dir.path.string(), O_PATH | O_DIRECTORY);
    // root/ itself must not be a symlink either: nothing inside a layer is followed.
    l->root = sys::open_beneath(top.get(), "root", O_PATH | O_DIRECTORY);
    l->record_file = dir.record();
    l->record = layer::Record::load(dir.record());
    for (const auto& [path, meta] : l->record.entries()) index_meta(*l, path, meta);
    return l;
  });
}

// The derived lookup tables of one record entry.
void Stack::index_meta(Layer& l, const std::string& path, const layer::EntryMeta& meta) {
  if (path.empty()) {
    l.opaque_root = meta.opaque;
    return;
  }
  if (meta.whiteout || meta.opaque) l.markers[path] = meta.whiteout;
  auto [parent, name] = split_parent(path);
  if (meta.whiteout) l.whiteouts[parent].insert(std::move(name));
  if (meta.is_device()) l.device_dirs.insert(std::move(parent));
}

void Stack::unindex_meta(Layer& l, const std::string& path) {
  if (path.empty()) {
    l.opaque_root = false;
    return;
  }
  l.markers.erase(path);
  auto [parent, name] = split_parent(path);
  if (auto it = l.whiteouts.find(parent); it != l.whiteouts.end()) it->second.erase(name);
  // device_dirs only ever over-approximates: it costs a record lookup, never a wrong answer.
}

const layer::EntryMeta* Stack::meta(std::size_t layer, const std::string& path) const {
  const auto& entries = layers_[layer]->record.entries();
  if (entries.empty()) return nullptr;
  const auto it = entries.find(path);
  return it == entries.end() ? nullptr : &it->second;
}

std::optional<bool> Stack::marker(std::size_t layer, const std::string& path) const {
  const auto& markers = layers_[layer]->markers;
  if (markers.empty()) return std::nullopt;
  const auto it = markers.find(path);
  if (it == markers.end()) return std::nullopt;
  return it->second;
}

std::string Stack::where(std::size_t layer, const std::string& path) const {
  const Layer& l = *layers_[layer];
  return (l.format == Format::cairn ? l.path / "root" / path : l.path / path).string();
}

bool Stack::is_whiteout(std::size_t layer, const struct stat& st) const {
  return layers_[layer]->format == Format::kernel && S_ISCHR(st.st_mode) && st.st_rdev == 0;
}

// Whether a layer that has the directory `path` (as `child_fd`) hides the layers below.
// A whiteout of a directory the layer has means it was recreated here: OCI applies a
// whiteout only to lower layers, so the layer's own directory replaces the lower ones.
bool Stack::hides_below(std::size_t layer, const std::string& path, int parent_fd,
                        std::string_view name) const {
  if (layers_[layer]->format == Format::kernel)
    return kernel_opaque(parent_fd, name) ||
           aufs_whiteout(parent_fd, std::string(name) + "/.wh..wh..opq", false);
  return marker(layer, path).has_value();
}

Chain Stack::root_chain() const {
  Chain chain;
  for (std::size_t k = 0; k < layers_.size(); ++k) {
    chain.add(k, layers_[k]->root.get());
    if (layers_[k]->opaque_root) break;
  }
  return chain;
}

namespace {
ino_t overlay_ino(const struct stat& st, unsigned dev_slot) {
  return static_cast<ino_t>(st.st_ino | (static_cast<std::uint64_t>(dev_slot) << 56));
}
}  // namespace

std::optional<Resolved> Stack::lookup_in(const Chain& chain, const std::string& dir,
                                         std::string_view name_view, Chain* child) const {
  if (!valid_name(name_view)) return std::nullopt;
  const std::string name(name_view);
  const std::string path = join(dir, name);
  std::shared_lock lock(upper_mutex_, std::defer_lock);
  if (has_upper_) lock.lock();
  std::optional<Resolved> found;
  const bool wh_name = name.rfind(".wh.", 0) == 0;
  for (const Chain::Level& level : chain.levels()) {
    const bool kernel = layers_[level.layer]->format == Format::kernel;
    if (kernel && wh_name) continue;  // an AUFS-style marker, never an entry
    struct stat st;
    const int present = stat_child(level.fd, name.c_str(), st);
    if (present < 0) throw_errno("stat", where(level.layer, path), -present);
    if (present == 0) {
      if (marker(level.layer, path) == true) break;
      if (kernel && aufs_whiteout(level.fd, name)) break;
      continue;
    }
    if (is_whiteout(level.layer, st)) break;
    if (!found) {
      found = resolved(level.layer, path, st);
      if (!S_ISDIR(st.st_mode) && found->data_layer == level.layer) return found;
      if (!S_ISDIR(st.st_mode)) continue;  // a metacopy: the data is further down
    } else if (!S_ISDIR(found->attr.mode)) {
      // The data of a metacopy: the next regular file of the same name.
      if (S_ISREG(st.st_mode)) {
        found->data_layer = level.layer;
        found->attr.size = st.st_size;
        found->attr.blocks = st.st_blocks;
      }
      break;
    } else if (!S_ISDIR(st.st_mode)) {
      break;  // a non-directory hides the directories below it
    }
    // A merged directory's number is its bottom-most copy's: a copy-up does not change it.
    found->attr.ino = overlay_ino(st, layers_[level.layer]->dev_slot);
    if (child != nullptr) {
      const int fd = ::openat(level.fd, name.c_str(),
                              O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (fd < 0) {
        if (errno == ENOENT || errno == ENOTDIR) break;  // changed meanwhile (upper only)
        throw_errno("open", where(level.layer, path), errno);
      }
      child->add(level.layer, UniqueFd(fd));
    }
    // Whether the bottom-most layer hides what is below it does not matter.
    const bool last = &level == &chain.levels().back();
    if (!last && hides_below(level.layer, path, level.fd, name)) break;
  }
  if (found && found->data_layer == SIZE_MAX) {
    // A metacopy whose lower file is gone (cannot happen in a consistent stack): empty.
    found->data_layer = found->layer;
    found->attr.size = 0;
  }
  return found;
}

Resolved Stack::directory(const Chain& chain, const std::string& path) const {
  const Chain::Level& top = chain.levels().front();
  struct stat st;
  if (::fstat(top.fd, &st) != 0) throw_errno("stat", where(top.layer, path), errno);
  std::shared_lock lock(upper_mutex_, std::defer_lock);
  if (has_upper_) lock.lock();
  return resolved(top.layer, path, st);
}

Resolved Stack::resolved(std::size_t layer, std::string path, const struct stat& st) const {
  Resolved r;
  r.layer = layer;
  r.data_layer = layer;
  const Layer& l = *layers_[layer];
  if (l.format == Format::kernel) {
    r.attr = host_attributes(st);
  } else {
    const layer::EntryMeta* m = meta(layer, path);
    r.attr = attributes(st, m);
    if (m != nullptr) {
      r.xattrs = m->xattrs;
      if (m->origin != 0) r.attr.ino = static_cast<ino_t>(m->origin);
      // The data is below; lookup_in moves data_layer there (SIZE_MAX until it does).
      if (m->metacopy && S_ISREG(st.st_mode)) r.data_layer = SIZE_MAX;
    }
  }
  if (r.attr.ino == 0) r.attr.ino = overlay_ino(st, l.dev_slot);
  r.path = std::move(path);
  return r;
}

std::optional<Resolved> Stack::lookup(std::string_view path) const {
  const auto names = components(path);
  if (!names) return std::nullopt;
  Chain chain = root_chain();
  if (names->empty()) {
    struct stat st;
    if (::fstat(layers_[0]->root.get(), &st) != 0) throw_errno("stat", where(0, ""), errno);
    std::shared_lock lock(upper_mutex_, std::defer_lock);
    if (has_upper_) lock.lock();
    Resolved r = resolved(0, "", st);
    struct stat bottom;
    if (::fstat(chain.levels().back().fd, &bottom) == 0)
      r.attr.ino = overlay_ino(bottom, layers_[chain.levels().back().layer]->dev_slot);
    return r;
  }
  std::string dir;
  for (std::size_t i = 0; i < names->size(); ++i) {
    const bool last = i + 1 == names->size();
    Chain next;
    auto found = lookup_in(chain, dir, (*names)[i], last ? nullptr : &next);
    if (!found) return std::nullopt;
    if (last) {
      if (found->data_layer == SIZE_MAX) found->data_layer = found->layer;
      return found;
    }
    if (!S_ISDIR(found->attr.mode)) return std::nullopt;
    chain = std::move(next);
    dir = std::move(found->path);
  }
  return std::nullopt;
}

std::vector<DirEntry> Stack::list(std::string_view dir) const {
  const auto names = components(dir);
  if (!names) return {};
  Chain chain = root_chain();
  std::string path;
  for (const std::string_view name : *names) {
    Chain next;
    auto found = lookup_in(chain, path, name, &next);
    if (!found || !S_ISDIR(found->attr.mode)) return {};
    chain = std::move(next);
    path = std::move(found->path);
  }
  auto out = list(chain, path);
  std::sort(out.begin(), out.end(),
            [](const DirEntry& a, const DirEntry& b) { return a.name < b.name; });
  return out;
}

std::vector<DirEntry> Stack::list(const Chain& chain, const std::string& dir) const {
  std::vector<DirEntry> out;
  std::unordered_set<std::string> seen;  // names listed or hidden by a higher layer
  std::shared_lock lock(upper_mutex_, std::defer_lock);
  if (has_upper_) lock.lock();
  for (const Chain::Level& level : chain.levels())
    list_layer(level.layer, level.fd, dir, seen, out);
  return out;
}

namespace {

// The names of a directory, read with getdents64 into a per-thread buffer: opendir's
// 32 KiB DIR allocation per listing made the allocator grow and trim its heap each time.
template <typename OnEntry>
int for_each_entry(int fd, OnEntry&& on_entry) {
  struct linux_dirent64 {
    ino64_t d_ino;
    off64_t d_off;
    unsigned short d_reclen;
    unsigned char d_type;
    char d_name[];
  };
  thread_local std::vector<char> buffer(1 << 16);
  for (;;) {
    const long n = ::syscall(SYS_getdents64, fd, buffer.data(), buffer.size());
    if (n < 0) return errno;
    if (n == 0) return 0;
    for (long at = 0; at < n;) {
      const auto* e = reinterpret_cast<const linux_dirent64*>(buffer.data() + at);
      at += e->d_reclen;
      const char* name = e->d_name;
      if (name[0] == '.' && (name[1] == '\0' || (name[1] == '.' && name[2] == '\0'))) continue;
      on_entry(name, e->d_type);
    }
  }
}

}  // namespace

void Stack::list_layer(std::size_t layer, int dirfd, const std::string& dir,
                       std::unordered_set<std::string>& seen, std::vector<DirEntry>& out) const {
  // An O_PATH descriptor cannot be read: reopen the same directory for getdents.
  const UniqueFd fd(::openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd) throw_errno("open", where(layer, dir), errno);
  const Layer& l = *layers_[layer];
  const bool may_have_devices = l.device_dirs.count(dir) != 0;
  const bool kernel = l.format == Format::kernel;
  std::vector<std::string> hidden;  // AUFS-style whiteouts: they hide only lower layers
  const int error = for_each_entry(fd.get(), [&](const char* name, unsigned char d_type) {
    if (kernel && std::strncmp(name, ".wh.", 4) == 0) {
      if (std::strcmp(name, ".wh..wh..opq") != 0) hidden.emplace_back(name + 4);
      return;
    }
    if (!seen.emplace(name).second) return;
    bool whiteout = false;
    mode_t type = entry_type(layer, fd.get(), dir, name, d_type, whiteout);
    if (whiteout || type == 0) return;  // stays in `seen`: hides the layers below
    if (may_have_devices && type == S_IFREG) {
      // Device nodes are empty placeholder files on disk: only the record knows.
      const layer::EntryMeta* m = meta(layer, join(dir, name));
      if (m != nullptr && m->is_device()) type = m->mode & S_IFMT;
    }
    out.push_back({std::string(name), type, layer});
  });
  if (error != 0) throw_errno("readdir", where(layer, dir), error);
  seen.insert(hidden.begin(), hidden.end());
  // Names whited out here hide the layers below. A name this layer also has on disk was
  // listed above and stays: a whiteout never applies to its own layer.
  if (const auto it = l.whiteouts.find(dir); it != l.whiteouts.end())
    seen.insert(it->second.begin(), it->second.end());
}

// The type from readdir's d_type; filesystems that leave it DT_UNKNOWN (XFS without
// ftype, some network filesystems) cost one fstatat, as do character devices in a kernel
// format layer (a 0/0 one is a whiteout).
mode_t Stack::entry_type(std::size_t layer, int dirfd, const std::string& dir, const char* name,
                         unsigned char d_type, bool& whiteout) const {
  const bool kernel = layers_[layer]->format == Format::kernel;
  if (d_type != DT_UNKNOWN && !(kernel && d_type == DT_CHR)) return DTTOIF(d_type);
  struct stat st;
  const int found = stat_child(dirfd, name, st);
  if (found < 0) throw_errno("stat", where(layer, join(dir, name)), -found);
  if (found == 0) return 0;  // gone meanwhile (only the upper changes)
  whiteout = is_whiteout(layer, st);
  return st.st_mode & S_IFMT;
}

UniqueFd Stack::open_dir(std::size_t layer, const std::string& dir) const {
  const int fd = sys::try_open_beneath(layers_[layer]->root.get(), dir.empty() ? "." : dir,
                                       O_PATH | O_DIRECTORY);
  if (fd >= 0) return UniqueFd(fd);
  if (fd == -ENOENT || fd == -ENOTDIR || fd == -ELOOP) return UniqueFd();
  throw_errno("open", where(layer, dir), -fd);
}

UniqueFd Stack::open_entry(std::size_t layer, const std::string& path) const {
  return UniqueFd(sys::try_open_beneath(layers_[layer]->root.get(), path.empty() ? "." : path,
                                        O_PATH | O_NOFOLLOW));
}

std::optional<layer::EntryMeta> Stack::upper_meta(const std::string& path) const {
  std::shared_lock lock(upper_mutex_);
  const layer::EntryMeta* m = meta(0, path);
  if (m == nullptr) return std::nullopt;
  return *m;
}

void Stack::set_upper_meta(const std::string& path, layer::EntryMeta meta) {
  std::unique_lock lock(upper_mutex_);
  Layer& l = *layers_[0];
  unindex_meta(l, path);
  index_meta(l, path, meta);
  l.record.set(path, std::move(meta));
}

void Stack::erase_upper_meta(const std::string& path) {
  std::unique_lock lock(upper_mutex_);
  Layer& l = *layers_[0];
  unindex_meta(l, path);
  l.record.erase(path);
}

void Stack::move_upper_meta(const std::string& from, const std::string& to) {
  std::unique_lock lock(upper_mutex_);
  Layer& l = *layers_[0];
  std::vector<std::pair<std::string, layer::EntryMeta>> moved;
  const std::string prefix = from + '/';
  for (const auto& [path, meta] : l.record.entries())
    if (path == from || path.compare(0, prefix.size(), prefix) == 0)
      moved.emplace_back(path, meta);
  for (auto& [path, meta] : moved) {
    unindex_meta(l, path);
    l.record.erase(path);
  }
  for (auto& [path, meta] : moved) {
    std::string target = to + path.substr(from.size());
    index_meta(l, target, meta);
    l.record.set(std::move(target), std::move(meta));
  }
}

bool Stack::lookup_in_lowers(const Chain& chain, const std::string& dir,
                             std::string_view name) const {
  if (!has_upper_) return false;
  Chain lowers;
  for (const Chain::Level& level : chain.levels())
    if (level.layer != 0) lowers.add(level.layer, level.fd);
  return lookup_in(lowers, dir, name, nullptr).has_value();
}

namespace {
bool at_or_below(const std::string& path, const std::string& top) {
  if (top.empty()) return true;
  return path.compare(0, top.size(), top) == 0 &&
         (path.size() == top.size() || path[top.size()] == '/');
}
}  // namespace

void Stack::erase_upper_meta_tree(const std::string& path) {
  std::unique_lock lock(upper_mutex_);
  Layer& l = *layers_[0];
  std::vector<std::string> doomed;
  for (const auto& [p, meta] : l.record.entries())
    if (at_or_below(p, path)) doomed.push_back(p);
  for (const std::string& p : doomed) {
    unindex_meta(l, p);
    l.record.erase(p);
  }
}

void Stack::clear_upper_markers_below(const std::string& dir) {
  std::unique_lock lock(upper_mutex_);
  Layer& l = *layers_[0];
  std::vector<std::string> touched;
  for (const auto& [p, meta] : l.record.entries())
    if (p != dir && at_or_below(p, dir) && (meta.whiteout || meta.opaque)) touched.push_back(p);
  for (const std::string& p : touched) {
    layer::EntryMeta m = *l.record.find(p);
    unindex_meta(l, p);
    m.opaque = false;
    if (m.whiteout && m.mode == 0) {
      l.record.erase(p);  // a bare whiteout
      continue;
    }
    m.whiteout = false;
    index_meta(l, p, m);
    l.record.set(p, std::move(m));
  }
}

void Stack::save_upper_record() const {
  std::shared_lock lock(upper_mutex_);
  const Layer& l = *layers_[0];
  if (l.format == Format::cairn) l.record.save(l.record_file);
}

std::vector<std::string> Stack::links_in_layer(std::size_t layer, ino_t ino) const {
  const Layer& l = *layers_[layer];
  std::call_once(l.links_once, [&] { build_link_index(l); });
  const auto it = l.links.find(ino);
  return it == l.links.end() ? std::vector<std::string>{} : it->second;
}

// One walk of a lower layer, recording the regular files that have more than one link.
void Stack::build_link_index(const Layer& l) const {
  std::vector<std::string> pending{""};
  while (!pending.empty()) {
    const std::string dir = std::move(pending.back());
    pending.pop_back();
    const int fd = sys::try_open_beneath(l.root.get(), dir.empty() ? "." : dir,
                                         O_RDONLY | O_DIRECTORY);
    if (fd < 0) continue;
    std::unique_ptr<DIR, int (*)(DIR*)> stream(::fdopendir(fd), ::closedir);
    if (!stream) {
      ::close(fd);
      continue;
    }
    while (const dirent* e = ::readdir(stream.get())) {
      const std::string_view name = e->d_name;
      if (name == "." || name == "..") continue;
      if (e->d_type == DT_DIR) {
        pending.push_back(join(dir, name));
      } else if (e->d_type == DT_REG || e->d_type == DT_UNKNOWN) {
        struct stat st;
        if (::fstatat(fd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
        if (S_ISDIR(st.st_mode)) pending.push_back(join(dir, name));
        else if (S_ISREG(st.st_mode) && st.st_nlink > 1) l.links[st.st_ino].push_back(join(dir, name));
      }
    }
  }
}

}  // namespace cairn::overlay
