// cairn's FUSE overlay filesystem: what to mount (plain options, unit-testable) and the
// mounted session (a move-only owner of the FUSE session and its mount).
//
// The build, `cairn run`, `cairn mount` and the drop-in `cairn-overlayfs` all mount through
// this. Inside a user + mount namespace the mount opens /dev/fuse directly; outside one it
// goes through fusermount3 (with auto_unmount, so a killed server leaves no stale mount).
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cairn/overlay/stack.hpp"

namespace cairn::overlay {

// One range of an id mapping: ids [inside, inside + count) as the mount shows them are
// [outside, outside + count) on the layers' filesystem.
struct IdRange {
  unsigned inside = 0;
  unsigned outside = 0;
  unsigned count = 0;
  bool operator==(const IdRange&) const = default;
};

struct MountOptions {
  std::vector<LayerSource> lowers;  // top-most first
  std::optional<LayerSource> upper;
  // Where copy-ups are assembled before they appear (same filesystem as the upper). Empty:
  // LAYER/work for a cairn-format upper; required for a kernel-format upper.
  std::filesystem::path workdir;
  // Kernel format only: what owners the mount shows and writes.
  std::vector<IdRange> uid_map, gid_map;
  std::optional<uid_t> squash_uid;
  std::optional<gid_t> squash_gid;
  // Every entry appears owned by these ids while the records keep the real owners: the
  // single-id sandbox, whose kernel maps one id and would show others as nobody (and deny
  // root's overrides on them). New entries are recorded with the caller's ids.
  std::optional<uid_t> shown_uid;
  std::optional<gid_t> shown_gid;
  // Entries the mount creates are recorded as owned by these ids instead of the caller's:
  // a single-id build step whose USER is not root runs as root, and what it creates must
  // still belong to that USER in the layer (cairn-format upper only).
  std::optional<uid_t> new_entry_uid;
  std::optional<gid_t> new_entry_gid;
  bool read_only = false;
  // Chmod/chown/utimes/xattr changes of an unchanged lower file keep its data below
  // (cairn format only: the kernel format has nowhere to say so).
  bool metacopy = true;
  bool debug = false;
  bool allow_other = false;  // implied inside a user namespace
  std::string fsname = "cairn-overlayfs";
  unsigned max_threads = 2;  // measured on 2 cores: 1–2 beat 4 and 8 by 15–30 %
  // While requests come in a burst, up to one server thread per CPU polls for the next one
  // for up to this long instead of sleeping (0: never; no effect with one CPU). Waking a
  // sleeping thread on another CPU is the dearest part of a round trip on a VM: 200 µs made
  // apt-get update on the overlay 4.1 s -> 3.0 s (2.0 s on the disk itself).
  unsigned spin_us = 200;
};

// fuse-overlayfs's `-o` syntax: lowerdir=A:B (top-most first; "\:" escapes a colon),
// upperdir=, workdir=, squash_to_root, squash_to_uid=, squash_to_gid=, uidmapping=,
// gidmapping= (IN:OUT:COUNT[:IN:OUT:COUNT...]), ro, rw, debug, allow_other, fsync=, and the
// generic mount options mount.fuse3 passes (dev, suid, exec, ...). Layers are in the kernel
// format unless `cairn_format` is given. Unknown options go to `warnings`, as fuse-overlayfs
// ignores them; malformed values throw Error.
struct ParsedOptions {
  MountOptions options;
  std::vector<std::string> warnings;
};
ParsedOptions parse_overlayfs_options(const std::vector<std::string>& option_strings);

// Refuses an incoherent set of options with an Error saying what to change.
void validate(const MountOptions& options);

class Mount {
 public:
  // Opens the layers and mounts on `mountpoint`. Throws Error naming the step.
  Mount(MountOptions options, const std::filesystem::path& mountpoint);
  Mount(Mount&&) noexcept;
  Mount& operator=(Mount&&) noexcept;
  Mount(const Mount&) = delete;
  Mount& operator=(const Mount&) = delete;
  ~Mount();  // unmounts if still mounted

  // Serves requests until the filesystem is unmounted (umount, fusermount3 -u, or
  // request_exit()); then writes the upper's record. Returns the session loop's status.
  int serve();
  // serve() on a new thread of this process whose descriptor table is its own: the FUSE
  // device is then open only there. A process that reads its own mount can otherwise
  // never end if it is killed while one of its threads waits for an answer (the device,
  // held by the waiting thread's table, keeps the dead connection alive); this way the
  // server's threads take the device with them and the waiter gets ECONNABORTED.
  // Returns once the thread serves. Call unmount() (or umount) then join_server().
  void serve_on_own_thread();
  // Waits for that thread; returns serve()'s status.
  int join_server();
  // Asks serve() to return.
  void request_exit();
  // SIGINT, SIGTERM and SIGHUP end serve() (which then unmounts); SIGPIPE is ignored.
  void handle_signals();
  // Without `foreground`: continues in a child process detached from the terminal, the
  // parent exiting 0 once the mount is up (what mount programs do).
  static void daemonize(bool foreground);
  // Writes the upper's record now (it is also written when serve() returns).
  void sync_record();
  // Paths in the upper that the mount created, changed or deleted, sorted.
  std::vector<std::string> changes() const;
  // Peak memory of the inode table in bytes (reported by cairn mount --stats).
  std::size_t peak_inodes() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

// Unmounts a mount made by this user: umount2 when allowed, else fusermount3 -u.
void unmount(const std::filesystem::path& mountpoint, bool lazy = false);

}  // namespace cairn::overlay
