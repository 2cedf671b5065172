// Advisory file locks (flock) as move-only owners.
#pragma once

#include <string>

#include "cairn/base/fd.hpp"

namespace cairn {

class FileLock {
 public:
  enum class Mode { shared, exclusive };
  // Opens (creating) `path` and waits for the lock.
  static FileLock acquire(const std::string& path, Mode mode);
  // As acquire, but returns an empty lock instead of waiting.
  static FileLock try_acquire(const std::string& path, Mode mode);

  FileLock() = default;
  explicit operator bool() const { return static_cast<bool>(fd_); }
  // Changes the mode of a held lock (not atomic: flock drops and re-takes it).
  void convert(Mode mode);
  void release() { fd_.reset(); }

 private:
  explicit FileLock(UniqueFd fd) : fd_(std::move(fd)) {}
  UniqueFd fd_;
};

}  // namespace cairn
