// Small path helpers of the overlay module (private).
#pragma once

#include <sys/stat.h>

#include <string>
#include <string_view>
#include <utility>

namespace cairn::overlay {

// "a/b/c" → {"a/b", "c"}; "c" → {"", "c"}.
inline std::pair<std::string, std::string> split_parent(const std::string& path) {
  const std::size_t slash = path.rfind('/');
  if (slash == std::string::npos) return {"", path};
  return {path.substr(0, slash), path.substr(slash + 1)};
}

// A merged path below `dir` ("" is the root).
inline std::string join(const std::string& dir, std::string_view name) {
  if (dir.empty()) return std::string(name);
  std::string out;
  out.reserve(dir.size() + 1 + name.size());
  out.append(dir).append(1, '/').append(name);
  return out;
}

// The name under which path-only syscalls reach what a descriptor refers to.
// thread-self, not self: the server's threads may have a descriptor table of their own
// (Mount::serve_on_own_thread), and /proc/self/fd is the thread group leader's.
inline std::string proc_path(int fd) { return "/proc/thread-self/fd/" + std::to_string(fd); }

// The host mode of an entry of a cairn-format upper: readable and writable by the user who
// serves the mount, whatever the image's mode (the record has that).
inline mode_t host_mode(mode_t mode) { return (mode & 0777) | (S_ISDIR(mode) ? 0700 : 0600); }

}  // namespace cairn::overlay
