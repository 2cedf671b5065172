// The rootless sandbox: a plain spec value in, an exit status out. The caller has entered
// its user namespace (identity.hpp) and mounted the root filesystem; run() makes new
// mount, pid, ipc, uts (and for --network none, net) namespaces, builds /proc, /dev and
// the runtime files there, pivots into the root, drops capabilities to docker's default
// set, installs the seccomp policy and runs the command under a small init that reaps
// zombies and forwards signals. When the command ends, or the caller dies for any reason,
// every process of the sandbox dies.
#pragma once

#include <sys/resource.h>
#include <sys/types.h>

#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cairn/sandbox/identity.hpp"

namespace cairn::sandbox {

enum class Network { host, none };

// docker's PATH for a process whose environment has none.
inline constexpr std::string_view kDefaultPath =
    "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

struct BindMount {
  std::filesystem::path source;  // on the host
  std::string target;            // absolute path in the sandbox
  bool read_only = false;
};

// A tmpfs of the sandbox's own (RUN --mount=type=tmpfs).
struct TmpfsMount {
  std::string target;      // absolute path in the sandbox
  unsigned long long size = 0;  // bytes; 0: the kernel's default
};

struct Rlimit {
  int resource = 0;  // RLIMIT_*
  rlim_t soft = 0, hard = 0;
};

struct Process {
  std::vector<std::string> argv;  // argv[0] without '/' is looked up in the PATH of `env`
  std::vector<std::string> env;   // "K=V"
  std::string cwd = "/";          // created when missing
  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<gid_t> groups;
  bool stdin_open = false;  // -i: the payload reads the caller's stdin (else /dev/null)
  bool terminal = false;    // -t: the payload keeps the caller's terminal and session
  // Raised or lowered from what the caller has, never above the caller's hard limit.
  std::vector<Rlimit> rlimits;
};

// What the supervisor does for a supervised call; declared here, implemented by the
// caller with the overlay (the single-id ownership record). `fd` is an O_PATH descriptor
// of the file inside the sandbox's root.
class Recorder {
 public:
  virtual ~Recorder() = default;
  // chown: -1 keeps that id. Returns 0 or an errno for the process.
  virtual int record_owner(int fd, long uid, long gid) = 0;
  // mknod of a character or block device: `dirfd` is the parent directory.
  virtual int record_device(int dirfd, const std::string& name, mode_t mode, dev_t rdev) = 0;
};

struct Spec {
  std::filesystem::path rootfs;  // a mounted directory, becomes /
  IdMode id_mode = IdMode::single;
  Network network = Network::host;
  std::string hostname;  // also in /etc/hostname and /etc/hosts
  // Where the sandbox writes /etc/hosts, /etc/resolv.conf and /etc/hostname before it
  // binds them over the root's (they are never written into the root).
  std::filesystem::path runtime_dir;
  std::vector<BindMount> binds;
  std::vector<TmpfsMount> tmpfs;
  Process process;
  bool user_notification = true;  // see PolicyOptions
  std::filesystem::path cache_dir;  // compiled seccomp programs (see cached_policy)
};

// Why a run ended early, for the caller's message: the step, and the errno or exit code.
struct Outcome {
  int status = 0;  // exit status, 128+N for signal N, 127/126 for exec failures
  std::string error;  // set when the command never started ("exec foo: not found in $PATH")
};

// Blocks the signals cairn forwards to the sandbox (SIGINT, SIGTERM, SIGHUP, SIGQUIT,
// SIGUSR1, SIGUSR2, SIGWINCH) in the calling thread. Call it before starting other threads
// (the overlay's), so that none of them takes such a signal; run() receives them.
void block_forwarded_signals();

// Runs the spec. `recorder` may be null (chown and device mknod are then faked). Throws
// Error for failures before the payload starts (mounts, namespaces).
Outcome run(const Spec& spec, Recorder* recorder);

// The mount points the spec needs in the root: created (directories, or empty files for
// bind mounts of files) when missing. Called by run(); exposed for the caller that wants
// them made before it starts the overlay's change tracking.
void prepare_mount_points(const Spec& spec);

// Text of the runtime files for a spec.
std::string hosts_file(const std::string& hostname);
std::string resolv_conf(const std::string& host_resolv_conf, Network network);

}  // namespace cairn::sandbox
