// The sandbox's seccomp policy: a reviewed table (src/sandbox/seccomp_table.cpp), each
// entry with its reason, compiled with libseccomp into a BPF program that the sandbox's
// init installs without allocating.
#pragma once

#include <linux/filter.h>

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "cairn/sandbox/identity.hpp"

namespace cairn::sandbox {

enum class Verdict {
  allow,
  deny,       // EPERM: a build never needs it, and it could reach outside the sandbox
  enosys,     // ENOSYS: glibc falls back to an older call (clone3 → clone)
  fake,       // returns 0 without doing anything (single-id root emulation)
  supervise,  // the supervisor does it on the process's behalf (seccomp user notification)
};

// One row of the table. `modes` limits a row to one identity mode (the other mode then
// allows the call); an empty `arg_note` means the verdict applies to every call.
struct PolicyRule {
  std::string_view syscall;
  Verdict verdict;
  std::string_view reason;
  enum class Applies { always, single_id, range } applies = Applies::always;
};

// The whole table, in its reviewed order. Syscalls not in it answer ENOSYS.
const std::vector<PolicyRule>& policy_table();

struct PolicyOptions {
  IdMode mode = IdMode::single;
  // Without seccomp user notification (kernel < 5.0 or disabled) chown and device mknod
  // are faked instead of supervised: they succeed but ownership is not recorded.
  bool user_notification = true;
};

// The verdict for one syscall by name under `options` (argument-dependent rules — unshare
// and clone with CLONE_NEWUSER, device mknod — report their stricter verdict).
Verdict verdict_for(std::string_view syscall, const PolicyOptions& options);

// The compiled filter for the host's architectures.
std::vector<sock_filter> compile_policy(const PolicyOptions& options);

// compile_policy() through a cache directory: libseccomp takes ~20 ms for this table, a
// cached program a read. The file is named by a digest of everything the program depends
// on (libseccomp's version, the table, the options) and carries a digest of its own bytes,
// checked on every load (the filter is a security boundary). An empty `cache_dir`
// compiles every time; an unusable cache is recompiled, never trusted.
std::vector<sock_filter> cached_policy(const PolicyOptions& options,
                                       const std::filesystem::path& cache_dir);

// Whether the kernel offers seccomp user notification (SECCOMP_GET_NOTIF_SIZES).
bool kernel_has_user_notification();

}  // namespace cairn::sandbox
