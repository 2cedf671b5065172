// The overlay's operations that change the tree: create, mkdir, mknod, symlink, link,
// unlink, rmdir, rename, setattr and xattr changes. Everything they write goes to the upper;
// what lower layers have and the merged view must no longer show becomes a whiteout.
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "cairn/base/error.hpp"
#include "cairn/base/sys.hpp"
#include "paths.hpp"
#include "fs.hpp"

namespace cairn::overlay {
namespace {

bool kernel_whiteout(int dirfd, const char* name) {
  struct stat st;
  return ::fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISCHR(st.st_mode) &&
         st.st_rdev == 0;
}

// Removes a directory of the upper with everything in it (whiteouts, emptied copies).
int remove_tree(int parent, const char* name) {
  const int fd = ::openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return errno;
  std::unique_ptr<DIR, int (*)(DIR*)> dir(::fdopendir(fd), ::closedir);
  if (!dir) {
    ::close(fd);
    return errno;
  }
  while (const dirent* e = ::readdir(dir.get())) {
    if (std::strcmp(e->d_name, ".") == 0 || std::strcmp(e->d_name, "..") == 0) continue;
    if (::unlinkat(fd, e->d_name, 0) == 0) continue;
    if (errno != EISDIR) return errno;
    if (const int error = remove_tree(fd, e->d_name)) return error;
  }
  return ::unlinkat(parent, name, AT_REMOVEDIR) == 0 ? 0 : errno;
}

}  // namespace

uid_t Filesystem::to_host_uid(uid_t uid) const {
  for (const IdRange& r : options_.uid_map)
    if (uid >= r.inside && uid - r.inside < r.count) return r.outside + (uid - r.inside);
  return uid;
}
gid_t Filesystem::to_host_gid(gid_t gid) const {
  for (const IdRange& r : options_.gid_map)
    if (gid >= r.inside && gid - r.inside < r.count) return r.outside + (gid - r.inside);
  return gid;
}
uid_t Filesystem::from_host_uid(uid_t uid) const {
  if (options_.squash_uid) return *options_.squash_uid;
  for (const IdRange& r : options_.uid_map)
    if (uid >= r.outside && uid - r.outside < r.count) return r.inside + (uid - r.outside);
  return options_.uid_map.empty() ? uid : 65534;
}
gid_t Filesystem::from_host_gid(gid_t gid) const {
  if (options_.squash_gid) return *options_.squash_gid;
  for (const IdRange& r : options_.gid_map)
    if (gid >= r.outside && gid - r.outside < r.count) return r.inside + (gid - r.outside);
  return options_.gid_map.empty() ? gid : 65534;
}

// Whether a directory has copies in layers below the upper.
bool Filesystem::merged(Inode& dir) {
  const auto chain = chain_of(dir);
  if (!chain) return false;
  for (const auto& level : chain->levels())
    if (level.layer != 0) return true;
  return false;
}

// Whether a layer below the upper shows `name` in the parent.
bool Filesystem::lower_has(Inode& parent, const std::string& name) {
  std::string dir;
  {
    std::lock_guard tree(tree_mutex_);
    dir = path_of(&parent);
  }
  const auto chain = chain_of(parent);
  return chain && stack_.lookup_in_lowers(*chain, dir, name);
}

int Filesystem::whiteout(const std::string& path) {
  if (cairn_upper()) {
    layer::EntryMeta m;
    m.whiteout = true;
    stack_.set_upper_meta(path, std::move(m));
  } else {
    auto [dir, name] = split_parent(path);
    UniqueFd fd;
    if (const int error = upper_dir_fd(dir, fd)) return error;
    if (::mknodat(fd.get(), name.c_str(), S_IFCHR | 0, makedev(0, 0)) != 0) return errno;
  }
  note_change(path);
  return 0;
}

int Filesystem::set_opaque(const std::string& path) {
  if (cairn_upper()) {
    layer::EntryMeta m = stack_.upper_meta(path).value_or(layer::EntryMeta{});
    m.opaque = true;
    stack_.set_upper_meta(path, std::move(m));
    return 0;
  }
  const UniqueFd fd(sys::try_open_beneath(stack_.root_fd(0), path, O_PATH | O_DIRECTORY));
  if (!fd) return ENOENT;
  const std::string proc = proc_path(fd.get());
  if (::setxattr(proc.c_str(), "trusted.overlay.opaque", "y", 1, 0) == 0) return 0;
  return ::setxattr(proc.c_str(), "user.overlay.opaque", "y", 1, 0) == 0 ? 0 : errno;
}

// Removes the upper's own copy of `path` and its record entries.
int Filesystem::remove_upper(const std::string& path, bool directory) {
  auto [dir, name] = split_parent(path);
  UniqueFd fd;
  if (const int error = upper_dir_fd(dir, fd)) return error;
  const int error = directory ? remove_tree(fd.get(), name.c_str())
                              : (::unlinkat(fd.get(), name.c_str(), 0) == 0 ? 0 : errno);
  if (error != 0 && error != ENOENT) return error;
  if (cairn_upper()) stack_.erase_upper_meta_tree(path);
  note_change(path);
  return 0;
}

// A fully copied-up directory stands alone: whiteouts and opaque markers inside it spoke
// about the lower layers at its old place.
void Filesystem::purge_markers(const std::string& dir) {
  if (cairn_upper()) {
    stack_.clear_upper_markers_below(dir);
    return;
  }
  std::vector<std::string> pending{dir};
  while (!pending.empty()) {
    const std::string d = std::move(pending.back());
    pending.pop_back();
    const int fd = sys::try_open_beneath(stack_.root_fd(0), d.empty() ? "." : d,
                                         O_RDONLY | O_DIRECTORY);
    if (fd < 0) continue;
    const std::string proc = proc_path(fd);
    if (d != dir) {
      ::removexattr(proc.c_str(), "trusted.overlay.opaque");
      ::removexattr(proc.c_str(), "user.overlay.opaque");
    }
    std::unique_ptr<DIR, int (*)(DIR*)> stream(::fdopendir(fd), ::closedir);
    if (!stream) {
      ::close(fd);
      continue;
    }
    while (const dirent* e = ::readdir(stream.get())) {
      if (std::strcmp(e->d_name, ".") == 0 || std::strcmp(e->d_name, "..") == 0) continue;
      if (e->d_type == DT_DIR) pending.push_back(join(d, e->d_name));
      else if (e->d_type == DT_CHR && kernel_whiteout(fd, e->d_name)) ::unlinkat(fd, e->d_name, 0);
    }
  }
}

// Before a new name appears in `parent`: the upper has the directory, and a whiteout of
// the name in the upper is gone (had_whiteout says there was one).
int Filesystem::prepare_new_name(Inode& parent, const std::string& name, std::string& path,
                                 bool& had_whiteout, UniqueFd& dir) {
  if (name.rfind(".wh.", 0) == 0) return EINVAL;  // the OCI whiteout prefix is reserved
  if (!options_.upper || options_.read_only) return EROFS;
  if (const int error = copy_up_dir(parent)) return error;
  {
    std::lock_guard tree(tree_mutex_);
    path = join(path_of(&parent), name);
  }
  had_whiteout = false;
  if (const int error = upper_dir_fd(split_parent(path).first, dir)) return error;
  if (cairn_upper()) {
    if (auto m = stack_.upper_meta(path); m && m->whiteout) {
      had_whiteout = true;
      stack_.erase_upper_meta(path);
    }
    return 0;
  }
  if (kernel_whiteout(dir.get(), name.c_str())) {
    had_whiteout = true;
    if (::unlinkat(dir.get(), name.c_str(), 0) != 0) return errno;
  }
  return 0;
}

// Owner and mode of a new entry: the caller's ids (the group of a setgid directory), the
// record for a cairn upper, the host for a kernel one. A directory made where a lower one
// was deleted is opaque.
int Filesystem::finish_new(Inode& parent, const std::string& path, mode_t mode,
                           bool had_whiteout, fuse_req_t req, int dirfd, dev_t rdev) {
  const fuse_ctx* ctx = fuse_req_ctx(req);
  uid_t uid = options_.new_entry_uid.value_or(ctx->uid);
  gid_t gid = options_.new_entry_gid.value_or(ctx->gid);
  Resolved p;
  if (attributes_of(parent, p) == 0 && (p.attr.mode & S_ISGID) != 0) {
    gid = p.attr.gid;
    if (stack_.format(p.layer) == Format::kernel) gid = from_host_gid(gid);
    if (S_ISDIR(mode)) mode |= S_ISGID;
  }
  listing_changed(parent);
  const bool opaque = had_whiteout && S_ISDIR(mode);
  if (cairn_upper()) {
    layer::EntryMeta m;
    m.uid = uid;
    m.gid = gid;
    m.mode = mode;
    m.rdev = rdev;
    m.opaque = opaque;
    stack_.set_upper_meta(path, std::move(m));
  } else {
    if (const int error = apply_owner(path, dirfd, uid, gid)) return error;
    if (S_ISDIR(mode) && (mode & S_ISGID)) ::fchmodat(dirfd, split_parent(path).second.c_str(), mode & 07777, 0);
    if (opaque) {
      if (const int error = set_opaque(path)) return error;
    }
  }
  note_change(path);
  return 0;
}

int Filesystem::open_flags(int flags) const {
  // Only what matters to the file on the host: openat2 refuses flags it does not know (the
  // kernel passes e.g. __FMODE_EXEC for an exec), and the kernel gives every offset, so
  // no O_APPEND.
  flags &= O_ACCMODE | O_TRUNC | O_DIRECT | O_DSYNC | O_SYNC | O_LARGEFILE;
  // With the writeback cache the kernel may read pages of a file opened write-only.
  if (writeback_ && (flags & O_ACCMODE) == O_WRONLY) flags = (flags & ~O_ACCMODE) | O_RDWR;
  return flags | O_NOFOLLOW | O_CLOEXEC;
}

void Filesystem::create(fuse_req_t req, fuse_ino_t parent_ino, const char* name, mode_t mode,
                        fuse_file_info* fi) {
  Inode* parent = inode(parent_ino);
  std::string path;
  bool had_whiteout;
  UniqueFd dir;
  if (const int error = prepare_new_name(*parent, name, path, had_whiteout, dir))
    return (void)fuse_reply_err(req, error);
  const mode_t on_host = cairn_upper() ? host_mode(mode) : (mode & 07777);
  const int fd = ::openat(dir.get(), name, open_flags(fi->flags) | O_CREAT | O_EXCL, on_host);
  if (fd < 0) return (void)fuse_reply_err(req, errno);
  if (const int error = finish_new(*parent, path, S_IFREG | (mode & 07777), had_whiteout, req, dir.get())) {
    ::close(fd);
    return (void)fuse_reply_err(req, error);
  }
  auto r = resolve_child(*parent, name, nullptr, nullptr);
  if (!r) {
    ::close(fd);
    return (void)fuse_reply_err(req, ENOENT);
  }
  Inode* node = remember(parent, name, *r, std::nullopt);
  hold(node);
  fi->fh = static_cast<std::uint64_t>(fd);
  fi->keep_cache = 1;
  const fuse_entry_param e = entry(node, *r);
  if (fuse_reply_create(req, &e, fi) != 0) {
    ::close(fd);
    drop(node, 1, 1);
  }
}

void Filesystem::mkdir(fuse_req_t req, fuse_ino_t parent_ino, const char* name, mode_t mode) {
  Inode* parent = inode(parent_ino);
  std::string path;
  bool had_whiteout;
  UniqueFd dir;
  if (const int error = prepare_new_name(*parent, name, path, had_whiteout, dir))
    return (void)fuse_reply_err(req, error);
  const mode_t on_host = cairn_upper() ? host_mode(S_IFDIR | mode) : (mode & 07777);
  if (::mkdirat(dir.get(), name, on_host) != 0) return (void)fuse_reply_err(req, errno);
  if (const int error = finish_new(*parent, path, S_IFDIR | (mode & 07777), had_whiteout, req, dir.get()))
    return (void)fuse_reply_err(req, error);
  reply_entry(req, parent, name);
}

void Filesystem::mknod(fuse_req_t req, fuse_ino_t parent_ino, const char* name, mode_t mode,
                       dev_t rdev) {
  Inode* parent = inode(parent_ino);
  const mode_t type = mode & S_IFMT;
  const bool device = type == S_IFCHR || type == S_IFBLK;
  if (device && !cairn_upper() && type == S_IFCHR && rdev == 0)
    return (void)fuse_reply_err(req, EPERM);  // would read as a whiteout
  std::string path;
  bool had_whiteout;
  UniqueFd dir;
  if (const int error = prepare_new_name(*parent, name, path, had_whiteout, dir))
    return (void)fuse_reply_err(req, error);
  int result;
  if (cairn_upper() && (device || type == S_IFREG)) {
    // Device nodes are placeholders: the record says what they are.
    result = ::mknodat(dir.get(), name, S_IFREG | 0600, 0);
  } else {
    result = ::mknodat(dir.get(), name, type | (cairn_upper() ? 0600 : (mode & 07777)), rdev);
  }
  if (result != 0) return (void)fuse_reply_err(req, errno);
  if (const int error = finish_new(*parent, path, mode, had_whiteout, req, dir.get(), device ? rdev : 0))
    return (void)fuse_reply_err(req, error);
  reply_entry(req, parent, name);
}

void Filesystem::symlink(fuse_req_t req, const char* target, fuse_ino_t parent_ino,
                         const char* name) {
  Inode* parent = inode(parent_ino);
  std::string path;
  bool had_whiteout;
  UniqueFd dir;
  if (const int error = prepare_new_name(*parent, name, path, had_whiteout, dir))
    return (void)fuse_reply_err(req, error);
  if (::symlinkat(target, dir.get(), name) != 0) return (void)fuse_reply_err(req, errno);
  if (const int error = finish_new(*parent, path, S_IFLNK | 0777, had_whiteout, req, dir.get()))
    return (void)fuse_reply_err(req, error);
  reply_entry(req, parent, name);
}

void Filesystem::link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t parent_ino, const char* name) {
  Inode* node = inode(ino);
  Inode* parent = inode(parent_ino);
  if (const int error = copy_up(*node, false)) return (void)fuse_reply_err(req, error);
  std::string path;
  bool had_whiteout;
  UniqueFd to_dir;
  if (const int error = prepare_new_name(*parent, name, path, had_whiteout, to_dir))
    return (void)fuse_reply_err(req, error);
  const Place from = place(*node);
  UniqueFd from_dir;
  if (const int error = upper_dir_fd(split_parent(from.path).first, from_dir))
    return (void)fuse_reply_err(req, error);
  if (::linkat(from_dir.get(), split_parent(from.path).second.c_str(), to_dir.get(), name, 0) != 0)
    return (void)fuse_reply_err(req, errno);
  if (cairn_upper()) {
    if (auto m = stack_.upper_meta(from.path)) {
      m->whiteout = false;
      m->opaque = false;
      stack_.set_upper_meta(path, std::move(*m));
    }
  }
  note_change(path);
  listing_changed(*parent);
  {
    std::lock_guard tree(tree_mutex_);
    linked_[node->ino] = node;
    node->more_links.emplace_back(parent, name);
    children(parent)[name] = node;
    ++parent->holds;
  }
  reply_entry(req, parent, name);
}

void Filesystem::unlink(fuse_req_t req, fuse_ino_t parent_ino, const char* name, bool directory) {
  Inode* parent = inode(parent_ino);
  Chain chain;
  std::string path;
  auto r = resolve_child(*parent, name, &chain, &path);
  if (!r) return (void)fuse_reply_err(req, ENOENT);
  const bool is_dir = S_ISDIR(r->attr.mode);
  if (directory && !is_dir) return (void)fuse_reply_err(req, ENOTDIR);
  if (!directory && is_dir) return (void)fuse_reply_err(req, EISDIR);
  if (is_dir && !stack_.list(chain, path).empty()) return (void)fuse_reply_err(req, ENOTEMPTY);
  if (!options_.upper || options_.read_only) return (void)fuse_reply_err(req, EROFS);
  const bool below = lower_has(*parent, name);
  if (below) {
    if (const int error = copy_up_dir(*parent)) return (void)fuse_reply_err(req, error);
  }
  if (r->layer == 0) {
    if (const int error = remove_upper(path, is_dir)) return (void)fuse_reply_err(req, error);
  }
  if (below) {
    if (const int error = whiteout(path)) return (void)fuse_reply_err(req, error);
  }
  listing_changed(*parent);
  {
    std::lock_guard tree(tree_mutex_);
    detach(parent, name, &r->attr);
  }
  fuse_reply_err(req, 0);
}

void Filesystem::rename(fuse_req_t req, fuse_ino_t parent_ino, const char* name,
                        fuse_ino_t newparent_ino, const char* newname, unsigned flags) {
  if ((flags & ~RENAME_NOREPLACE) != 0) return (void)fuse_reply_err(req, EINVAL);
  Inode* parent = inode(parent_ino);
  Inode* newparent = inode(newparent_ino);
  if (std::strncmp(newname, ".wh.", 4) == 0) return (void)fuse_reply_err(req, EINVAL);
  std::string from, to;
  auto r = resolve_child(*parent, name, nullptr, &from);
  if (!r) return (void)fuse_reply_err(req, ENOENT);
  Chain target_chain;
  auto t = resolve_child(*newparent, newname, &target_chain, &to);
  const bool is_dir = S_ISDIR(r->attr.mode);
  if (t) {
    if (flags & RENAME_NOREPLACE) return (void)fuse_reply_err(req, EEXIST);
    if (t->attr.ino == r->attr.ino && t->layer == r->layer) return (void)fuse_reply_err(req, 0);
    if (S_ISDIR(t->attr.mode) && !is_dir) return (void)fuse_reply_err(req, EISDIR);
    if (!S_ISDIR(t->attr.mode) && is_dir) return (void)fuse_reply_err(req, ENOTDIR);
    if (S_ISDIR(t->attr.mode) && !stack_.list(target_chain, to).empty())
      return (void)fuse_reply_err(req, ENOTEMPTY);
  }
  if (!options_.upper || options_.read_only) return (void)fuse_reply_err(req, EROFS);
  Inode* node;
  {
    std::lock_guard tree(tree_mutex_);
    auto& siblings = children(parent);
    auto it = siblings.find(name);
    node = it == siblings.end() ? nullptr : it->second;
  }
  const bool source_below = lower_has(*parent, name);
  const bool target_below = lower_has(*newparent, newname);
  // A directory with lower content moves as a whole copy; one that only the upper has
  // (nothing below shows its name: it cannot come from a lower layer) moves as it is.
  int error = 0;
  if (node == nullptr) error = EIO;  // the kernel always looks a name up before renaming it
  else if (is_dir) error = source_below ? copy_up_tree(*node) : 0;
  else error = copy_up(*node, false);
  if (error == 0) error = copy_up_dir(*newparent);
  if (error == 0 && t && t->layer == 0 && S_ISDIR(t->attr.mode)) error = remove_upper(to, true);
  if (error != 0) return (void)fuse_reply_err(req, error);
  if (is_dir && source_below) purge_markers(from);
  UniqueFd from_dir, to_dir;
  if ((error = upper_dir_fd(split_parent(from).first, from_dir)) != 0 ||
      (error = upper_dir_fd(split_parent(to).first, to_dir)) != 0)
    return (void)fuse_reply_err(req, error);
  if (::renameat(from_dir.get(), name, to_dir.get(), newname) != 0)
    return (void)fuse_reply_err(req, errno);
  if (cairn_upper()) {
    stack_.erase_upper_meta_tree(to);
    stack_.move_upper_meta(from, to);
  }
  // A directory that only the upper has, moved into a merged directory, is marked opaque
  // (as the kernel's overlay does): no lower directory of its new name may show through.
  if (is_dir && (target_below || (!source_below && merged(*newparent)))) error = set_opaque(to);
  if (error == 0 && source_below) error = whiteout(from);
  note_change(from);
  note_change(to);
  listing_changed(*parent);
  listing_changed(*newparent);
  {
    std::lock_guard tree(tree_mutex_);
    relink(node, parent, name, newparent, newname, t ? &t->attr : nullptr);
  }
  if (is_dir) ++generation_;
  else node->generation = 0;
  fuse_reply_err(req, error);
}

}  // namespace cairn::overlay
