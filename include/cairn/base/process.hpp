// A child process owned through its pidfd: spawned, waited for, and killed if its owner
// goes away without waiting.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "cairn/base/fd.hpp"

namespace cairn {

struct SpawnOptions {
  std::vector<std::string> argv;               // argv[0] is looked up in PATH
  std::optional<std::vector<std::string>> env;  // "K=V"; the caller's environment if unset
  int stdin_fd = -1;                            // -1: inherit
  int stdout_fd = -1;
  int stderr_fd = -1;
  bool die_with_parent = true;  // PR_SET_PDEATHSIG(SIGKILL) in the child
};

class Child {
 public:
  // Forks and execs; an exec failure in the child is reported over a close-on-exec pipe
  // and thrown here as an Error naming the program.
  static Child spawn(const SpawnOptions& options);

  // Hand-written: the defaulted one would leave pid_ set in the moved-from object, whose
  // destructor would then kill and reap the process it no longer owns.
  Child(Child&& other) noexcept
      : pid_(std::exchange(other.pid_, -1)), pidfd_(std::move(other.pidfd_)) {}
  Child& operator=(Child&&) noexcept;
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  // A child that was never waited for is killed and reaped.
  ~Child();

  pid_t pid() const { return pid_; }
  int pidfd() const { return pidfd_.get(); }
  // Waits for exit. Returns the exit status, or 128 + signal number as shells do.
  int wait();
  void kill(int signal);

 private:
  Child(pid_t pid, UniqueFd pidfd) : pid_(pid), pidfd_(std::move(pidfd)) {}
  void kill_and_reap() noexcept;

  pid_t pid_ = -1;
  UniqueFd pidfd_;
};

// Removes a directory tree when its owner goes away without doing so itself (SIGKILL
// included): a forked watcher holds the read end of a pipe whose write end only the owner
// has; at EOF it removes `path` unless disarm() was called. Fork it while the process has
// one thread and before it enters another user namespace (the watcher stays outside).
class CleanupWatch {
 public:
  CleanupWatch() = default;
  explicit CleanupWatch(std::string path);
  CleanupWatch(CleanupWatch&& other) noexcept
      : path_(std::move(other.path_)),
        pipe_(std::move(other.pipe_)),
        watcher_(std::exchange(other.watcher_, -1)) {}
  CleanupWatch& operator=(CleanupWatch&&) = delete;
  CleanupWatch(const CleanupWatch&) = delete;
  // Leaves the removal to the watcher (the owner normally removes the tree first).
  ~CleanupWatch() = default;
  // Tells the watcher that the owner removed (or kept) the tree: it exits doing nothing.
  void disarm();
  // After the owner tried to remove the tree: disarms the watcher if the tree is gone, else
  // leaves it to retry the removal on its own, as when the owner dies (a stage's sandbox,
  // killed, may hold a mount on one of its files for a moment longer: EBUSY).
  void settle();

 private:
  std::string path_;
  UniqueFd pipe_;
  pid_t watcher_ = -1;
};

}  // namespace cairn
