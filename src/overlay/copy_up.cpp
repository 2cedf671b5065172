// Copy-up: making a lower entry live in the upper before it changes.
//
// A regular file is assembled as an O_TMPFILE in the work directory and linked into place
// only when complete, so a crash never leaves a half-copied file in the upper. Holes stay
// holes (SEEK_DATA/SEEK_HOLE), data moves with copy_file_range. In a cairn-format upper a
// change of metadata only (chmod, chown, utimes, xattrs) makes a metacopy: an empty
// placeholder whose record entry says the data is still below. Other names of a multiply
// linked lower file are linked in the upper too, so hard links survive the copy-up.
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "cairn/base/error.hpp"
#include "cairn/base/sys.hpp"
#include "paths.hpp"
#include "fs.hpp"

namespace cairn::overlay {
namespace {

int copy_plain(int in, int out, off_t from, off_t to) {
  char buffer[1 << 16];
  while (from < to) {
    const ssize_t n = ::pread(in, buffer, std::min<off_t>(sizeof buffer, to - from), from);
    if (n < 0) return errno;
    if (n == 0) break;
    for (ssize_t done = 0; done < n;) {
      const ssize_t w = ::pwrite(out, buffer + done, static_cast<size_t>(n - done), from + done);
      if (w < 0) return errno;
      done += w;
    }
    from += n;
  }
  return 0;
}

int copy_range(int in, int out, off_t from, off_t to) {
  while (from < to) {
    loff_t a = from, b = from;
    const ssize_t n = ::copy_file_range(in, &a, out, &b, static_cast<size_t>(to - from), 0);
    if (n < 0) {
      if (errno == EXDEV || errno == ENOSYS || errno == EINVAL || errno == EOPNOTSUPP)
        return copy_plain(in, out, from, to);
      return errno;
    }
    if (n == 0) break;
    from += n;
  }
  return 0;
}

// Copies the data of `in` to `out`, keeping holes.
int copy_data(int in, int out, off_t size) {
  off_t pos = 0;
  while (pos < size) {
    const off_t data = ::lseek(in, pos, SEEK_DATA);
    if (data < 0) {
      if (errno == ENXIO) break;  // only a hole is left
      return copy_range(in, out, pos, size);
    }
    off_t hole = ::lseek(in, data, SEEK_HOLE);
    if (hole < 0) hole = size;
    if (const int error = copy_range(in, out, data, hole)) return error;
    pos = hole;
  }
  return ::ftruncate(out, size) == 0 ? 0 : errno;
}

// Host xattrs of a kernel-format entry (the overlay's own excepted), onto another file.
void copy_xattrs(const std::string& from, const std::string& to) {
  std::string names(65536, '\0');
  const ssize_t n = ::listxattr(from.c_str(), names.data(), names.size());
  for (std::size_t at = 0; n > 0 && at < static_cast<std::size_t>(n);) {
    const std::string name(names.data() + at);
    at += name.size() + 1;
    if (layer::is_reserved_xattr(name)) continue;
    std::string value(65536, '\0');
    const ssize_t v = ::getxattr(from.c_str(), name.c_str(), value.data(), value.size());
    if (v >= 0) ::setxattr(to.c_str(), name.c_str(), value.data(), static_cast<size_t>(v), 0);
  }
}

// A copy-up is no change to the directory it lands in: its times stay what they were (as
// the kernel's overlay keeps them), so that a commit does not see it as modified.
class KeptTimes {
 public:
  explicit KeptTimes(int dirfd) : dirfd_(dirfd), known_(::fstat(dirfd, &before_) == 0) {}
  void restore() const {
    if (!known_) return;
    const struct timespec times[2] = {before_.st_atim, before_.st_mtim};
    ::utimensat(AT_FDCWD, proc_path(dirfd_).c_str(), times, 0);
  }

 private:
  int dirfd_;
  struct stat before_;
  bool known_;
};

}  // namespace

int Filesystem::upper_dir_fd(const std::string& dir, UniqueFd& out) {
  const int fd = sys::try_open_beneath(stack_.root_fd(0), dir.empty() ? "." : dir,
                                       O_PATH | O_DIRECTORY);
  if (fd < 0) return -fd;
  out = UniqueFd(fd);
  return 0;
}

// Owners of a new or copied entry: the record for a cairn upper, the host for a kernel one.
int Filesystem::apply_owner(const std::string& path, int dirfd, uid_t uid, gid_t gid) {
  // A new entry is the server's already: nothing to do when that is what was asked.
  if (to_host_uid(uid) == ::geteuid() && to_host_gid(gid) == ::getegid()) return 0;
  auto [dir, name] = split_parent(path);
  if (::fchownat(dirfd, name.c_str(), to_host_uid(uid), to_host_gid(gid),
                 AT_SYMLINK_NOFOLLOW) != 0 &&
      errno != EPERM && errno != EINVAL)
    return errno;
  return 0;
}

struct CopyUp {
  Filesystem& fs;
  std::size_t created = 0;  // upper directories made (the deepest ancestors)

  // Creates the upper copy of the merged directory `path` (its parents first).
  int directories(const std::string& path) {
    if (path.empty()) return 0;
    UniqueFd fd;
    if (fs.upper_dir_fd(path, fd) == 0) return 0;
    auto [dir, name] = split_parent(path);
    if (const int error = directories(dir)) return error;
    auto r = fs.stack_.lookup(path);
    if (!r || !S_ISDIR(r->attr.mode)) return ENOENT;
    UniqueFd parent;
    if (const int error = fs.upper_dir_fd(dir, parent)) return error;
    const KeptTimes kept(parent.get());
    if (::mkdirat(parent.get(), name.c_str(), 0700) != 0 && errno != EEXIST) return errno;
    ++created;
    const int error = finish(parent.get(), path, *r, false);
    kept.restore();
    return error;
  }

  // Metadata of a fresh upper copy of `r` at `path` (in directory `dirfd`).
  int finish(int dirfd, const std::string& path, const Resolved& r, bool metacopy) {
    auto [dir, name] = split_parent(path);
    const Attributes& a = r.attr;
    const bool symlink = S_ISLNK(a.mode);
    if (fs.cairn_upper()) {
      if (!symlink) ::fchmodat(dirfd, name.c_str(), host_mode(a.mode), 0);
      layer::EntryMeta m;
      m.uid = a.uid;
      m.gid = a.gid;
      m.mode = a.mode;
      m.rdev = a.rdev;
      m.xattrs = r.xattrs;
      m.origin = a.ino;
      m.metacopy = metacopy;
      fs.stack_.set_upper_meta(path, std::move(m));
    } else {
      struct stat st;
      if (!S_ISDIR(a.mode) && ::fstatat(dirfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0)
        fs.remember_origin(st.st_ino, a.ino);
      if (::fchownat(dirfd, name.c_str(), a.uid, a.gid, AT_SYMLINK_NOFOLLOW) != 0 &&
          errno != EPERM && errno != EINVAL)
        return errno;
      if (!symlink && ::fchmodat(dirfd, name.c_str(), a.mode & 07777, 0) != 0) return errno;
      if (!symlink) {
        const UniqueFd from = fs.stack_.open_entry(r.layer, path);
        const UniqueFd to = fs.stack_.open_entry(0, path);
        if (from && to) copy_xattrs(proc_path(from.get()), proc_path(to.get()));
      }
    }
    const struct timespec times[2] = {a.atime, a.mtime};
    ::utimensat(dirfd, name.c_str(), times, AT_SYMLINK_NOFOLLOW);
    fs.note_change(path);
    return 0;
  }

  // A regular file's data, into a new tmpfile linked at `name` in `dirfd`.
  int file(int dirfd, const std::string& name, const Resolved& r, std::size_t data_layer) {
    const UniqueFd in(sys::try_open_beneath(fs.stack_.root_fd(data_layer), r.path, O_RDONLY));
    if (!in) return EIO;
    const int out = ::openat(fs.work_.get(), ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (out < 0) return errno;
    const UniqueFd owned(out);
    if (const int error = copy_data(in.get(), out, r.attr.size)) return error;
    ::unlinkat(dirfd, name.c_str(), 0);  // a metacopy placeholder, if any
    if (::linkat(AT_FDCWD, proc_path(out).c_str(), dirfd, name.c_str(), AT_SYMLINK_FOLLOW) != 0)
      return errno;
    return 0;
  }

  // Anything that is not a directory.
  int entry(int dirfd, const std::string& name, const Resolved& r, std::size_t data_layer,
            bool metacopy) {
    const mode_t type = r.attr.mode & S_IFMT;
    const bool cairn = fs.cairn_upper();
    if (type == S_IFREG && metacopy) {
      const int fd = ::openat(dirfd, name.c_str(), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
      if (fd < 0) return errno;
      ::close(fd);
      return 0;
    }
    if (type == S_IFREG) return file(dirfd, name, r, data_layer);
    if (type == S_IFLNK) {
      const UniqueFd parent = fs.stack_.open_dir(r.layer, split_parent(r.path).first);
      char target[PATH_MAX + 1];
      const ssize_t n = parent ? ::readlinkat(parent.get(), name.c_str(), target, PATH_MAX) : -1;
      if (n < 0) return parent ? errno : ENOENT;
      target[n] = '\0';
      return ::symlinkat(target, dirfd, name.c_str()) == 0 ? 0 : errno;
    }
    if (cairn && (type == S_IFCHR || type == S_IFBLK)) {
      const int fd = ::openat(dirfd, name.c_str(), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
      if (fd < 0) return errno;
      ::close(fd);
      return 0;
    }
    return ::mknodat(dirfd, name.c_str(), type | 0600, r.attr.rdev) == 0 ? 0 : errno;
  }

  // Links the other names of a multiply linked lower file to its new upper copy.
  void links(const std::string& path, const Resolved& r) {
    for (const std::string& other : fs.stack_.links_in_layer(r.layer, r.attr.host_ino)) {
      if (other == path) continue;
      auto o = fs.stack_.lookup(other);
      if (!o || o->layer != r.layer || o->attr.host_ino != r.attr.host_ino) continue;
      auto [dir, name] = split_parent(other);
      if (directories(dir) != 0) continue;
      UniqueFd from, to;
      if (fs.upper_dir_fd(split_parent(path).first, from) != 0 || fs.upper_dir_fd(dir, to) != 0) continue;
      if (::linkat(from.get(), split_parent(path).second.c_str(), to.get(), name.c_str(), 0) != 0)
        continue;
      if (fs.cairn_upper()) {
        if (auto m = fs.stack_.upper_meta(path)) fs.stack_.set_upper_meta(other, *m);
      }
      fs.note_change(other);
      ++fs.generation_;  // parents of the other names may have gained an upper copy
    }
  }

  // Copies up the merged entry at `path`. metacopy: only its metadata.
  int path(const std::string& path, bool metacopy) {
    auto r = fs.stack_.lookup(path);
    if (!r) return ENOENT;
    if (S_ISDIR(r->attr.mode)) return directories(path);
    const bool filling = r->layer == 0;  // a metacopy getting its data
    if (filling && (metacopy || r->data_layer == 0)) return 0;
    auto [dir, name] = split_parent(path);
    if (const int error = directories(dir)) return error;
    UniqueFd parent;
    if (const int error = fs.upper_dir_fd(dir, parent)) return error;
    if (filling) {
      if (const int error = file(parent.get(), name, *r, r->data_layer)) return error;
      if (auto m = fs.stack_.upper_meta(path)) {
        m->metacopy = false;
        fs.stack_.set_upper_meta(path, std::move(*m));
      }
      ::fchmodat(parent.get(), name.c_str(), host_mode(r->attr.mode), 0);
      fs.note_change(path);
      return 0;
    }
    const bool meta = metacopy && fs.cairn_upper() && fs.options_.metacopy &&
                      S_ISREG(r->attr.mode);
    const KeptTimes kept(parent.get());
    if (const int error = entry(parent.get(), name, *r, r->data_layer, meta)) return error;
    if (const int error = finish(parent.get(), path, *r, meta)) return error;
    if (!meta && S_ISREG(r->attr.mode) && r->attr.nlink > 1) links(path, *r);
    kept.restore();
    return 0;
  }

  // Everything below a merged directory, for a rename: the upper copy must stand alone.
  int tree(const std::string& dir) {
    if (const int error = directories(dir)) return error;
    for (const DirEntry& e : fs.stack_.list(dir)) {
      const std::string child = dir.empty() ? e.name : dir + '/' + e.name;
      const int error = e.type == S_IFDIR ? tree(child) : path(child, false);
      if (error != 0) return error;
    }
    return 0;
  }
};

// The directories whose upper copies a copy-up made gain an upper level in their chains:
// the node itself (for a directory) and its `created` nearest ancestors. (Collected under
// the tree lock, marked without it: a node's mutex is never taken while the tree lock is
// held.)
static void mark_stale(std::mutex& tree_mutex, Inode* node, std::size_t created) {
  std::vector<Inode*> nodes;
  {
    std::lock_guard tree(tree_mutex);
    Inode* n = S_ISDIR(node->type) ? node : node->parent;
    for (; n != nullptr && created > 0; n = n->parent, --created) nodes.push_back(n);
  }
  for (Inode* n : nodes) n->generation = 0;
}

int Filesystem::copy_up(Inode& node, bool meta_only) {
  if (!options_.upper || options_.read_only) return EROFS;
  const Place p = place(node);
  if (p.layer == 0 && (meta_only || p.data_layer == 0)) return 0;
  std::lock_guard serial(copy_up_mutex_);
  CopyUp up{*this};
  if (const int error = up.path(p.path, meta_only)) return error;
  if (!S_ISDIR(node.type)) {
    // The node now lives in the upper (its data too, unless this was a metacopy).
    std::lock_guard lock(node.mutex);
    node.layer = 0;
    if (!(meta_only && cairn_upper() && options_.metacopy && S_ISREG(node.type)))
      node.data_layer = 0;
  }
  mark_stale(tree_mutex_, &node, up.created);
  return 0;
}

int Filesystem::copy_up_dir(Inode& dir) {
  if (!options_.upper || options_.read_only) return EROFS;
  const Place p = place(dir);
  if (p.layer == 0) return 0;
  std::lock_guard serial(copy_up_mutex_);
  CopyUp up{*this};
  if (const int error = up.directories(p.path)) return error;
  mark_stale(tree_mutex_, &dir, up.created);
  return 0;
}

int Filesystem::copy_up_tree(Inode& dir) {
  if (!options_.upper || options_.read_only) return EROFS;
  const Place p = place(dir);
  std::lock_guard serial(copy_up_mutex_);
  if (const int error = CopyUp{*this}.tree(p.path)) return error;
  ++generation_;  // every cached inode below may have moved to the upper
  return 0;
}

}  // namespace cairn::overlay
