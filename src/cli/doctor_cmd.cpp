// cairn doctor: what this machine offers cairn (kernel, user namespaces and their sysctls,
// /dev/fuse, fusermount3, newuidmap and the subordinate ids, seccomp user notification, the
// store's filesystem) and which modes cairn will use, each problem with the exact fix.
// The doctor changes nothing: namespaces are tried in a forked child (the doctor itself
// stays where it is), the store is never created, and the one file it writes (the user
// xattr probe) is removed at once.
#include <fcntl.h>
#include <fmt/format.h>
#include <grp.h>
#include <linux/magic.h>
#include <pwd.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>

#include "app.hpp"
#include "cairn/base/error.hpp"
#include "cairn/base/sys.hpp"
#include "cairn/sandbox/identity.hpp"
#include "cairn/sandbox/seccomp.hpp"

namespace cairn::cli {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::ordered_json;  // keys in the order written, for readers

// --- findings -------------------------------------------------------------------------

enum class Status { ok, warn, fail };

std::string_view to_string(Status s) {
  return s == Status::ok ? "ok" : s == Status::warn ? "warn" : "FAIL";
}

struct Finding {
  std::string id;    // stable key for --json
  std::string name;  // the text report's second column
  Status status = Status::ok;
  std::string text;  // what was found
  std::string fix;   // for warn and FAIL: the command or step that fixes it
  json value;        // the raw fact, for scripts (null when there is none)
};

using Findings = std::vector<Finding>;

void add(Findings& out, std::string id, std::string name, Status status, std::string text,
         std::string fix = {}, json value = nullptr) {
  out.push_back(
      {std::move(id), std::move(name), status, std::move(text), std::move(fix), std::move(value)});
}

std::string error_text(int error) {
  return std::strerror(error);
}

// The user as fixes must name them (usermod needs the name; a uid without one is shown).
struct Who {
  uid_t uid = 0;
  gid_t gid = 0;
  std::string name;
  bool nested = false;  // the doctor itself runs in a user namespace
  bool root() const { return uid == 0; }
};

Who who_am_i(const sandbox::HostIds& host) {
  return {host.uid, host.gid, host.user_name.empty() ? std::to_string(host.uid) : host.user_name};
}

// --- small host readers ---------------------------------------------------------------

std::optional<long> read_sysctl(const char* path) {
  std::string text;
  try {
    text = sys::read_file(path);
  } catch (const Error&) {
    return std::nullopt;  // absent on this kernel
  }
  char* end = nullptr;
  const long value = std::strtol(text.c_str(), &end, 10);
  if (end == text.c_str()) return std::nullopt;
  return value;
}

std::string read_text_or_empty(const char* path) {
  try {
    return sys::read_file(path);
  } catch (const Error&) {
    return {};
  }
}

// `name` in $PATH, or empty.
std::string find_in_path(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::istringstream dirs(path ? path : "/usr/local/bin:/usr/bin:/bin");
  for (std::string dir; std::getline(dirs, dir, ':');) {
    if (dir.empty()) continue;
    const std::string candidate = dir + "/" + name;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return {};
}

// Whether this process is in a user namespace already (a rootless container, unshare -U):
// its root is then an ordinary user outside. The initial namespace maps all 2^32 ids.
bool inside_user_namespace() {
  std::istringstream map(read_text_or_empty("/proc/self/uid_map"));
  unsigned long inside = 1, outside = 1, count = 0;
  map >> inside >> outside >> count;
  return !(inside == 0 && outside == 0 && count == 4294967295ul);
}

struct KernelVersion {
  int major = 0, minor = 0;
  bool before(int ma, int mi) const { return major < ma || (major == ma && minor < mi); }
};

KernelVersion kernel_version() {
  utsname u{};
  ::uname(&u);
  KernelVersion v;
  std::sscanf(u.release, "%d.%d", &v.major, &v.minor);
  return v;
}

// --- the namespace probe: a forked child tries what a build's sandbox does --------------

// In the order the child takes them. Each reports its errno (0: it worked); a step the
// child never reached stays at kNotReached.
enum Step : int {
  kUnshareUser,        // unshare(CLONE_NEWUSER | CLONE_NEWNS)
  kIdMaps,             // map its own uid and gid to 0
  kSandboxNamespaces,  // pid, ipc, uts and cgroup namespaces inside (as the sandbox clones)
  kNetNamespace,       // a network namespace inside (only --network none needs it)
  kOpenFuse,           // open /dev/fuse read-write
  kMountFuse,          // mount -t fuse with that descriptor
  kStepCount
};
constexpr int kNotReached = -1;

struct Probe {
  std::array<int, kStepCount> error;
  std::string died;  // set when the child did not exit by itself
  bool worked(Step s) const { return error[s] == 0; }
  bool reached(Step s) const { return error[s] != kNotReached; }
};

// What the child needs, prepared before the fork so that the child allocates nothing.
struct ProbeInput {
  std::string uid_map, gid_map;
  const char* mountpoint = "/tmp";
};

// A string_view, so that a literal costs the child no allocation.
int write_text(const char* path, std::string_view text) {
  const int fd = ::open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return errno;
  const ssize_t n = ::write(fd, text.data(), text.size());
  const int error = n == static_cast<ssize_t>(text.size()) ? 0 : n < 0 ? errno : EIO;
  ::close(fd);
  return error;
}

int write_id_maps(const ProbeInput& in) {
  // setgroups must be denied before an unprivileged gid_map write; kernels before 3.19
  // have no such file and need nothing.
  const int setgroups = write_text("/proc/self/setgroups", "deny");
  if (setgroups != 0 && setgroups != ENOENT) return setgroups;
  if (const int e = write_text("/proc/self/uid_map", in.uid_map)) return e;
  return write_text("/proc/self/gid_map", in.gid_map);
}

// "fd=N,rootmode=40000,user_id=0,group_id=0" without snprintf (the child allocates nothing
// and calls only async-signal-safe functions).
void fuse_mount_options(char (&out)[64], int fd) {
  char digits[12];
  int n = 0;
  do {
    digits[n++] = static_cast<char>('0' + fd % 10);
    fd /= 10;
  } while (fd > 0 && n < 11);
  std::size_t at = 0;
  for (const char c : std::string_view("fd="))
    out[at++] = c;
  while (n > 0)
    out[at++] = digits[--n];
  for (const char c : std::string_view(",rootmode=40000,user_id=0,group_id=0"))
    out[at++] = c;
  out[at] = '\0';
}

int errno_of(int result) {
  return result == 0 ? 0 : errno;
}

[[noreturn]] void probe_child(const ProbeInput& in, int report_fd) {
  auto report = [report_fd](Step step, int error) {
    const int message[2] = {step, error};
    [[maybe_unused]] const ssize_t n = ::write(report_fd, message, sizeof message);
  };
  const int unshared = errno_of(::unshare(CLONE_NEWUSER | CLONE_NEWNS));
  report(kUnshareUser, unshared);
  if (unshared != 0) ::_exit(1);
  const int mapped = write_id_maps(in);
  report(kIdMaps, mapped);
  if (mapped != 0) ::_exit(1);
  report(kSandboxNamespaces,
         errno_of(::unshare(CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWCGROUP)));
  report(kNetNamespace, errno_of(::unshare(CLONE_NEWNET)));
  // The test mount must stay in this namespace, whatever the host's propagation is.
  ::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr);
  const int fuse = ::open("/dev/fuse", O_RDWR | O_CLOEXEC);
  report(kOpenFuse, fuse < 0 ? errno : 0);
  if (fuse < 0) ::_exit(1);
  char options[64];
  fuse_mount_options(options, fuse);
  const int mounted = errno_of(::mount("cairn-doctor", in.mountpoint, "fuse.cairn-doctor",
                                       MS_NOSUID | MS_NODEV | MS_RDONLY, options));
  report(kMountFuse, mounted);
  // Closing the device first aborts the connection, so the unmount never waits for a
  // FUSE_INIT reply that no daemon will send.
  ::close(fuse);
  if (mounted == 0) ::umount2(in.mountpoint, MNT_DETACH);
  ::_exit(0);
}

void read_reports(int fd, Probe& probe) {
  const std::string bytes = sys::read_all(fd, "the namespace probe's reports");
  for (std::size_t at = 0; at + 2 * sizeof(int) <= bytes.size(); at += 2 * sizeof(int)) {
    int message[2];
    std::memcpy(message, bytes.data() + at, sizeof message);
    if (message[0] >= 0 && message[0] < kStepCount) probe.error[message[0]] = message[1];
  }
}

Probe probe_namespaces(const Who& who) {
  ProbeInput in;
  in.uid_map = fmt::format("0 {} 1\n", who.uid);
  in.gid_map = fmt::format("0 {} 1\n", who.gid);
  std::error_code ec;
  if (!fs::is_directory("/tmp", ec)) in.mountpoint = "/";
  Probe probe;
  probe.error.fill(kNotReached);
  auto [read_end, write_end] = sys::pipe();
  std::fflush(nullptr);  // the child must not flush the parent's buffered output again
  const pid_t pid = ::fork();
  if (pid < 0) throw_errno("fork", "the namespace probe", errno);
  if (pid == 0) probe_child(in, write_end.get());
  write_end.reset();
  read_reports(read_end.get(), probe);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFSIGNALED(status))
    probe.died = fmt::format("the probe process died of signal {}", WTERMSIG(status));
  return probe;
}

// --- kernel and user namespaces -------------------------------------------------------

constexpr const char* kSysctlFile = "/etc/sysctl.d/60-cairn-userns.conf";
constexpr const char* kContainerFix =
    "if cairn runs in a container, start it with --security-opt seccomp=unconfined "
    "--security-opt apparmor=unconfined; otherwise see `dmesg` for what refused it";

std::string sysctl_fix(const std::string& key, const std::string& value) {
  return fmt::format("as root: sysctl -w {0}={1} && echo {0}={1} > {2}", key, value, kSysctlFile);
}

std::string apparmor_fix() {
  return sysctl_fix("kernel.apparmor_restrict_unprivileged_userns", "0") +
         " (or load an AppArmor profile for cairn that says `userns,`)";
}

struct Sysctls {
  std::optional<long> max_user_namespaces;        // user.max_user_namespaces
  std::optional<long> unprivileged_userns_clone;  // Debian and Ubuntu kernels only
  std::optional<long> apparmor_restrict;          // Ubuntu 23.10 and later

  static Sysctls read() {
    return {read_sysctl("/proc/sys/user/max_user_namespaces"),
            read_sysctl("/proc/sys/kernel/unprivileged_userns_clone"),
            read_sysctl("/proc/sys/kernel/apparmor_restrict_unprivileged_userns")};
  }
};

// The fix for a user namespace the kernel refused, from the sysctl that refuses it.
std::string userns_fix(const Sysctls& s, int error) {
  if (s.unprivileged_userns_clone == 0) return sysctl_fix("kernel.unprivileged_userns_clone", "1");
  if (s.apparmor_restrict == 1) return apparmor_fix();
  if (s.max_user_namespaces == 0 || error == ENOSPC)
    return sysctl_fix("user.max_user_namespaces", "15000");
  if (!s.max_user_namespaces) return "a kernel built with CONFIG_USER_NS=y";
  return kContainerFix;
}

void check_kernel(Findings& out) {
  utsname u{};
  ::uname(&u);
  add(out, "kernel", "kernel", Status::ok, fmt::format("{} {} {}", u.sysname, u.release, u.machine),
      {}, u.release);
}

void check_user_namespaces(Findings& out, const Probe& p, const Sysctls& s) {
  if (!p.died.empty()) {
    add(out, "userns", "user namespaces", Status::fail, p.died, kContainerFix);
    return;
  }
  if (!p.worked(kUnshareUser)) {
    const int e = p.error[kUnshareUser];
    add(out, "userns", "user namespaces", Status::fail,
        "unshare(CLONE_NEWUSER|CLONE_NEWNS) in a child failed: " + error_text(e), userns_fix(s, e),
        false);
    return;
  }
  if (!p.worked(kIdMaps)) {
    const int e = p.error[kIdMaps];
    add(out, "userns", "user namespaces", Status::fail,
        "a child made one but could not map its own ids in it: " + error_text(e), userns_fix(s, e),
        false);
    return;
  }
  add(out, "userns", "user namespaces", Status::ok,
      "usable: a child made one (unshare CLONE_NEWUSER|CLONE_NEWNS) and mapped its ids", {}, true);
}

void check_sandbox_namespaces(Findings& out, const Probe& p) {
  if (!p.reached(kSandboxNamespaces)) {
    add(out, "sandbox_namespaces", "sandbox namespaces", Status::warn,
        "not tried: they are made inside a user namespace");
    return;
  }
  if (!p.worked(kSandboxNamespaces))
    add(out, "sandbox_namespaces", "sandbox namespaces", Status::fail,
        "pid, ipc, uts and cgroup namespaces inside a user namespace: " +
            error_text(p.error[kSandboxNamespaces]),
        kContainerFix, false);
  else
    add(out, "sandbox_namespaces", "sandbox namespaces", Status::ok,
        "pid, ipc, uts and cgroup namespaces inside a user namespace work", {}, true);
  if (!p.worked(kNetNamespace))
    add(out, "network_namespace", "network namespace", Status::warn,
        "a network namespace inside a user namespace failed: " +
            error_text(p.error[kNetNamespace]) + " (only --network none needs it)",
        kContainerFix, false);
  else
    add(out, "network_namespace", "network namespace", Status::ok,
        "works (--network none is possible)", {}, true);
}

// A sysctl that blocks unprivileged user namespaces is a problem when the probe failed,
// and a warning when it worked anyway (as root, or allowed by an AppArmor profile).
Status blocking(bool userns_worked) {
  return userns_worked ? Status::warn : Status::fail;
}

void check_max_user_namespaces(Findings& out, const Sysctls& s, bool userns_worked) {
  const char* name = "max_user_namespaces";
  if (!s.max_user_namespaces)
    add(out, name, name, blocking(userns_worked),
        "/proc/sys/user/max_user_namespaces is missing: the kernel has no user namespaces",
        "a kernel built with CONFIG_USER_NS=y");
  else if (*s.max_user_namespaces == 0)
    add(out, name, name, blocking(userns_worked),
        "user.max_user_namespaces = 0: user namespaces are disabled",
        sysctl_fix("user.max_user_namespaces", "15000"), 0);
  else
    add(out, name, name, Status::ok,
        fmt::format("user.max_user_namespaces = {}", *s.max_user_namespaces), {},
        *s.max_user_namespaces);
}

void check_userns_clone(Findings& out, const Sysctls& s, bool userns_worked) {
  const char* name = "unprivileged_userns_clone";
  if (!s.unprivileged_userns_clone)
    add(out, name, name, Status::ok,
        "not present (only Debian's and older Ubuntu kernels have this switch)");
  else if (*s.unprivileged_userns_clone == 0)
    add(out, name, name, blocking(userns_worked),
        "kernel.unprivileged_userns_clone = 0: users other than root get no user namespace",
        sysctl_fix("kernel.unprivileged_userns_clone", "1"), 0);
  else
    add(out, name, name, Status::ok,
        fmt::format("kernel.unprivileged_userns_clone = {}", *s.unprivileged_userns_clone), {},
        *s.unprivileged_userns_clone);
}

void check_apparmor(Findings& out, const Sysctls& s, const Probe& p) {
  const char* id = "apparmor_restrict_unprivileged_userns";
  const char* name = "AppArmor userns rule";
  if (!s.apparmor_restrict)
    add(out, id, name, Status::ok,
        "not present (kernel.apparmor_restrict_unprivileged_userns is Ubuntu 23.10's and later)");
  else if (*s.apparmor_restrict == 0)
    add(out, id, name, Status::ok, "kernel.apparmor_restrict_unprivileged_userns = 0", {}, 0);
  else if (p.worked(kMountFuse))
    add(out, id, name, Status::ok,
        "kernel.apparmor_restrict_unprivileged_userns = 1, but a profile lets cairn mount in "
        "its user namespace",
        {}, *s.apparmor_restrict);
  else
    add(out, id, name, Status::fail,
        "kernel.apparmor_restrict_unprivileged_userns = 1: user namespaces get no "
        "capabilities, so nothing can be mounted in them",
        apparmor_fix(), *s.apparmor_restrict);
}

// --- FUSE -----------------------------------------------------------------------------

std::string owner_text(const struct stat& st) {
  const passwd* pw = ::getpwuid(st.st_uid);
  const group* gr = ::getgrgid(st.st_gid);
  return fmt::format("{}:{}", pw ? pw->pw_name : std::to_string(st.st_uid),
                     gr ? gr->gr_name : std::to_string(st.st_gid));
}

std::string fuse_open_fix(int error) {
  if (error == EACCES || error == EPERM) return "as root: chmod 0666 /dev/fuse";
  return "as root: modprobe fuse";
}

// Whether this user can open /dev/fuse read-write; the errno when not.
int open_fuse_error() {
  const int fd = ::open("/dev/fuse", O_RDWR | O_CLOEXEC);
  if (fd < 0) return errno;
  ::close(fd);
  return 0;
}

void check_dev_fuse(Findings& out, const Who& who) {
  const char* name = "/dev/fuse";
  struct stat st {};
  if (::stat(name, &st) != 0) {
    add(out, "dev_fuse", name, Status::fail, "missing: " + error_text(errno),
        "as root: modprobe fuse (in a container: start it with --device /dev/fuse)");
    return;
  }
  const std::string mode = fmt::format("{:04o}", st.st_mode & 07777);
  const json value = {{"mode", mode}, {"owner", owner_text(st)}};
  if (!S_ISCHR(st.st_mode)) {
    add(out, "dev_fuse", name, Status::fail, "is not a character device",
        "as root: rm /dev/fuse && mknod -m 0666 /dev/fuse c 10 229", value);
    return;
  }
  const std::string facts = fmt::format("mode {} {}", mode, owner_text(st));
  if (const int e = open_fuse_error())
    add(out, "dev_fuse", name, Status::fail,
        fmt::format("{}: {} cannot open it read-write: {}", facts, who.name, error_text(e)),
        fuse_open_fix(e), value);
  else
    add(out, "dev_fuse", name, Status::ok,
        fmt::format("{}, {} can open it read-write", facts, who.name), {}, value);
}

std::string fuse_mount_fix(const Sysctls& s) {
  if (kernel_version().before(4, 18))
    return "Linux 4.18 or later (the first to allow FUSE mounts in user namespaces)";
  if (s.apparmor_restrict == 1) return apparmor_fix();
  return kContainerFix;
}

void check_fuse_in_userns(Findings& out, const Probe& p, const Sysctls& s) {
  const char* id = "fuse_userns";
  const char* name = "FUSE in a user namespace";
  if (!p.reached(kOpenFuse))
    add(out, id, name, Status::warn, "not tried: it needs a user namespace", {}, nullptr);
  else if (!p.worked(kOpenFuse))
    add(out, id, name, Status::fail,
        "opening /dev/fuse in a user namespace failed: " + error_text(p.error[kOpenFuse]),
        fuse_open_fix(p.error[kOpenFuse]), false);
  else if (!p.worked(kMountFuse))
    add(out, id, name, Status::fail,
        "mount -t fuse in a user namespace failed: " + error_text(p.error[kMountFuse]),
        fuse_mount_fix(s), false);
  else
    add(out, id, name, Status::ok, "a child mounted a FUSE filesystem in its user namespace", {},
        true);
}

void check_fusermount(Findings& out, const Who& who) {
  const char* name = "fusermount3";
  const std::string path = find_in_path(name);
  struct stat st {};
  if (path.empty())
    add(out, name, name, Status::warn,
        "not in PATH: `cairn mount` works only inside a user namespace (builds do not need it)",
        "as root: apt-get install fuse3 (Fedora, RHEL: dnf install fuse3)");
  else if (!who.root() && ::stat(path.c_str(), &st) == 0 &&
           !((st.st_mode & S_ISUID) && st.st_uid == 0))
    add(out, name, name, Status::warn,
        path + " is not setuid root: `cairn mount` outside a user namespace fails",
        "as root: chown root " + path + " && chmod u+s " + path, path);
  else
    add(out, name, name, Status::ok, path + ": `cairn mount` also works outside a user namespace",
        {}, path);
}

// --- subordinate ids ------------------------------------------------------------------

std::string usermod_fix(const Who& who) {
  const sandbox::SubidRange r = sandbox::probe_host().free_range;
  return fmt::format("as root: usermod --add-subuids {0}-{1} --add-subgids {0}-{1} {2}", r.start,
                     r.start + r.count - 1, who.name);
}

void check_newuidmap(Findings& out, const sandbox::HostIds& host, const Who& who) {
  const char* id = "newuidmap";
  const char* name = "newuidmap/newgidmap";
  if (who.root())
    add(out, id, name, Status::ok, "not needed: cairn runs as root");
  else if (!host.have_newuidmap || !host.have_newgidmap)
    add(out, id, name, Status::warn,
        fmt::format("{} missing: range mode is not possible",
                    !host.have_newuidmap ? "newuidmap" : "newgidmap"),
        "as root: apt-get install uidmap (Fedora, RHEL: dnf install shadow-utils)", false);
  else
    add(out, id, name, Status::ok, "installed", {}, true);
}

void check_subid(Findings& out, const char* file, const std::optional<sandbox::SubidRange>& range,
                 const Who& who) {
  const std::string id = std::string(file).substr(5);  // "subuid" or "subgid"
  const std::string name = id + " range";
  if (who.root()) {
    add(out, id, name, Status::ok, "not needed: cairn runs as root");
    return;
  }
  if (!range) {
    add(out, id, name, Status::warn,
        fmt::format("{} has no range for {}: range mode is not possible", file, who.name),
        usermod_fix(who));
    return;
  }
  const json value = {{"start", range->start}, {"count", range->count}};
  const std::string text = fmt::format("{}-{} ({} ids) in {}", range->start,
                                       range->start + range->count - 1, range->count, file);
  if (range->count < 65535)
    add(out, id, name, Status::warn,
        text + fmt::format(": files owned by ids above {} cannot be mapped", range->count),
        usermod_fix(who), value);
  else
    add(out, id, name, Status::ok, text, {}, value);
}

void check_seccomp(Findings& out) {
  const char* id = "seccomp_user_notification";
  const char* name = "seccomp user notification";
  if (sandbox::kernel_has_user_notification())
    add(out, id, name, Status::ok,
        "available: chown and device mknod in the sandbox are recorded in the layer", {}, true);
  else
    add(out, id, name, Status::warn,
        "not available: in single-id mode chown and device mknod succeed but the ownership "
        "is not recorded",
        "a Linux 5.0 or later kernel", false);
}

// --- the store ------------------------------------------------------------------------

// Where the store is, or the nearest existing directory above it (the doctor must not
// create the store just to look at it).
struct StoreSite {
  fs::path root;
  fs::path probed;
  bool exists = false;
  int error = 0;  // stat's errno when something other than absence stopped the walk
};

StoreSite locate_store(const fs::path& configured) {
  StoreSite site;
  site.root = fs::absolute(configured).lexically_normal();
  site.probed = site.root;
  struct stat st {};
  while (::stat(site.probed.c_str(), &st) != 0) {
    if (errno != ENOENT) {
      site.error = errno;
      return site;
    }
    site.probed = site.probed.parent_path();
  }
  site.exists = site.probed == site.root;
  return site;
}

bool writable_dir(const fs::path& dir) {
  std::error_code ec;
  return fs::is_directory(dir, ec) && ::access(dir.c_str(), W_OK | X_OK) == 0;
}

constexpr const char* kOtherStore =
    "choose another store with --root DIR (storage.root in cairn.toml)";

void check_store(Findings& out, const StoreSite& site, const Who& who) {
  const char* name = "store";
  const std::string root = site.root.string();
  const json value = {{"root", root}, {"exists", site.exists}, {"probed", site.probed.string()}};
  std::error_code ec;
  if (site.error != 0)
    add(out, name, name, Status::fail,
        fmt::format("{}: cannot look at {}: {}", root, site.probed.string(),
                    error_text(site.error)),
        kOtherStore, value);
  else if (site.exists && !fs::is_directory(site.root, ec))
    add(out, name, name, Status::fail, root + " is not a directory",
        fmt::format("move {} away, or {}", root, kOtherStore), value);
  else if (site.exists && !writable_dir(site.root))
    add(out, name, name, Status::fail, fmt::format("{} is not writable by {}", root, who.name),
        fmt::format("as root: chown {}: {}; or {}", who.name, root, kOtherStore), value);
  else if (site.exists)
    add(out, name, name, Status::ok, root + " (writable)", {}, value);
  else if (!writable_dir(site.probed))
    add(out, name, name, Status::fail,
        fmt::format("{} does not exist and {} cannot create it ({} is not writable)", root,
                    who.name, site.probed.string()),
        fmt::format("as root: mkdir -p {0} && chown {1}: {0}; or {2}", root, who.name, kOtherStore),
        value);
  else
    add(out, name, name, Status::ok,
        fmt::format("{} does not exist yet; cairn will create it (looked at {})", root,
                    site.probed.string()),
        {}, value);
}

// Magic numbers of filesystems that linux/magic.h does not name (out-of-tree modules).
constexpr unsigned long kLustreMagic = 0x0BD00BD0;
constexpr unsigned long kZfsMagic = 0x2FC12FC1;
constexpr unsigned long kGpfsMagic = 0x47504653;
constexpr unsigned long kCephMagic = 0x00C36400;
constexpr unsigned long kBeegfsMagic = 0x19830326;
constexpr unsigned long kCifsMagic = 0xFF534D42;
constexpr unsigned long kSmb2Magic = 0xFE534D42;
constexpr unsigned long kBcachefsMagic = 0xCA451A4E;

std::string magic_name(unsigned long magic) {
  switch (magic) {
    case EXT4_SUPER_MAGIC:
      return "ext4";  // also ext2 and ext3: they share the magic
    case XFS_SUPER_MAGIC:
      return "xfs";
    case BTRFS_SUPER_MAGIC:
      return "btrfs";
    case TMPFS_MAGIC:
      return "tmpfs";
    case RAMFS_MAGIC:
      return "ramfs";
    case NFS_SUPER_MAGIC:
      return "nfs";
    case OVERLAYFS_SUPER_MAGIC:
      return "overlay";
    case FUSE_SUPER_MAGIC:
      return "fuse";
    case SQUASHFS_MAGIC:
      return "squashfs";
    case F2FS_SUPER_MAGIC:
      return "f2fs";
    case V9FS_MAGIC:
      return "9p";
    case MSDOS_SUPER_MAGIC:
      return "vfat";
    case kLustreMagic:
      return "lustre";
    case kZfsMagic:
      return "zfs";
    case kGpfsMagic:
      return "gpfs";
    case kCephMagic:
      return "ceph";
    case kBeegfsMagic:
      return "beegfs";
    case kCifsMagic:
      return "cifs";
    case kSmb2Magic:
      return "smb2";
    case kBcachefsMagic:
      return "bcachefs";
    default:
      return fmt::format("unknown (magic {:#x})", magic);
  }
}

// The mount's own type string from /proc/self/mountinfo ("ext4", "fuse.sshfs"), found by
// device number; empty when no line matches (the statfs magic is named instead).
std::string mountinfo_type(const fs::path& dir) {
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0) return {};
  const std::string device = fmt::format("{}:{}", major(st.st_dev), minor(st.st_dev));
  std::istringstream lines(read_text_or_empty("/proc/self/mountinfo"));
  std::string type;
  for (std::string line; std::getline(lines, line);) {
    std::istringstream fields(line);
    std::string id, parent, dev;
    fields >> id >> parent >> dev;
    const auto dash = line.find(" - ");
    if (dev != device || dash == std::string::npos) continue;
    std::istringstream tail(line.substr(dash + 3));
    tail >> type;  // the last match is the mount on top
  }
  return type;
}

bool network_filesystem(unsigned long magic) {
  return magic == NFS_SUPER_MAGIC || magic == kLustreMagic || magic == kGpfsMagic ||
         magic == kCephMagic || magic == kBeegfsMagic || magic == kCifsMagic || magic == kSmb2Magic;
}

void check_store_filesystem(Findings& out, const StoreSite& site) {
  const char* id = "store_filesystem";
  const char* name = "store filesystem";
  struct statfs sf {};
  if (site.error != 0 || ::statfs(site.probed.c_str(), &sf) != 0) {
    add(out, id, name, Status::warn, "unknown: cannot look at " + site.probed.string());
    return;
  }
  const auto magic = static_cast<unsigned long>(sf.f_type);
  std::string type = mountinfo_type(site.probed);
  if (type.empty()) type = magic_name(magic);
  std::string note;
  if (magic == TMPFS_MAGIC || magic == RAMFS_MAGIC) note = " (in memory: images go at reboot)";
  if (network_filesystem(magic)) note = " (network filesystem: works, a local disk is faster)";
  add(out, id, name, Status::ok, type + note, {},
      {{"type", type}, {"magic", fmt::format("{:#x}", magic)}});
}

// Sets user.cairn.doctor on a temporary file in `dir`; 0 or the errno.
int try_user_xattr(const fs::path& dir) {
  std::string name = (dir / ".cairn-doctor.XXXXXX").string();
  const int fd = ::mkstemp(name.data());
  if (fd < 0) return errno;
  const int error = errno_of(::fsetxattr(fd, "user.cairn.doctor", "1", 1, 0));
  ::close(fd);
  ::unlink(name.c_str());
  return error;
}

void check_user_xattrs(Findings& out, const StoreSite& site) {
  const char* id = "user_xattrs";
  const char* name = "user xattrs";
  if (site.error != 0 || !writable_dir(site.probed)) {
    add(out, id, name, Status::warn, "not tried: " + site.probed.string() + " is not writable");
    return;
  }
  const int e = try_user_xattr(site.probed);
  if (e == 0)
    add(out, id, name, Status::ok, "the store's filesystem takes user.* xattrs", {}, true);
  else
    add(out, id, name, Status::ok,
        "not taken (" + error_text(e) +
            "); cairn does not need them: layers keep owners and xattrs in their record",
        {}, false);
}

void check_free_space(Findings& out, const StoreSite& site) {
  const char* id = "free_space";
  const char* name = "free space";
  constexpr unsigned long long kLow = 1'000'000'000;  // less than one base image's worth
  struct statvfs sv {};
  if (site.error != 0 || ::statvfs(site.probed.c_str(), &sv) != 0) {
    add(out, id, name, Status::warn, "unknown: cannot look at " + site.probed.string());
    return;
  }
  const unsigned long long bytes =
      static_cast<unsigned long long>(sv.f_bavail) * static_cast<unsigned long long>(sv.f_frsize);
  const std::string text =
      fmt::format("{} available to {}", human_size(bytes), site.probed.string());
  if (bytes < kLow)
    add(out, id, name, Status::warn, text, std::string("free space there, or ") + kOtherStore,
        bytes);
  else
    add(out, id, name, Status::ok, text, {}, bytes);
}

// --- what cairn will use --------------------------------------------------------------

std::string identity_text(const sandbox::Identity& id, const Who& who) {
  if (id.mode == sandbox::IdMode::range) {
    const sandbox::IdMapEntry& sub = id.uid_map.at(1);
    return fmt::format("range: root inside is {}, ids 1-{} are {}-{} ({})", who.name, sub.count,
                       sub.outside, sub.outside + sub.count - 1, id.reason);
  }
  return fmt::format("single-id: root inside is {}, other ids are emulated ({})", who.name,
                     id.reason);
}

// Why range mode is impossible: the first range-mode check that is not ok, or `otherwise`.
// (choose_identity's own reason suggests a fixed usermod range, which may be taken
// already; the checks above suggest one that is free.)
std::string range_blocker(const Findings& checks, const std::string& otherwise) {
  for (const Finding& f : checks)
    if ((f.id == "newuidmap" || f.id == "subuid" || f.id == "subgid") && f.status != Status::ok)
      return f.text + "; the fix is above";
  return otherwise;
}

void check_identity(Findings& out, const Findings& checks, const Config& config,
                    const sandbox::HostIds& host, const Who& who) {
  const char* id = "identity_mode";
  const char* name = "identity mode";
  const auto choice = sandbox::parse_id_mode_choice(config.userns);
  if (!choice) {
    add(out, id, name, Status::fail, "sandbox.userns = \"" + config.userns + "\" is not valid",
        "set sandbox.userns to \"auto\", \"single\" or \"range\" in cairn.toml");
    return;
  }
  try {
    sandbox::Identity identity = sandbox::choose_identity(*choice, host);
    if (identity.fell_back) identity.reason = range_blocker(checks, identity.reason);
    add(out, id, name, Status::ok, identity_text(identity, who), {},
        std::string(sandbox::to_string(identity.mode)));
  } catch (const Error& e) {
    add(out, id, name, Status::fail,
        "sandbox.userns = \"range\", but " + range_blocker(checks, e.message()),
        "set sandbox.userns = \"auto\" in cairn.toml (single-id mode when range mode is not "
        "possible), or fix the range-mode lines above");
  }
}

void check_overlay(Findings& out, const Probe& p) {
  const char* id = "overlay_mode";
  const char* name = "overlay mode";
  if (p.worked(kMountFuse))
    add(out, id, name, Status::ok, "FUSE in a user namespace (cairn's own overlay filesystem)", {},
        "fuse-userns");
  else
    add(out, id, name, Status::fail,
        "none: builds cannot mount their layers without FUSE in a user namespace",
        "see the FAIL lines above", nullptr);
}

// --- the report -----------------------------------------------------------------------

struct Report {
  Findings checks;       // what the machine offers
  Findings conclusions;  // what cairn will use
  Who who;
  std::size_t failures() const {
    auto failed = [](const Finding& f) { return f.status == Status::fail; };
    return std::count_if(checks.begin(), checks.end(), failed) +
           std::count_if(conclusions.begin(), conclusions.end(), failed);
  }
  bool can_build() const { return failures() == 0; }
};

Report examine(const Config& config) {
  Report r;
  const sandbox::HostIds host = sandbox::probe_host();
  r.who = who_am_i(host);
  r.who.nested = inside_user_namespace();
  const Sysctls sysctls = Sysctls::read();
  const Probe probe = probe_namespaces(r.who);
  const bool userns_worked = probe.worked(kIdMaps);
  Findings& c = r.checks;
  check_kernel(c);
  check_user_namespaces(c, probe, sysctls);
  check_sandbox_namespaces(c, probe);
  check_max_user_namespaces(c, sysctls, userns_worked);
  check_userns_clone(c, sysctls, userns_worked);
  check_apparmor(c, sysctls, probe);
  check_dev_fuse(c, r.who);
  check_fuse_in_userns(c, probe, sysctls);
  check_fusermount(c, r.who);
  check_newuidmap(c, host, r.who);
  check_subid(c, "/etc/subuid", host.subuid, r.who);
  check_subid(c, "/etc/subgid", host.subgid, r.who);
  check_seccomp(c);
  const StoreSite site = locate_store(config.storage_root);
  check_store(c, site, r.who);
  check_store_filesystem(c, site);
  check_user_xattrs(c, site);
  check_free_space(c, site);
  check_identity(r.conclusions, r.checks, config, host, r.who);
  check_overlay(r.conclusions, probe);
  return r;
}

std::size_t name_width(const Report& r) {
  std::size_t width = 0;
  for (const Findings* list : {&r.checks, &r.conclusions})
    for (const Finding& f : *list)
      width = std::max(width, f.name.size());
  return width;
}

void print_findings(const Findings& findings, std::size_t width) {
  for (const Finding& f : findings) {
    fmt::print("  {:<4}  {:<{}}  {}\n", to_string(f.status), f.name, width, f.text);
    if (!f.fix.empty() && f.status != Status::ok)
      fmt::print("  {:<4}  {:<{}}  fix: {}\n", "", "", width, f.fix);
  }
}

void print_text(const Report& r) {
  fmt::print("cairn doctor: {} (uid {}, gid {}){}\n\nThis machine offers:\n", r.who.name, r.who.uid,
             r.who.gid, r.who.nested ? ", inside a user namespace" : "");
  const std::size_t width = name_width(r);
  print_findings(r.checks, width);
  fmt::print("\ncairn will use:\n");
  print_findings(r.conclusions, width);
  const std::size_t problems = r.failures();
  if (r.can_build())
    fmt::print("\ncairn can run builds here.\n");
  else
    fmt::print("\ncairn cannot run builds here: {} problem{} marked FAIL above.\n", problems,
               problems == 1 ? "" : "s");
}

json to_json(const Findings& findings) {
  json list = json::array();
  for (const Finding& f : findings) {
    json j = {{"id", f.id},
              {"name", f.name},
              {"status", to_string(f.status)},
              {"finding", f.text},
              {"value", f.value}};
    if (!f.fix.empty() && f.status != Status::ok) j["fix"] = f.fix;
    list.push_back(std::move(j));
  }
  return list;
}

void print_json(const Report& r) {
  const json out = {
      {"user", r.who.name},
      {"uid", r.who.uid},
      {"gid", r.who.gid},
      {"inside_user_namespace", r.who.nested},
      {"checks", to_json(r.checks)},
      {"conclusions", to_json(r.conclusions)},
      {"identity_mode", r.conclusions.at(0).value},
      {"overlay_mode", r.conclusions.at(1).value},
      {"can_build", r.can_build()},
  };
  fmt::print("{}\n", out.dump(2));
}

}  // namespace

Command register_doctor(CLI::App& root) {
  auto as_json = std::make_shared<bool>(false);
  CLI::App* app = root.add_subcommand(
      "doctor", "Check what this machine offers cairn and which modes it will use");
  app->add_flag("--json", *as_json, "Print the findings as JSON");
  return {app, [as_json](const Config& config) {
            const Report report = examine(config);
            if (*as_json)
              print_json(report);
            else
              print_text(report);
            return report.can_build() ? 0 : 1;
          }};
}

}  // namespace cairn::cli
