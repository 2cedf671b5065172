// The overlay's inode table and its read-only operations: lookup, forget, getattr,
// readlink, directory listing, statfs and reading xattrs.
#include <fcntl.h>
#include <sys/statvfs.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "cairn/base/error.hpp"
#include "cairn/base/sys.hpp"
#include "paths.hpp"
#include "fs.hpp"

namespace cairn::overlay {
namespace {

std::vector<LayerSource> sources(const MountOptions& o) {
  std::vector<LayerSource> out;
  if (o.upper) out.push_back(*o.upper);
  out.insert(out.end(), o.lowers.begin(), o.lowers.end());
  return out;
}

UniqueFd open_work(const MountOptions& o) {
  if (!o.upper || o.read_only) return {};
  std::filesystem::path work = o.workdir;
  if (work.empty()) {
    if (o.upper->format != Format::cairn)
      throw Error("overlay: an upper directory needs a workdir");
    work = o.upper->path / "work";
  }
  std::error_code ec;
  std::filesystem::create_directories(work, ec);
  if (ec) throw_errno("mkdir", work.string(), ec.value());
  return sys::open(work.string(), O_PATH | O_DIRECTORY);
}

}  // namespace

Filesystem::Filesystem(MountOptions options)
    : options_(std::move(options)),
      stack_(sources(options_), options_.upper.has_value()),
      work_(open_work(options_)) {
  root_.type = S_IFDIR;
  root_.lookups = 1;  // the kernel never forgets the root
  root_.chain = std::make_shared<const Chain>(stack_.root_chain());
  root_.generation = generation_.load();
  if (auto r = stack_.lookup("")) root_.ino = r->attr.ino;
}

Filesystem::~Filesystem() = default;

Inode* Filesystem::inode(fuse_ino_t ino) {
  return ino == FUSE_ROOT_ID ? &root_ : reinterpret_cast<Inode*>(ino);
}

fuse_ino_t Filesystem::node_id(Inode* node) const {
  return node == &root_ ? FUSE_ROOT_ID : reinterpret_cast<fuse_ino_t>(node);
}

std::string Filesystem::path_of(const Inode* node) const {
  std::vector<const std::string*> names;
  for (const Inode* n = node; n != nullptr && n->parent != nullptr; n = n->parent)
    names.push_back(&n->name);
  std::string out;
  for (auto it = names.rbegin(); it != names.rend(); ++it) {
    if (!out.empty()) out += '/';
    out += **it;
  }
  return out;
}

// Walks from the root to the node's path again: its place changed under it (a rename of
// a directory above it, or a copy-up through another name).
int Filesystem::refresh(Inode& node) {
  const std::uint64_t generation = generation_;
  std::uint64_t seen = node.generation;
  if (&node == &root_) {
    root_.chain = std::make_shared<const Chain>(stack_.root_chain());
    root_.generation = generation;
    return 0;
  }
  Inode* parent;
  std::string name, dir;
  {
    std::lock_guard tree(tree_mutex_);
    if (node.unlinked) return ENOENT;
    parent = node.parent;
    name = node.name;
    dir = path_of(parent);
  }
  // One level, from the parent's chain (refreshed first if it is stale itself: locks are
  // only ever taken upwards, child before parent).
  const auto parent_chain = chain_of(*parent);
  if (!parent_chain) return ENOENT;
  auto next = std::make_shared<Chain>();
  auto r = stack_.lookup_in(*parent_chain, dir, name, S_ISDIR(node.type) ? next.get() : nullptr);
  if (!r) return ENOENT;
  node.layer = r->layer;
  node.data_layer = r->data_layer == SIZE_MAX ? r->layer : r->data_layer;
  if (S_ISDIR(r->attr.mode)) node.chain = std::move(next);
  // A copy-up that marked the node stale meanwhile wins: it is re-resolved again.
  node.generation.compare_exchange_strong(seen, generation);
  return 0;
}

Place Filesystem::place(Inode& node) {
  Place p;
  {
    std::lock_guard tree(tree_mutex_);
    p.path = path_of(&node);
  }
  std::lock_guard lock(node.mutex);
  if (node.generation != generation_) {
    if (const int error = refresh(node)) throw Error("resolve", p.path, error);
  }
  p.layer = node.layer;
  p.data_layer = node.data_layer;
  return p;
}

// A directory's chain; one that readdirplus made without its chain gets it from its
// parent's on first use.
std::shared_ptr<const Chain> Filesystem::chain_of(Inode& node) {
  std::unique_lock lock(node.mutex);
  if (node.generation != generation_) {
    if (const int error = refresh(node)) throw Error("resolve", node.name, error);
  }
  if (node.chain || !S_ISDIR(node.type)) return node.chain;
  lock.unlock();
  Inode* parent;
  std::string name;
  {
    std::lock_guard tree(tree_mutex_);
    if (node.unlinked) throw Error("resolve", node.name, ENOENT);
    parent = node.parent;
    name = node.name;
  }
  auto chain = std::make_shared<Chain>();
  auto r = resolve_child(*parent, name, chain.get(), nullptr);
  if (!r || !S_ISDIR(r->attr.mode)) throw Error("resolve", name, ENOENT);
  lock.lock();
  if (!node.chain) node.chain = std::move(chain);
  return node.chain;
}

std::optional<Resolved> Filesystem::resolve_child(Inode& parent, const std::string& name,
                                                  Chain* child, std::string* path) {
  std::string dir;
  {
    std::lock_guard tree(tree_mutex_);
    dir = path_of(&parent);
  }
  const auto chain = chain_of(parent);
  if (!chain) throw Error("lookup", dir + "/" + name, ENOTDIR);
  auto r = resolve_in(*chain, dir, name, child);
  if (path != nullptr) *path = r ? r->path : (dir.empty() ? name : dir + '/' + name);
  return r;
}

std::optional<Resolved> Filesystem::resolve_in(const Chain& chain, const std::string& dir,
                                               const std::string& name, Chain* child) const {
  auto r = stack_.lookup_in(chain, dir, name, child);
  if (r && r->data_layer == SIZE_MAX) r->data_layer = r->layer;
  if (r && r->layer == 0 && options_.upper && !cairn_upper() && !S_ISDIR(r->attr.mode)) {
    std::lock_guard lock(origins_mutex_);
    if (auto it = origins_.find(r->attr.host_ino); it != origins_.end()) r->attr.ino = it->second;
  }
  return r;
}

void Filesystem::remember_origin(ino_t upper_host_ino, ino_t origin) {
  std::lock_guard lock(origins_mutex_);
  origins_[upper_host_ino] = origin;
}

Inode* Filesystem::remember(Inode* parent, const std::string& name, const Resolved& r,
                            std::optional<Chain> chain) {
  std::lock_guard tree(tree_mutex_);
  auto& siblings = children(parent);
  if (auto it = siblings.find(name); it != siblings.end()) {
    Inode* known = it->second;
    if (known->ino == r.attr.ino && known->type == (r.attr.mode & S_IFMT)) {
      ++known->lookups;
      return known;
    }
    detach(parent, name);  // another object took the name (cannot happen through us)
  }
  const bool shared = !S_ISDIR(r.attr.mode) && r.attr.nlink > 1;
  if (shared) {
    if (auto it = linked_.find(r.attr.ino); it != linked_.end() && !it->second->unlinked) {
      Inode* node = it->second;
      node->more_links.emplace_back(parent, name);
      siblings[name] = node;
      ++parent->holds;
      ++node->lookups;
      return node;
    }
  }
  auto* node = new Inode;
  node->type = r.attr.mode & S_IFMT;
  node->ino = r.attr.ino;
  node->parent = parent;
  node->name = name;
  node->lookups = 1;
  node->layer = r.layer;
  node->data_layer = r.data_layer;
  node->generation = generation_.load();
  if (S_ISDIR(r.attr.mode) && chain) node->chain = std::make_shared<const Chain>(std::move(*chain));
  ++parent->holds;
  siblings[name] = node;
  if (shared) linked_[r.attr.ino] = node;
  peak_inodes_ = std::max(peak_inodes_, ++inodes_);
  return node;
}

// The name goes away from the tree; the node stays while the kernel or a handle refers to
// it. A multiply linked node keeps its other names.
std::unordered_map<std::string, Inode*>& Filesystem::children(Inode* dir) {
  if (!dir->children) dir->children = std::make_unique<std::unordered_map<std::string, Inode*>>();
  return *dir->children;
}

void Filesystem::detach(Inode* parent, const std::string& name, const Attributes* gone) {
  auto& siblings = children(parent);
  auto it = siblings.find(name);
  if (it == siblings.end()) return;
  Inode* node = it->second;
  siblings.erase(it);
  if (node->parent == parent && node->name == name) {
    if (node->more_links.empty()) {
      node->unlinked = true;  // keeps its hold on the parent until it goes
      if (gone != nullptr) node->last = std::make_unique<Attributes>(*gone);
      return;
    }
    --parent->holds;
    node->parent = node->more_links.back().first;
    node->name = std::move(node->more_links.back().second);
    node->more_links.pop_back();
    return;
  }
  auto& links = node->more_links;
  for (auto l = links.begin(); l != links.end(); ++l) {
    if (l->first == parent && l->second == name) {
      links.erase(l);
      --parent->holds;
      return;
    }
  }
}

// A rename of one of the node's names.
void Filesystem::relink(Inode* node, Inode* from, const std::string& name, Inode* to,
                        const std::string& newname, const Attributes* replaced) {
  detach(to, newname, replaced);
  children(from).erase(name);
  children(to)[newname] = node;
  ++to->holds;
  --from->holds;
  if (node->parent == from && node->name == name) {
    node->parent = to;
    node->name = newname;
    node->unlinked = false;
    return;
  }
  for (auto& l : node->more_links)
    if (l.first == from && l.second == name) l = {to, newname};
}

void Filesystem::hold(Inode* node) {
  std::lock_guard tree(tree_mutex_);
  ++node->holds;
}

// Releases references; a node nobody refers to any more goes, and with it its hold on
// its parents.
void Filesystem::drop(Inode* node, std::uint64_t lookups, std::uint64_t holds) {
  std::lock_guard tree(tree_mutex_);
  node->lookups -= std::min(node->lookups, lookups);
  node->holds -= std::min(node->holds, holds);
  auto gone = [&](const Inode* n) { return n != &root_ && n->lookups == 0 && n->holds == 0; };
  if (!gone(node)) return;
  // A parent enters the list only when its last hold goes, so no node is freed twice
  // (hard links in one directory hold it once per name).
  std::vector<Inode*> pending{node};
  while (!pending.empty()) {
    Inode* n = pending.back();
    pending.pop_back();
    if (auto it = linked_.find(n->ino); it != linked_.end() && it->second == n) linked_.erase(it);
    auto release_parent = [&](Inode* p, const std::string& name) {
      if (p == nullptr) return;
      if (p->children) {
        if (auto c = p->children->find(name); c != p->children->end() && c->second == n)
          p->children->erase(c);
      }
      if (--p->holds == 0 && gone(p)) pending.push_back(p);
    };
    release_parent(n->parent, n->name);
    for (auto& [p, name] : n->more_links) release_parent(p, name);
    delete n;
    --inodes_;
  }
}

void Filesystem::forget(fuse_ino_t ino, std::uint64_t n) { drop(inode(ino), n, 0); }

struct stat Filesystem::to_stat(const Resolved& r) const {
  struct stat st {};
  const Attributes& a = r.attr;
  st.st_ino = a.ino;
  st.st_mode = a.mode;
  st.st_nlink = a.nlink;
  st.st_uid = a.uid;
  st.st_gid = a.gid;
  if (stack_.format(r.layer) == Format::kernel) {
    st.st_uid = from_host_uid(a.uid);
    st.st_gid = from_host_gid(a.gid);
  }
  if (options_.shown_uid) st.st_uid = *options_.shown_uid;
  if (options_.shown_gid) st.st_gid = *options_.shown_gid;
  st.st_rdev = a.rdev;
  st.st_size = a.size;
  st.st_blocks = a.blocks;
  st.st_blksize = 4096;
  st.st_atim = a.atime;
  st.st_mtim = a.mtime;
  st.st_ctim = a.ctime;
  return st;
}

fuse_entry_param Filesystem::entry(Inode* node, const Resolved& r) const {
  fuse_entry_param e{};
  e.ino = node_id(node);
  e.attr = to_stat(r);
  e.attr.st_ino = node->ino;
  e.attr_timeout = timeout_;
  e.entry_timeout = timeout_;
  return e;
}

void Filesystem::lookup(fuse_req_t req, fuse_ino_t parent, const char* name) {
  Inode* p = inode(parent);
  auto r = resolve_child(*p, name, nullptr, nullptr);
  if (!r) {
    // A negative entry the kernel may cache: every change to the tree comes through us.
    fuse_entry_param e{};
    e.entry_timeout = timeout_;
    fuse_reply_entry(req, &e);
    return;
  }
  Inode* node = remember(p, name, *r, std::nullopt);  // a directory's chain comes on use
  const fuse_entry_param e = entry(node, *r);
  fuse_reply_entry(req, &e);
}

// The entry reply after an operation that made `name` in `parent`.
void Filesystem::reply_entry(fuse_req_t req, Inode* parent, const std::string& name) {
  auto r = resolve_child(*parent, name, nullptr, nullptr);
  if (!r) {
    fuse_reply_err(req, ENOENT);
    return;
  }
  Inode* node = remember(parent, name, *r, std::nullopt);
  const fuse_entry_param e = entry(node, *r);
  fuse_reply_entry(req, &e);
}

int Filesystem::attributes_of(Inode& node, Resolved& out, const fuse_file_info* fi) {
  if (&node == &root_) {
    auto r = stack_.lookup("");
    if (!r) return ENOENT;
    out = std::move(*r);
    return 0;
  }
  Inode* parent;
  std::string name;
  {
    std::lock_guard tree(tree_mutex_);
    if (node.unlinked) {
      // Still open (fstat): what it was, with the size and times of the open file.
      if (!node.last) return ENOENT;
      out.attr = *node.last;
      out.attr.nlink = 0;
      out.layer = node.layer;
      struct stat st;
      if (fi != nullptr && ::fstat(static_cast<int>(fi->fh), &st) == 0) {
        out.attr.size = st.st_size;
        out.attr.blocks = st.st_blocks;
        out.attr.mtime = st.st_mtim;
        out.attr.ctime = st.st_ctim;
      }
      return 0;
    }
    parent = node.parent;
    name = node.name;
  }
  if (S_ISDIR(node.type)) {
    // One fstat of the directory's top copy: the kernel asks again after every readdir.
    const auto chain = chain_of(node);
    std::string path;
    {
      std::lock_guard tree(tree_mutex_);
      path = path_of(&node);
    }
    out = stack_.directory(*chain, path);
    out.attr.ino = node.ino;
    return 0;
  }
  auto r = resolve_child(*parent, name, nullptr, nullptr);
  if (!r) return ENOENT;
  out = std::move(*r);
  return 0;
}

void Filesystem::getattr(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  Inode* node = inode(ino);
  Resolved r;
  if (const int error = attributes_of(*node, r, fi)) {
    fuse_reply_err(req, error);
    return;
  }
  struct stat st = to_stat(r);
  st.st_ino = node->ino;
  fuse_reply_attr(req, &st, timeout_);
}

void Filesystem::readlink(fuse_req_t req, fuse_ino_t ino) {
  const Place p = place(*inode(ino));
  auto [dir, name] = split_parent(p.path);
  const UniqueFd fd = stack_.open_dir(p.layer, dir);
  if (!fd) {
    fuse_reply_err(req, ENOENT);
    return;
  }
  char target[PATH_MAX + 1];
  const ssize_t n = ::readlinkat(fd.get(), name.c_str(), target, PATH_MAX);
  if (n < 0) {
    fuse_reply_err(req, errno);
    return;
  }
  target[n] = '\0';
  fuse_reply_readlink(req, target);
}

// Directories need no handle: the listing lives with the inode (see readdir). Where the
// kernel can do without OPENDIR and RELEASEDIR it is told so, which saves two of the
// requests a listed directory costs; elsewhere the open holds the inode.
void Filesystem::opendir(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  Inode* node = inode(ino);
  if (!chain_of(*node)) return (void)fuse_reply_err(req, ENOTDIR);
  if (no_opendir_) return (void)fuse_reply_err(req, ENOSYS);
  fi->keep_cache = 1;
  fi->cache_readdir = 1;
  hold(node);
  fuse_reply_open(req, fi);
}

void Filesystem::listing_changed(Inode& dir) {
  std::lock_guard lock(dir.mutex);
  dir.listing.reset();
}

// Offsets: 1 is after ".", 2 after "..", 2 + i after entries[i] of the directory's listing,
// which is kept until something changes in the directory (everything that does comes
// through here). An entry's size depends only on its name, so whether it fits is known
// before it is resolved: the kernel counts a lookup for every readdirplus entry it
// receives, and only those.
void Filesystem::readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                         fuse_file_info*, bool plus) {
  Inode* dir = inode(ino);
  const auto chain = chain_of(*dir);
  if (!chain) return (void)fuse_reply_err(req, ENOTDIR);
  std::string path;
  {
    std::lock_guard tree(tree_mutex_);
    path = path_of(dir);
  }
  std::shared_ptr<const std::vector<DirEntry>> entries;
  {
    std::lock_guard lock(dir->mutex);
    entries = dir->listing;
  }
  if (!entries) {
    entries = std::make_shared<const std::vector<DirEntry>>(stack_.list(*chain, path));
    std::lock_guard lock(dir->mutex);
    dir->listing = entries;
  }
  // One buffer per serving thread: the kernel asks for up to a megabyte at a time.
  thread_local std::vector<char> buffer;
  if (buffer.size() < size) buffer.resize(size);
  std::size_t used = 0;
  for (auto index = static_cast<std::size_t>(off); index < entries->size() + 2; ++index) {
    const char* name = index == 0 ? "." : index == 1 ? ".." : (*entries)[index - 2].name.c_str();
    fuse_entry_param e{};
    const std::size_t needed = plus ? fuse_add_direntry_plus(req, nullptr, 0, name, &e, 0)
                                    : fuse_add_direntry(req, nullptr, 0, name, &e.attr, 0);
    if (needed > size - used) break;
    if (index < 2) {
      e.attr.st_mode = S_IFDIR;
      e.attr.st_ino = dir->ino;
    } else {
      auto r = resolve_in(*chain, path, name, nullptr);
      if (!r) continue;  // removed meanwhile
      if (plus) {
        e = entry(remember(dir, name, *r, std::optional<Chain>()), *r);
      } else {
        e.attr = to_stat(*r);
      }
    }
    char* at = buffer.data() + used;
    const auto next = static_cast<off_t>(index + 1);
    if (plus) fuse_add_direntry_plus(req, at, size - used, name, &e, next);
    else fuse_add_direntry(req, at, size - used, name, &e.attr, next);
    used += needed;
  }
  fuse_reply_buf(req, buffer.data(), used);
}

void Filesystem::releasedir(fuse_req_t req, fuse_ino_t ino, fuse_file_info*) {
  drop(inode(ino), 0, 1);
  fuse_reply_err(req, 0);
}

void Filesystem::statfs(fuse_req_t req, fuse_ino_t) {
  struct statvfs st;
  if (::fstatvfs(stack_.root_fd(0), &st) != 0) {
    fuse_reply_err(req, errno);
    return;
  }
  fuse_reply_statfs(req, &st);
}

namespace {

// Replies with an xattr value or name list the way getxattr(2) answers for `size`.
void reply_xattr(fuse_req_t req, std::string_view data, size_t size) {
  if (size == 0) fuse_reply_xattr(req, data.size());
  else if (data.size() > size) fuse_reply_err(req, ERANGE);
  else fuse_reply_buf(req, data.data(), data.size());
}

}  // namespace

// The kernel asks for security.capability before every write(2) to a file: for a file of a
// kernel-format layer that is one lgetxattr through the layer root's /proc name (the
// directories on the way are directories in that layer; the last name is not followed).
bool Filesystem::quick_host_xattr(fuse_req_t req, Inode& node, const char* name, size_t size) {
  if (S_ISDIR(node.type)) return false;
  {
    std::lock_guard tree(tree_mutex_);
    if (node.unlinked) return false;
  }
  const Place p = place(node);
  if (stack_.format(p.layer) != Format::kernel || p.path.empty()) return false;
  const std::string host = proc_path(stack_.root_fd(p.layer)) + '/' + p.path;
  thread_local std::string value(65536, '\0');
  const ssize_t n = ::lgetxattr(host.c_str(), name, value.data(), value.size());
  if (n < 0) {
    if (errno == ENOENT) return false;  // moved meanwhile: the slow path decides
    fuse_reply_err(req, errno == ENOTSUP ? ENODATA : errno);
    return true;
  }
  reply_xattr(req, std::string_view(value.data(), static_cast<std::size_t>(n)), size);
  return true;
}

void Filesystem::getxattr(fuse_req_t req, fuse_ino_t ino, const char* name, size_t size) {
  Inode* node = inode(ino);
  if (layer::is_reserved_xattr(name)) return (void)fuse_reply_err(req, ENODATA);
  if (quick_host_xattr(req, *node, name, size)) return;
  Resolved r;
  if (const int error = attributes_of(*node, r)) return (void)fuse_reply_err(req, error);
  if (stack_.format(r.layer) == Format::cairn) {
    const auto it = r.xattrs.find(name);
    if (it == r.xattrs.end()) return (void)fuse_reply_err(req, ENODATA);
    return reply_xattr(req, it->second, size);
  }
  const UniqueFd fd = stack_.open_entry(r.layer, r.path);
  if (!fd) return (void)fuse_reply_err(req, ENOENT);
  std::string value(65536, '\0');
  const ssize_t n = ::getxattr(proc_path(fd.get()).c_str(), name, value.data(), value.size());
  if (n < 0) return (void)fuse_reply_err(req, errno == ENOTSUP ? ENODATA : errno);
  value.resize(static_cast<std::size_t>(n));
  reply_xattr(req, value, size);
}

void Filesystem::listxattr(fuse_req_t req, fuse_ino_t ino, size_t size) {
  Inode* node = inode(ino);
  Resolved r;
  if (const int error = attributes_of(*node, r)) return (void)fuse_reply_err(req, error);
  std::string names;
  if (stack_.format(r.layer) == Format::cairn) {
    for (const auto& [name, value] : r.xattrs) names.append(name).append(1, '\0');
    return reply_xattr(req, names, size);
  }
  const UniqueFd fd = stack_.open_entry(r.layer, r.path);
  if (!fd) return (void)fuse_reply_err(req, ENOENT);
  std::string raw(65536, '\0');
  const ssize_t n = ::listxattr(proc_path(fd.get()).c_str(), raw.data(), raw.size());
  if (n < 0) return (void)fuse_reply_err(req, errno == ENOTSUP ? 0 : errno);
  for (std::size_t at = 0; at < static_cast<std::size_t>(n);) {
    const std::string name(raw.data() + at);
    at += name.size() + 1;
    if (!layer::is_reserved_xattr(name)) names.append(name).append(1, '\0');
  }
  reply_xattr(req, names, size);
}

std::vector<std::string> Filesystem::changes() const {
  std::lock_guard lock(changes_mutex_);
  return {changes_.begin(), changes_.end()};
}

void Filesystem::note_change(const std::string& path) {
  std::lock_guard lock(changes_mutex_);
  changes_.insert(path);
}

}  // namespace cairn::overlay
