// The C entry points libfuse calls: each finds the Filesystem and turns the rare exception
// (an unexpected I/O error from a layer) into the errno it carries.
#include <cerrno>
#include <new>

#include "cairn/base/error.hpp"
#include "cairn/base/log.hpp"
#include "fs.hpp"

namespace cairn::overlay {
namespace {

Filesystem& fs(fuse_req_t req) { return *static_cast<Filesystem*>(fuse_req_userdata(req)); }

template <typename Body>
void guarded(fuse_req_t req, Body&& body) {
  try {
    body(fs(req));
  } catch (const Error& e) {
    fuse_reply_err(req, e.errno_value() != 0 ? e.errno_value() : EIO);
  } catch (const std::bad_alloc&) {
    fuse_reply_err(req, ENOMEM);
  } catch (const std::exception&) {
    fuse_reply_err(req, EIO);
  }
}

void op_init(void* userdata, fuse_conn_info* conn) { static_cast<Filesystem*>(userdata)->init(conn); }
void op_destroy(void* userdata) { static_cast<Filesystem*>(userdata)->destroy(); }

void op_lookup(fuse_req_t req, fuse_ino_t parent, const char* name) {
  guarded(req, [&](Filesystem& f) { f.lookup(req, parent, name); });
}
void op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t n) {
  fs(req).forget(ino, n);
  fuse_reply_none(req);
}
void op_forget_multi(fuse_req_t req, size_t count, fuse_forget_data* forgets) {
  for (size_t i = 0; i < count; ++i) fs(req).forget(forgets[i].ino, forgets[i].nlookup);
  fuse_reply_none(req);
}
void op_getattr(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  guarded(req, [&](Filesystem& f) { f.getattr(req, ino, fi); });
}
void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat* attr, int to_set, fuse_file_info* fi) {
  guarded(req, [&](Filesystem& f) { f.setattr(req, ino, attr, to_set, fi); });
}
void op_readlink(fuse_req_t req, fuse_ino_t ino) {
  guarded(req, [&](Filesystem& f) { f.readlink(req, ino); });
}
void op_mknod(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode, dev_t rdev) {
  guarded(req, [&](Filesystem& f) { f.mknod(req, parent, name, mode, rdev); });
}
void op_mkdir(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode) {
  guarded(req, [&](Filesystem& f) { f.mkdir(req, parent, name, mode); });
}
void op_unlink(fuse_req_t req, fuse_ino_t parent, const char* name) {
  guarded(req, [&](Filesystem& f) { f.unlink(req, parent, name, false); });
}
void op_rmdir(fuse_req_t req, fuse_ino_t parent, const char* name) {
  guarded(req, [&](Filesystem& f) { f.unlink(req, parent, name, true); });
}
void op_symlink(fuse_req_t req, const char* target, fuse_ino_t parent, const char* name) {
  guarded(req, [&](Filesystem& f) { f.symlink(req, target, parent, name); });
}
void op_rename(fuse_req_t req, fuse_ino_t parent, const char* name, fuse_ino_t newparent,
               const char* newname, unsigned flags) {
  guarded(req, [&](Filesystem& f) { f.rename(req, parent, name, newparent, newname, flags); });
}
void op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t parent, const char* name) {
  guarded(req, [&](Filesystem& f) { f.link(req, ino, parent, name); });
}
void op_open(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  guarded(req, [&](Filesystem& f) { f.open(req, ino, fi); });
}
void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info* fi) {
  guarded(req, [&](Filesystem& f) { f.read(req, ino, size, off, fi); });
}
void op_write_buf(fuse_req_t req, fuse_ino_t ino, fuse_bufvec* in, off_t off, fuse_file_info* fi) {
  guarded(req, [&](Filesystem& f) { f.write_buf(req, ino, in, off, fi); });
}
void op_release(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  guarded(req, [&](Filesystem& f) { f.release(req, ino, fi); });
}
void op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, fuse_file_info* fi) {
  guarded(req, [&](Filesystem& f) { f.fsync(req, ino, datasync, fi); });
}
void op_opendir(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  guarded(req, [&](Filesystem& f) { f.opendir(req, ino, fi); });
}
void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info* fi) {
  guarded(req, [&](Filesystem& f) { f.readdir(req, ino, size, off, fi, false); });
}
void op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info* fi) {
  guarded(req, [&](Filesystem& f) { f.readdir(req, ino, size, off, fi, true); });
}
void op_releasedir(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  guarded(req, [&](Filesystem& f) { f.releasedir(req, ino, fi); });
}
void op_fsyncdir(fuse_req_t req, fuse_ino_t, int, fuse_file_info*) { fuse_reply_err(req, 0); }
void op_statfs(fuse_req_t req, fuse_ino_t ino) {
  guarded(req, [&](Filesystem& f) { f.statfs(req, ino); });
}
void op_setxattr(fuse_req_t req, fuse_ino_t ino, const char* name, const char* value, size_t size,
                 int flags) {
  guarded(req, [&](Filesystem& f) { f.setxattr(req, ino, name, value, size, flags); });
}
void op_getxattr(fuse_req_t req, fuse_ino_t ino, const char* name, size_t size) {
  guarded(req, [&](Filesystem& f) { f.getxattr(req, ino, name, size); });
}
void op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size) {
  guarded(req, [&](Filesystem& f) { f.listxattr(req, ino, size); });
}
void op_removexattr(fuse_req_t req, fuse_ino_t ino, const char* name) {
  guarded(req, [&](Filesystem& f) { f.removexattr(req, ino, name); });
}
void op_create(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode, fuse_file_info* fi) {
  guarded(req, [&](Filesystem& f) { f.create(req, parent, name, mode, fi); });
}
void op_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t off, off_t len, fuse_file_info* fi) {
  guarded(req, [&](Filesystem& f) { f.fallocate(req, ino, mode, off, len, fi); });
}
void op_lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence, fuse_file_info* fi) {
  guarded(req, [&](Filesystem& f) { f.lseek(req, ino, off, whence, fi); });
}

fuse_lowlevel_ops make_operations() {
  fuse_lowlevel_ops o{};
  o.init = op_init;
  o.destroy = op_destroy;
  o.lookup = op_lookup;
  o.forget = op_forget;
  o.forget_multi = op_forget_multi;
  o.getattr = op_getattr;
  o.setattr = op_setattr;
  o.readlink = op_readlink;
  o.mknod = op_mknod;
  o.mkdir = op_mkdir;
  o.unlink = op_unlink;
  o.rmdir = op_rmdir;
  o.symlink = op_symlink;
  o.rename = op_rename;
  o.link = op_link;
  o.open = op_open;
  o.read = op_read;
  o.write_buf = op_write_buf;
  o.release = op_release;
  o.fsync = op_fsync;
  o.opendir = op_opendir;
  o.readdir = op_readdir;
  o.readdirplus = op_readdirplus;
  o.releasedir = op_releasedir;
  o.fsyncdir = op_fsyncdir;
  o.statfs = op_statfs;
  o.setxattr = op_setxattr;
  o.getxattr = op_getxattr;
  o.listxattr = op_listxattr;
  o.removexattr = op_removexattr;
  o.create = op_create;
  o.fallocate = op_fallocate;
  o.lseek = op_lseek;
  // No flush (nothing to do), no getlk/setlk/flock: the kernel then keeps locks itself,
  // which is exact for a filesystem that one daemon serves.
  return o;
}

}  // namespace

const fuse_lowlevel_ops& Filesystem::operations() {
  static const fuse_lowlevel_ops ops = make_operations();
  return ops;
}

// What the kernel may cache and how requests travel. Lower layers never change and every
// change to the upper comes through this mount, so entries, attributes and pages may be
// cached for as long as the kernel likes.
void Filesystem::init(fuse_conn_info* conn) {
  auto want = [&](unsigned flag) {
    if (conn->capable & flag) conn->want |= flag;
  };
  want(FUSE_CAP_READDIRPLUS);
  conn->want &= ~FUSE_CAP_READDIRPLUS_AUTO;  // always plus: find and ls -l both need attrs
  want(FUSE_CAP_PARALLEL_DIROPS);
  no_opendir_ = (conn->capable & FUSE_CAP_NO_OPENDIR_SUPPORT) != 0;
  want(FUSE_CAP_CACHE_SYMLINKS);
  // Read replies splice the file's pages to the device (measured: faster than a copy).
  // Not SPLICE_MOVE: moving pages would take them out of the host file's page cache, and
  // the next mount would read them from disk again.
  want(FUSE_CAP_SPLICE_WRITE);
  conn->want &= ~FUSE_CAP_SPLICE_MOVE;
  // Not FUSE_CAP_SPLICE_READ: splicing every request in costs more syscalls than the
  // copies it saves, except for large writes.
  conn->want &= ~FUSE_CAP_SPLICE_READ;
  want(FUSE_CAP_ASYNC_READ);
  want(FUSE_CAP_ASYNC_DIO);
  // The kernel would otherwise ask for security.capability before every write; the host
  // filesystem under the upper clears setuid bits and capabilities on our own writes.
  want(FUSE_CAP_HANDLE_KILLPRIV);
  conn->want &= ~FUSE_CAP_AUTO_INVAL_DATA;  // nothing changes behind the kernel's back
  if (options_.upper && !options_.read_only && (conn->capable & FUSE_CAP_WRITEBACK_CACHE)) {
    conn->want |= FUSE_CAP_WRITEBACK_CACHE;
    writeback_ = true;
  }
  conn->max_write = 1 << 20;
  conn->max_readahead = 1 << 20;
  conn->max_background = 64;
  conn->congestion_threshold = 48;
  conn->time_gran = 1;
}

void Filesystem::destroy() {
  try {
    save_record();
  } catch (const Error& e) {
    log_line(LogLevel::error, std::string("overlay: saving the upper record: ") + e.what());
  }
}

}  // namespace cairn::overlay
