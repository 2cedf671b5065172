// The FUSE low-level filesystem behind overlay::Mount (private to the overlay module).
//
// Inodes: every node the kernel knows is an Inode whose address is its FUSE node id. An
// inode knows its place in the tree (parent + name, plus further names for hard links),
// where it lives (the layer that answers for it, and for a metacopy the layer with the
// data) and, for a directory, its chain. Renames re-link one inode; a rename of a directory
// bumps `generation_`, and inodes whose cached place is older re-resolve by path.
//
// Inside the ops errors are errno values; the Stack's rare I/O exceptions are turned into
// their errno at the boundary (ops.cpp).
#pragma once

#define FUSE_USE_VERSION 312
#include <fuse_lowlevel.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <set>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "cairn/base/fd.hpp"
#include "cairn/overlay/mount.hpp"
#include "cairn/overlay/stack.hpp"

namespace cairn::overlay {

struct Inode {
  mode_t type = 0;  // S_IFMT bits
  ino_t ino = 0;    // the number stat shows
  // Tree place, guarded by Filesystem::tree_mutex_.
  Inode* parent = nullptr;
  std::string name;
  std::vector<std::pair<Inode*, std::string>> more_links;  // other names (hard links)
  // Directories only: the names the kernel knows below it.
  std::unique_ptr<std::unordered_map<std::string, Inode*>> children;
  bool unlinked = false;
  std::uint64_t lookups = 0;  // the kernel's references
  std::uint64_t holds = 0;    // children and open handles
  // Location, guarded by `mutex`.
  std::mutex mutex;
  std::atomic<std::uint64_t> generation{0};  // 0: stale, re-resolve before use
  std::size_t layer = 0;
  std::size_t data_layer = 0;
  std::shared_ptr<const Chain> chain;  // directories only
  std::unique_ptr<Attributes> last;    // an unlinked file's, for fstat while it is open
  std::shared_ptr<const std::vector<DirEntry>> listing;  // directories: until a change
};

// What an operation found out about an inode's place: a snapshot taken under its mutex.
struct Place {
  std::string path;
  std::size_t layer = 0;
  std::size_t data_layer = 0;
};

class Filesystem {
 public:
  explicit Filesystem(MountOptions options);
  ~Filesystem();

  static const fuse_lowlevel_ops& operations();

  void init(fuse_conn_info* conn);
  void set_session(fuse_session* session) { session_ = session; }
  void destroy();
  void save_record() { stack_.save_upper_record(); }
  std::vector<std::string> changes() const;
  std::size_t peak_inodes() const { return peak_inodes_; }

  // --- the operations (ops.cpp calls these; each replies exactly once) ---
  void lookup(fuse_req_t req, fuse_ino_t parent, const char* name);
  void forget(fuse_ino_t ino, std::uint64_t n);
  void getattr(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi);
  void setattr(fuse_req_t req, fuse_ino_t ino, struct stat* attr, int to_set,
               fuse_file_info* fi);
  void setattr_unlinked(fuse_req_t req, fuse_ino_t ino, struct stat* attr, int to_set,
                        fuse_file_info* fi);
  void readlink(fuse_req_t req, fuse_ino_t ino);
  void mknod(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode, dev_t rdev);
  void mkdir(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode);
  void symlink(fuse_req_t req, const char* target, fuse_ino_t parent, const char* name);
  void link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t parent, const char* name);
  void unlink(fuse_req_t req, fuse_ino_t parent, const char* name, bool directory);
  void rename(fuse_req_t req, fuse_ino_t parent, const char* name, fuse_ino_t newparent,
              const char* newname, unsigned flags);
  void open(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi);
  void create(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode,
              fuse_file_info* fi);
  void read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info* fi);
  void write_buf(fuse_req_t req, fuse_ino_t ino, fuse_bufvec* in, off_t off,
                 fuse_file_info* fi);
  void release(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi);
  void fsync(fuse_req_t req, fuse_ino_t ino, int datasync, fuse_file_info* fi);
  void fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t off, off_t len,
                 fuse_file_info* fi);
  void lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence, fuse_file_info* fi);
  void opendir(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi);
  void readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info* fi,
               bool plus);
  void releasedir(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi);
  void statfs(fuse_req_t req, fuse_ino_t ino);
  void setxattr(fuse_req_t req, fuse_ino_t ino, const char* name, const char* value,
                size_t size, int flags);
  void getxattr(fuse_req_t req, fuse_ino_t ino, const char* name, size_t size);
  void listxattr(fuse_req_t req, fuse_ino_t ino, size_t size);
  void removexattr(fuse_req_t req, fuse_ino_t ino, const char* name);

 private:
  friend struct CopyUp;

  Inode* inode(fuse_ino_t ino);
  fuse_ino_t node_id(Inode* node) const;
  std::string path_of(const Inode* node) const;  // caller holds tree_mutex_
  Place place(Inode& node);
  int refresh(Inode& node);  // re-resolves a stale place; 0 or errno
  std::shared_ptr<const Chain> chain_of(Inode& node);
  std::optional<Resolved> resolve_child(Inode& parent, const std::string& name, Chain* child,
                                        std::string* path);
  std::optional<Resolved> resolve_in(const Chain& chain, const std::string& dir,
                                     const std::string& name, Chain* child) const;
  void remember_origin(ino_t upper_host_ino, ino_t origin);
  Inode* remember(Inode* parent, const std::string& name, const Resolved& r,
                  std::optional<Chain> chain);
  // Caller holds tree_mutex_. `gone`: the attributes of a removed name, kept for fstat.
  void detach(Inode* parent, const std::string& name, const Attributes* gone = nullptr);
  // `replaced`: the attributes of what the new name named, kept for its open handles.
  void relink(Inode* node, Inode* from, const std::string& name, Inode* to,
              const std::string& newname, const Attributes* replaced = nullptr);  // caller holds tree_mutex_
  void hold(Inode* node);
  void drop(Inode* node, std::uint64_t lookups, std::uint64_t holds);
  fuse_entry_param entry(Inode* node, const Resolved& r) const;
  struct stat to_stat(const Resolved& r) const;
  void reply_entry(fuse_req_t req, Inode* parent, const std::string& name);
  int attributes_of(Inode& node, Resolved& out, const fuse_file_info* fi = nullptr);
  bool quick_host_xattr(fuse_req_t req, Inode& node, const char* name, size_t size);
  static std::unordered_map<std::string, Inode*>& children(Inode* dir);

  // Writes (fs_write.cpp).
  // `dir` receives the upper copy of the parent (O_PATH).
  int prepare_new_name(Inode& parent, const std::string& name, std::string& path,
                       bool& had_whiteout, UniqueFd& dir);
  int finish_new(Inode& parent, const std::string& path, mode_t mode, bool had_whiteout,
                 fuse_req_t req, int dirfd, dev_t rdev = 0);
  bool lower_has(Inode& parent, const std::string& name);
  bool merged(Inode& dir);
  void listing_changed(Inode& dir);
  int whiteout(const std::string& path);
  int remove_upper(const std::string& path, bool directory);
  int set_opaque(const std::string& path);
  int upper_dir_fd(const std::string& dir, UniqueFd& out);
  void note_change(const std::string& path);
  int apply_owner(const std::string& path, int fd, uid_t uid, gid_t gid);
  uid_t to_host_uid(uid_t uid) const;
  gid_t to_host_gid(gid_t gid) const;
  uid_t from_host_uid(uid_t uid) const;
  gid_t from_host_gid(gid_t gid) const;

  // Copy-up (copy_up.cpp): makes the node's data (or, with meta_only, only its metadata)
  // live in the upper. 0 or errno.
  int copy_up(Inode& node, bool meta_only);
  int copy_up_dir(Inode& dir);
  int copy_up_tree(Inode& dir);
  void purge_markers(const std::string& dir);
  int open_flags(int flags) const;
  int set_recorded(Inode& node, std::string_view name, std::string_view value);

  bool cairn_upper() const { return options_.upper && options_.upper->format == Format::cairn; }

  MountOptions options_;
  Stack stack_;
  UniqueFd work_;
  Inode root_;
  mutable std::mutex tree_mutex_;
  std::atomic<std::uint64_t> generation_{1};
  std::unordered_map<ino_t, Inode*> linked_;  // multiply linked files by ino, tree_mutex_
  // Kernel-format upper: host inode of a copy-up → the number it had below (a cairn upper
  // keeps that in its record), so numbers stay the same for the mount's lifetime.
  mutable std::mutex origins_mutex_;
  std::unordered_map<ino_t, ino_t> origins_;
  std::size_t inodes_ = 0, peak_inodes_ = 0;
  std::mutex copy_up_mutex_;
  mutable std::mutex changes_mutex_;
  std::set<std::string> changes_;
  double timeout_ = 86400.0;
  bool writeback_ = false;
  bool no_opendir_ = false;  // the kernel does without OPENDIR/RELEASEDIR
  fuse_session* session_ = nullptr;
};

}  // namespace cairn::overlay
