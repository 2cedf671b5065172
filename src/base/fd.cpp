#include "cairn/base/fd.hpp"

#include <unistd.h>

namespace cairn {

void UniqueFd::reset(int fd) {
  // close() is not retried on EINTR: on Linux the descriptor is gone either way.
  if (fd_ >= 0) ::close(fd_);
  fd_ = fd;
}

}  // namespace cairn
