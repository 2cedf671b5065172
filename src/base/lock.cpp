#include "cairn/base/lock.hpp"

#include <fcntl.h>
#include <sys/file.h>

#include <cerrno>

#include "cairn/base/error.hpp"
#include "cairn/base/sys.hpp"

namespace cairn {
namespace {

int operation(FileLock::Mode mode) { return mode == FileLock::Mode::shared ? LOCK_SH : LOCK_EX; }

}  // namespace

FileLock FileLock::acquire(const std::string& path, Mode mode) {
  UniqueFd fd = sys::open(path, O_RDWR | O_CREAT, 0644);
  while (::flock(fd.get(), operation(mode)) != 0) {
    if (errno != EINTR) throw Error("lock", path, errno);
  }
  return FileLock(std::move(fd));
}

FileLock FileLock::try_acquire(const std::string& path, Mode mode) {
  UniqueFd fd = sys::open(path, O_RDWR | O_CREAT, 0644);
  if (::flock(fd.get(), operation(mode) | LOCK_NB) != 0) {
    if (errno == EWOULDBLOCK) return FileLock();
    throw Error("lock", path, errno);
  }
  return FileLock(std::move(fd));
}

void FileLock::convert(Mode mode) {
  while (::flock(fd_.get(), operation(mode)) != 0) {
    if (errno != EINTR) throw Error("lock", "store lock", errno);
  }
}

}  // namespace cairn
