#include "supervisor.hpp"

#include <fcntl.h>
#include <linux/audit.h>
#include <linux/openat2.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstring>
#include <optional>
#include <string>

#include "cairn/base/log.hpp"
#include "cairn/base/sys.hpp"

namespace cairn::sandbox {
namespace {

#if defined(__x86_64__)
constexpr std::uint32_t kNativeArch = AUDIT_ARCH_X86_64;
#elif defined(__aarch64__)
constexpr std::uint32_t kNativeArch = AUDIT_ARCH_AARCH64;
#else
constexpr std::uint32_t kNativeArch = 0;
#endif

// A NUL-terminated string from the process's memory.
std::optional<std::string> read_string(pid_t pid, std::uint64_t address) {
  const UniqueFd mem(::open(("/proc/" + std::to_string(pid) + "/mem").c_str(), O_RDONLY | O_CLOEXEC));
  if (!mem) return std::nullopt;
  std::string out;
  char chunk[256];
  while (out.size() < 4096) {
    const ssize_t n = ::pread(mem.get(), chunk, sizeof chunk, static_cast<off_t>(address + out.size()));
    if (n <= 0) return std::nullopt;
    const void* nul = std::memchr(chunk, '\0', static_cast<std::size_t>(n));
    if (nul) return out.append(chunk, static_cast<const char*>(nul) - chunk);
    out.append(chunk, static_cast<std::size_t>(n));
  }
  return std::nullopt;
}

// Opens (O_PATH) what `dirfd`+`path` name for process `pid`, resolved inside its root:
// absolute paths and symlinks never leave it. -errno on failure; -EXDEV when the path is
// on another mount than the root's (a bind mount, /proc, /dev): nothing to record there.
int open_for(pid_t pid, int dirfd, const std::string& path, bool follow, bool empty_path) {
  const std::string proc = "/proc/" + std::to_string(pid);
  std::string base;
  if (!path.empty() && path.front() == '/') base = proc + "/root";
  else if (dirfd == AT_FDCWD) base = proc + "/cwd";
  else base = proc + "/fd/" + std::to_string(dirfd);
  if (path.empty()) {
    if (!empty_path) return -ENOENT;
    const int fd = ::open(base.c_str(), O_PATH | O_CLOEXEC);
    return fd < 0 ? -errno : fd;
  }
  const UniqueFd start(::open(base.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!start) return -errno;
  const std::uint64_t in_root = path.front() == '/' ? RESOLVE_IN_ROOT : 0;
  return sys::try_openat2(start.get(), path, O_PATH | (follow ? 0 : O_NOFOLLOW),
                          RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV | in_root);
}

mode_t umask_of(pid_t pid) {
  const UniqueFd fd(::open(("/proc/" + std::to_string(pid) + "/status").c_str(), O_RDONLY | O_CLOEXEC));
  char buffer[4096];
  const ssize_t n = fd ? ::read(fd.get(), buffer, sizeof buffer - 1) : -1;
  if (n <= 0) return 022;
  buffer[n] = '\0';
  const char* at = std::strstr(buffer, "Umask:");
  return at ? static_cast<mode_t>(std::strtoul(at + 6, nullptr, 8)) : 022;
}

long id_arg(std::uint64_t value) {
  const auto id = static_cast<std::uint32_t>(value);
  return id == 0xffffffffu ? -1 : static_cast<long>(id);
}

int chown_at(Recorder& r, const seccomp_notif& n, int dirfd, std::uint64_t path_address,
             std::uint64_t uid, std::uint64_t gid, bool follow, bool empty_path) {
  std::string path;
  if (path_address != 0 || !empty_path) {
    const auto text = read_string(n.pid, path_address);
    if (!text) return EFAULT;
    path = *text;
  }
  const int fd = open_for(n.pid, dirfd, path, follow, empty_path);
  if (fd == -EXDEV) return 0;
  if (fd < 0) return -fd;
  const UniqueFd owner(fd);
  return r.record_owner(fd, id_arg(uid), id_arg(gid));
}

int mknod_at(Recorder& r, const seccomp_notif& n, int dirfd, std::uint64_t path_address,
             std::uint64_t mode, std::uint64_t dev) {
  const auto text = read_string(n.pid, path_address);
  if (!text) return EFAULT;
  std::string path = *text;
  while (path.size() > 1 && path.back() == '/') path.pop_back();
  const auto slash = path.rfind('/');
  const std::string name = slash == std::string::npos ? path : path.substr(slash + 1);
  std::string parent = slash == std::string::npos ? "" : path.substr(0, slash);
  if (slash == 0) parent = "/";
  if (name.empty() || name == "." || name == "..") return EEXIST;
  const int fd = parent.empty() ? open_for(n.pid, dirfd, "", true, true)
                                : open_for(n.pid, dirfd, parent, true, false);
  if (fd == -EXDEV) return EPERM;  // outside the overlay a device cannot be recorded
  if (fd < 0) return -fd;
  const UniqueFd dir(fd);
  // An O_PATH directory descriptor works for *at() calls through its /proc path.
  const UniqueFd real(::open(("/proc/self/fd/" + std::to_string(fd)).c_str(),
                             O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!real) return errno;
  const mode_t perms = static_cast<mode_t>(mode) & 07777 & ~umask_of(n.pid);
  return r.record_device(real.get(), name, (static_cast<mode_t>(mode) & S_IFMT) | perms,
                         static_cast<dev_t>(dev));
}

int handle(Recorder& r, const seccomp_notif& n) {
  const auto& a = n.data.args;
  if (n.data.arch != kNativeArch) return 0;  // other ABIs: emulated without recording
  switch (n.data.nr) {
#ifdef __NR_chown
    case __NR_chown: return chown_at(r, n, AT_FDCWD, a[0], a[1], a[2], true, false);
    case __NR_lchown: return chown_at(r, n, AT_FDCWD, a[0], a[1], a[2], false, false);
#endif
    case __NR_fchown:
      return chown_at(r, n, static_cast<int>(a[0]), 0, a[1], a[2], true, true);
    case __NR_fchownat: {
      const int flags = static_cast<int>(a[4]);
      return chown_at(r, n, static_cast<int>(a[0]), a[1], a[2], a[3],
                      !(flags & AT_SYMLINK_NOFOLLOW), (flags & AT_EMPTY_PATH) != 0);
    }
#ifdef __NR_mknod
    case __NR_mknod: return mknod_at(r, n, AT_FDCWD, a[0], a[1], a[2]);
#endif
    case __NR_mknodat: return mknod_at(r, n, static_cast<int>(a[0]), a[1], a[2], a[3]);
    default: return 0;
  }
}

}  // namespace

Supervisor::Supervisor(UniqueFd listener, Recorder& recorder)
    : listener_(std::move(listener)), recorder_(recorder), thread_([this] { serve(); }) {}

Supervisor::~Supervisor() {
  if (thread_.joinable()) thread_.join();
}

void Supervisor::serve() {
  for (;;) {
    pollfd p{listener_.get(), POLLIN, 0};
    if (::poll(&p, 1, -1) < 0) {
      if (errno == EINTR) continue;
      return;
    }
    if (!(p.revents & POLLIN)) return;  // POLLHUP: no process is left under the filter
    seccomp_notif request{};
    if (::ioctl(listener_.get(), SECCOMP_IOCTL_NOTIF_RECV, &request) != 0) {
      if (errno == EINTR || errno == ENOENT) continue;
      return;
    }
    const int error = handle(recorder_, request);
    seccomp_notif_resp response{};
    response.id = request.id;
    response.error = error == 0 ? 0 : -error;
    response.val = 0;
    // ENOENT: the process died meanwhile (nothing to answer).
    ::ioctl(listener_.get(), SECCOMP_IOCTL_NOTIF_SEND, &response);
  }
}

}  // namespace cairn::sandbox
