// The overlay's file operations (open, read, write, fsync, fallocate, lseek) and the
// metadata changes of one inode (setattr, setxattr, removexattr).
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

int fd_of(const fuse_file_info* fi) { return static_cast<int>(fi->fh); }

// "UID:GID" → ids; false when malformed.
// "UID:GID"; -1 keeps that id (as chown's -1 does).
bool parse_owner(std::string_view text, uid_t& uid, gid_t& gid) {
  long u, g;
  char tail;
  const std::string s(text);
  if (std::sscanf(s.c_str(), "%ld:%ld%c", &u, &g, &tail) != 2) return false;
  if (u < -1 || g < -1 || u > 0xfffffffeL || g > 0xfffffffeL) return false;
  if (u != -1) uid = static_cast<uid_t>(u);
  if (g != -1) gid = static_cast<gid_t>(g);
  return true;
}

// "c:MAJOR:MINOR" or "b:MAJOR:MINOR" → type and number.
bool parse_device(std::string_view text, mode_t& type, dev_t& rdev) {
  unsigned major_number, minor_number;
  char kind, tail;
  const std::string s(text);
  if (std::sscanf(s.c_str(), "%c:%u:%u%c", &kind, &major_number, &minor_number, &tail) != 3)
    return false;
  if (kind != 'c' && kind != 'b') return false;
  type = kind == 'c' ? S_IFCHR : S_IFBLK;
  rdev = makedev(major_number, minor_number);
  return true;
}

}  // namespace

void Filesystem::open(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  Inode* node = inode(ino);
  const bool writing = (fi->flags & O_ACCMODE) != O_RDONLY || (fi->flags & O_TRUNC) != 0;
  if (writing) {
    if (const int error = copy_up(*node, false)) return (void)fuse_reply_err(req, error);
  }
  const Place p = place(*node);
  const std::size_t layer = writing ? p.layer : p.data_layer;
  const int fd = sys::try_open_beneath(stack_.root_fd(layer), p.path, open_flags(fi->flags));
  if (fd < 0) return (void)fuse_reply_err(req, -fd);
  if (writing) note_change(p.path);
  fi->fh = static_cast<std::uint64_t>(fd);
  // Every change to a file comes through this mount: the kernel's cached pages stay valid.
  fi->keep_cache = 1;
  hold(node);
  if (fuse_reply_open(req, fi) != 0) {
    ::close(fd);
    drop(node, 0, 1);
  }
}

void Filesystem::read(fuse_req_t req, fuse_ino_t, size_t size, off_t off, fuse_file_info* fi) {
  fuse_bufvec buf = FUSE_BUFVEC_INIT(size);
  buf.buf[0].flags = static_cast<fuse_buf_flags>(FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK);
  buf.buf[0].fd = fd_of(fi);
  buf.buf[0].pos = off;
  fuse_reply_data(req, &buf, static_cast<fuse_buf_copy_flags>(0));
}

void Filesystem::write_buf(fuse_req_t req, fuse_ino_t, fuse_bufvec* in, off_t off,
                           fuse_file_info* fi) {
  fuse_bufvec out = FUSE_BUFVEC_INIT(fuse_buf_size(in));
  out.buf[0].flags = static_cast<fuse_buf_flags>(FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK);
  out.buf[0].fd = fd_of(fi);
  out.buf[0].pos = off;
  const ssize_t n = fuse_buf_copy(&out, in, static_cast<fuse_buf_copy_flags>(0));
  if (n < 0) fuse_reply_err(req, static_cast<int>(-n));
  else fuse_reply_write(req, static_cast<size_t>(n));
}

void Filesystem::release(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  ::close(fd_of(fi));
  drop(inode(ino), 0, 1);
  fuse_reply_err(req, 0);
}

void Filesystem::fsync(fuse_req_t req, fuse_ino_t, int datasync, fuse_file_info* fi) {
  const int result = datasync ? ::fdatasync(fd_of(fi)) : ::fsync(fd_of(fi));
  fuse_reply_err(req, result == 0 ? 0 : errno);
}

void Filesystem::fallocate(fuse_req_t req, fuse_ino_t, int mode, off_t off, off_t len,
                           fuse_file_info* fi) {
  fuse_reply_err(req, ::fallocate(fd_of(fi), mode, off, len) == 0 ? 0 : errno);
}

void Filesystem::lseek(fuse_req_t req, fuse_ino_t, off_t off, int whence, fuse_file_info* fi) {
  const off_t at = ::lseek(fd_of(fi), off, whence);
  if (at < 0) fuse_reply_err(req, errno);
  else fuse_reply_lseek(req, at);
}

// The atime and mtime a setattr asks for, as utimensat(2) takes them.
static void requested_times(const struct stat* attr, int to_set, struct timespec times[2]) {
  times[0].tv_nsec = UTIME_OMIT;
  times[1].tv_nsec = UTIME_OMIT;
  if (to_set & FUSE_SET_ATTR_ATIME_NOW) times[0].tv_nsec = UTIME_NOW;
  else if (to_set & FUSE_SET_ATTR_ATIME) times[0] = attr->st_atim;
  if (to_set & FUSE_SET_ATTR_MTIME_NOW) times[1].tv_nsec = UTIME_NOW;
  else if (to_set & FUSE_SET_ATTR_MTIME) times[1] = attr->st_mtim;
}

// The times of an open file, set through its descriptor (also after an unlink).
static int set_times(int fd, const struct stat* attr, int to_set) {
  struct timespec times[2];
  requested_times(attr, to_set, times);
  return ::futimens(fd, times) == 0 ? 0 : errno;
}

// setattr of a file whose last name is gone but which is still open: only its data and
// times are left to change (the kernel flushes times on close).
void Filesystem::setattr_unlinked(fuse_req_t req, fuse_ino_t ino, struct stat* attr, int to_set,
                                  fuse_file_info* fi) {
  int error = 0;
  if (fi != nullptr && (to_set & FUSE_SET_ATTR_SIZE))
    error = ::ftruncate(fd_of(fi), attr->st_size) == 0 ? 0 : errno;
  if (error == 0 && fi != nullptr && (to_set & (FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME)))
    error = set_times(fd_of(fi), attr, to_set);
  if (error != 0) return (void)fuse_reply_err(req, error);
  getattr(req, ino, fi);
}

void Filesystem::setattr(fuse_req_t req, fuse_ino_t ino, struct stat* attr, int to_set,
                         fuse_file_info* fi) {
  Inode* node = inode(ino);
  bool unlinked;
  {
    std::lock_guard tree(tree_mutex_);
    unlinked = node->unlinked;
  }
  if (unlinked) return setattr_unlinked(req, ino, attr, to_set, fi);
  const bool size = (to_set & FUSE_SET_ATTR_SIZE) != 0;
  if (const int error = copy_up(*node, !size)) return (void)fuse_reply_err(req, error);
  const Place p = place(*node);
  auto [dir, name] = split_parent(p.path);
  UniqueFd dirfd;
  if (const int error = upper_dir_fd(dir, dirfd)) return (void)fuse_reply_err(req, error);
  const bool root = p.path.empty();
  // The root is its upper directory itself, reached through its /proc name (followed: it
  // is never a symlink).
  if (root) name = proc_path(dirfd.get());
  const int at = root ? AT_FDCWD : dirfd.get();
  const int nofollow = root ? 0 : AT_SYMLINK_NOFOLLOW;
  const bool symlink = S_ISLNK(node->type);
  if (size) {
    int result;
    if (fi != nullptr) {
      result = ::ftruncate(fd_of(fi), attr->st_size);
    } else {
      const UniqueFd fd(::openat(at, name.c_str(), O_WRONLY | O_NOFOLLOW | O_CLOEXEC));
      result = fd ? ::ftruncate(fd.get(), attr->st_size) : -1;
    }
    if (result != 0) return (void)fuse_reply_err(req, errno);
  }
  const bool mode = (to_set & FUSE_SET_ATTR_MODE) != 0;
  const bool owner = (to_set & (FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID)) != 0;
  if (cairn_upper() && (mode || owner)) {
    layer::EntryMeta m = stack_.upper_meta(p.path).value_or(layer::EntryMeta{});
    if (m.mode == 0) {
      Resolved now;
      if (attributes_of(*node, now) == 0) m.mode = now.attr.mode;
    }
    if (mode) m.mode = (m.mode & S_IFMT) | (attr->st_mode & 07777);
    if (to_set & FUSE_SET_ATTR_UID) m.uid = attr->st_uid;
    if (to_set & FUSE_SET_ATTR_GID) m.gid = attr->st_gid;
    if (mode && !symlink && !m.is_device())
      ::fchmodat(at, name.c_str(), host_mode(m.mode), 0);
    stack_.set_upper_meta(p.path, std::move(m));
  } else {
    if (mode && ::fchmodat(at, name.c_str(), attr->st_mode & 07777, 0) != 0)
      return (void)fuse_reply_err(req, errno);
    if (owner) {
      const uid_t uid = (to_set & FUSE_SET_ATTR_UID) ? to_host_uid(attr->st_uid) : uid_t(-1);
      const gid_t gid = (to_set & FUSE_SET_ATTR_GID) ? to_host_gid(attr->st_gid) : gid_t(-1);
      if (::fchownat(at, name.c_str(), uid, gid, nofollow) != 0)
        return (void)fuse_reply_err(req, errno);
    }
  }
  if (to_set & (FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME)) {
    struct timespec times[2];
    requested_times(attr, to_set, times);
    if (::utimensat(at, name.c_str(), times, nofollow) != 0)
      return (void)fuse_reply_err(req, errno);
  }
  note_change(p.path);
  getattr(req, ino, fi);
}

// security.cairn.owner ("UID:GID") and security.cairn.device ("c|b:MAJOR:MINOR") record
// what the kernel cannot represent in a user namespace with a single mapped id: the
// sandbox sets them for a chown or mknod it intercepted. They are never stored as xattrs.
int Filesystem::set_recorded(Inode& node, std::string_view name, std::string_view value) {
  if (!cairn_upper()) return ENOTSUP;
  if (const int error = copy_up(node, true)) return error;
  const Place p = place(node);
  const auto recorded = stack_.upper_meta(p.path);
  layer::EntryMeta m = recorded.value_or(layer::EntryMeta{});
  if (!recorded || m.mode == 0) {
    Resolved now;
    if (attributes_of(node, now) == 0) {
      m.mode = now.attr.mode;
      if (!recorded) {
        m.uid = now.attr.uid;
        m.gid = now.attr.gid;
      }
    }
  }
  if (name == "security.cairn.owner") {
    if (!parse_owner(value, m.uid, m.gid)) return EINVAL;
    // As the kernel's chown does, also for root: no setuid, and no setgid with group exec.
    if (S_ISREG(m.mode)) m.mode &= ~(S_ISUID | ((m.mode & S_IXGRP) ? S_ISGID : 0));
  } else {
    mode_t type;
    dev_t rdev;
    if (!parse_device(value, type, rdev) || !S_ISREG(node.type)) return EINVAL;
    m.mode = type | (m.mode & 07777);
    m.rdev = rdev;
  }
  stack_.set_upper_meta(p.path, std::move(m));
  note_change(p.path);
  return 0;
}

void Filesystem::setxattr(fuse_req_t req, fuse_ino_t ino, const char* name, const char* value,
                          size_t size, int flags) {
  Inode* node = inode(ino);
  const std::string_view key = name;
  if (key == "security.cairn.owner" || key == "security.cairn.device") {
    const int error = set_recorded(*node, key, {value, size});
    // The kernel keeps cached attributes across a setxattr: drop them (attributes only).
    if (error == 0 && session_ != nullptr) fuse_lowlevel_notify_inval_inode(session_, ino, -1, 0);
    return (void)fuse_reply_err(req, error);
  }
  if (layer::is_reserved_xattr(key)) return (void)fuse_reply_err(req, EPERM);
  if (const int error = copy_up(*node, true)) return (void)fuse_reply_err(req, error);
  const Place p = place(*node);
  if (cairn_upper()) {
    layer::EntryMeta m = stack_.upper_meta(p.path).value_or(layer::EntryMeta{});
    const bool exists = m.xattrs.count(name) != 0;
    if ((flags & XATTR_CREATE) && exists) return (void)fuse_reply_err(req, EEXIST);
    if ((flags & XATTR_REPLACE) && !exists) return (void)fuse_reply_err(req, ENODATA);
    m.xattrs[name] = std::string(value, size);
    stack_.set_upper_meta(p.path, std::move(m));
  } else {
    const UniqueFd fd = stack_.open_entry(0, p.path);
    if (!fd) return (void)fuse_reply_err(req, ENOENT);
    if (::setxattr(proc_path(fd.get()).c_str(), name, value, size, flags) != 0)
      return (void)fuse_reply_err(req, errno);
  }
  note_change(p.path);
  fuse_reply_err(req, 0);
}

void Filesystem::removexattr(fuse_req_t req, fuse_ino_t ino, const char* name) {
  Inode* node = inode(ino);
  if (layer::is_reserved_xattr(name)) return (void)fuse_reply_err(req, ENODATA);
  if (const int error = copy_up(*node, true)) return (void)fuse_reply_err(req, error);
  const Place p = place(*node);
  if (cairn_upper()) {
    layer::EntryMeta m = stack_.upper_meta(p.path).value_or(layer::EntryMeta{});
    if (m.xattrs.erase(name) == 0) return (void)fuse_reply_err(req, ENODATA);
    stack_.set_upper_meta(p.path, std::move(m));
  } else {
    const UniqueFd fd = stack_.open_entry(0, p.path);
    if (!fd) return (void)fuse_reply_err(req, ENOENT);
    if (::removexattr(proc_path(fd.get()).c_str(), name) != 0)
      return (void)fuse_reply_err(req, errno);
  }
  note_change(p.path);
  fuse_reply_err(req, 0);
}

}  // namespace cairn::overlay
