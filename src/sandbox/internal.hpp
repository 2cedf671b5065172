// What the parent prepares for the sandbox's init (everything the child needs, as plain C
// data, so that the child of a multithreaded process never allocates), and the plan of
// mounts it follows.
#pragma once

#include <linux/filter.h>
#include <sys/types.h>

#include <string>
#include <vector>

#include "cairn/sandbox/sandbox.hpp"

namespace cairn::sandbox {

// One step of building the sandbox's root, in order. Paths are absolute host paths (the
// root is not yet pivoted into).
struct MountOp {
  enum class Kind { mount, bind, read_only, make_dir, make_file, symlink } kind;
  std::string source;  // mount: device name; bind: host path; symlink: link text
  std::string target;
  std::string fstype;
  unsigned long flags = 0;
  std::string data;
  bool optional = false;  // a failure is ignored (e.g. /sys where the kernel refuses it)
  std::string what;       // for errors: "mount proc on /proc"
};

// A path under the sandbox's /dev (a tmpfs the plan fills: mount points there are made by
// the plan, not in the root).
bool in_dev(const std::string& target);

// The mount plan for a spec (unit-tested without privileges).
std::vector<MountOp> plan_mounts(const Spec& spec);

// Failure report from the child: which step, which plan entry, which errno.
enum class ChildStep : int {
  mount_op = 1, make_private, hostname, loopback, pivot_root, capabilities, no_new_privs,
  seccomp, listener, fork, rlimit, groups, gid, uid, chdir, stdin, exec_not_found,
  exec_denied, exec,
};
struct ChildReport {
  ChildStep step;
  int index;  // mount_op: the plan index; rlimit: the resource
  int error;
};

// The C view of a MountOp.
struct RawOp {
  MountOp::Kind kind;
  const char* source;
  const char* target;
  const char* fstype;
  unsigned long flags;
  const char* data;
  bool optional;
};

struct RawRlimit {
  int resource;
  unsigned long long soft, hard;
};

struct ChildPlan {
  const char* rootfs = nullptr;
  const RawOp* ops = nullptr;
  std::size_t op_count = 0;
  const char* hostname = nullptr;
  bool loopback = false;
  bool supervised = false;  // the filter has notify rules: hand the listener over
  sock_fprog filter{};
  // The payload.
  char* const* argv = nullptr;
  char* const* envp = nullptr;
  const char* path = nullptr;  // $PATH for the lookup of argv[0]
  const char* cwd = nullptr;
  bool switch_ids = false;
  uid_t uid = 0;
  gid_t gid = 0;
  const gid_t* groups = nullptr;
  std::size_t group_count = 0;
  bool stdin_open = false;
  bool terminal = false;
  const RawRlimit* rlimits = nullptr;
  std::size_t rlimit_count = 0;
  // Descriptors (the parent's ends are closed in the child by close-on-exec or by hand).
  int report_fd = -1;  // ChildReport, close-on-exec: EOF after a successful exec
  int sync_fd = -1;    // init → parent: the listener's descriptor number
  int ack_fd = -1;     // parent → init: the listener was taken
};

// The sandbox's pid 1. Never returns.
[[noreturn]] void child_main(const ChildPlan& plan);

}  // namespace cairn::sandbox
