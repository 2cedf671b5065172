#include "cairn/base/sys.hpp"

#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <linux/openat2.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <random>

#include "cairn/base/error.hpp"

namespace cairn::sys {

UniqueFd open(const std::string& path, int flags, mode_t mode) {
  int fd = ::open(path.c_str(), flags | O_CLOEXEC, mode);
  if (fd < 0) throw_errno("open", path, errno);
  return UniqueFd(fd);
}

UniqueFd openat(int dirfd, const std::string& path, int flags, mode_t mode) {
  int fd = ::openat(dirfd, path.c_str(), flags | O_CLOEXEC, mode);
  if (fd < 0) throw_errno("openat", path, errno);
  return UniqueFd(fd);
}

std::pair<UniqueFd, UniqueFd> pipe() {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) throw_errno("pipe2", "", errno);
  return {UniqueFd(fds[0]), UniqueFd(fds[1])};
}

std::pair<UniqueFd, UniqueFd> socketpair() {
  int fds[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0)
    throw_errno("socketpair", "", errno);
  return {UniqueFd(fds[0]), UniqueFd(fds[1])};
}

UniqueFd pidfd_open(pid_t pid) {
  // pidfds are always close-on-exec.
  int fd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  if (fd < 0) throw_errno("pidfd_open", "pid " + std::to_string(pid), errno);
  return UniqueFd(fd);
}

int try_openat2(int dirfd, const std::string& path, int flags, std::uint64_t resolve,
                mode_t mode) {
  struct open_how how = {};
  how.flags = static_cast<unsigned long long>(flags | O_CLOEXEC);
  how.mode = (flags & (O_CREAT | O_TMPFILE)) ? mode : 0;
  how.resolve = resolve;
  for (;;) {
    long fd = ::syscall(SYS_openat2, dirfd, path.c_str(), &how, sizeof how);
    if (fd >= 0) return static_cast<int>(fd);
    if (errno != EINTR && errno != EAGAIN) return -errno;
  }
}

int try_open_beneath(int dirfd, const std::string& path, int flags, mode_t mode) {
  return try_openat2(dirfd, path, flags,
                     RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS, mode);
}

UniqueFd pidfd_getfd(int pidfd, int fd) {
  // Descriptors from pidfd_getfd are always close-on-exec.
  UniqueFd copy(static_cast<int>(::syscall(SYS_pidfd_getfd, pidfd, fd, 0)));
  if (!copy) throw_errno("pidfd_getfd", "descriptor " + std::to_string(fd), errno);
  return copy;
}

UniqueFd memfd(const char* name) {
  UniqueFd fd(static_cast<int>(::syscall(SYS_memfd_create, name, MFD_CLOEXEC)));
  if (!fd) throw_errno("memfd_create", name, errno);
  return fd;
}

UniqueFd epoll_watch(int fd, std::uint32_t events) {
  UniqueFd ep(::epoll_create1(EPOLL_CLOEXEC));
  if (!ep) throw_errno("epoll_create1", "", errno);
  epoll_add(ep.get(), fd, events);
  return ep;
}

void epoll_add(int epoll_fd, int fd, std::uint32_t events) {
  epoll_event event{};
  event.events = events;
  event.data.fd = fd;
  if (::epoll_ctl(epoll_fd, EPOLL_CTL_ADD, fd, &event) != 0) {
    const int error = errno;
    std::string what = "descriptor ";
    what += std::to_string(fd);
    throw_errno("epoll_ctl", what, error);
  }
}

UniqueFd eventfd() {
  UniqueFd fd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!fd) throw_errno("eventfd", "", errno);
  return fd;
}

UniqueFd open_beneath(int dirfd, const std::string& path, int flags, mode_t mode) {
  int fd = try_open_beneath(dirfd, path, flags, mode);
  if (fd < 0) throw_errno("open", path, -fd);
  return UniqueFd(fd);
}

UniqueFd dup(int fd) {
  int copy = ::fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (copy < 0) throw_errno("dup", "fd " + std::to_string(fd), errno);
  return UniqueFd(copy);
}

void read_chunks(int fd, std::string_view what,
                 const std::function<void(std::string_view)>& consume, std::size_t chunk_size) {
  std::string buffer(chunk_size, '\0');
  for (;;) {
    const ssize_t n = ::read(fd, buffer.data(), buffer.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      throw_errno("read", what, errno);
    }
    if (n == 0) return;
    consume(std::string_view(buffer.data(), static_cast<std::size_t>(n)));
  }
}

std::string read_all(int fd, std::string_view what) {
  std::string out;
  read_chunks(fd, what, [&](std::string_view chunk) { out.append(chunk); }, 65536);
  return out;
}

std::string read_file(const std::string& path) {
  UniqueFd fd = open(path, O_RDONLY);
  return read_all(fd.get(), path);
}

void write_all(int fd, std::string_view data, std::string_view what) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      throw_errno("write", what, errno);
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
}

namespace {

std::string temp_name_for(const std::string& path, const std::string& temp_dir) {
  static thread_local std::mt19937_64 random{std::random_device{}()};
  std::string base = path;
  if (!temp_dir.empty()) base = temp_dir + "/" + path.substr(path.rfind('/') + 1);
  return base + ".tmp-" + std::to_string(::getpid()) + "-" + std::to_string(random() % 1000000007);
}

std::string parent_dir(const std::string& path) {
  auto slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

}  // namespace

void write_file_atomic(const std::string& path, std::string_view data, mode_t mode,
                       const std::string& temp_dir) {
  const std::string temp = temp_name_for(path, temp_dir);
  try {
    UniqueFd fd = open(temp, O_WRONLY | O_CREAT | O_EXCL, mode);
    write_all(fd.get(), data, temp);
    if (::fsync(fd.get()) != 0) throw_errno("fsync", temp, errno);
  } catch (...) {
    ::unlink(temp.c_str());
    throw;
  }
  if (::rename(temp.c_str(), path.c_str()) != 0) {
    int saved = errno;
    ::unlink(temp.c_str());
    throw_errno("rename to", path, saved);
  }
  // Best effort from here on: the rename already happened, so neither a directory we may
  // not open for reading (write and search permission suffice for the rename) nor an fsync
  // failing with EINVAL on some filesystems may turn the replacement into an error.
  UniqueFd dir(::open(parent_dir(path).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dir) ::fsync(dir.get());
}

}  // namespace cairn::sys
