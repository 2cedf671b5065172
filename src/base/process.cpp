#include "cairn/base/process.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "cairn/base/error.hpp"
#include "cairn/base/sys.hpp"

extern char** environ;

namespace cairn {
namespace {

std::vector<char*> c_strings(const std::vector<std::string>& strings) {
  std::vector<char*> out;
  out.reserve(strings.size() + 1);
  for (const auto& s : strings) out.push_back(const_cast<char*>(s.c_str()));
  out.push_back(nullptr);
  return out;
}

[[noreturn]] void report_and_exit(int report_fd, int err) {
  (void)!::write(report_fd, &err, sizeof err);
  ::_exit(127);
}

// Runs in the child between fork and exec: async-signal-safe calls only, no allocation.
[[noreturn]] void exec_child(const SpawnOptions& options, char* const* argv, char* const* envp,
                             int report_fd, pid_t parent) {
  auto fail = [report_fd](int err) { report_and_exit(report_fd, err); };
  if (options.die_with_parent) {
    if (::prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) fail(errno);
    if (::getppid() != parent) ::_exit(127);  // the parent died before prctl
  }
  const int wanted[3] = {options.stdin_fd, options.stdout_fd, options.stderr_fd};
  for (int target = 0; target < 3; ++target) {
    if (wanted[target] < 0) continue;
    // dup2 clears close-on-exec on the new descriptor, which is what the child needs.
    if (wanted[target] == target) {
      int flags = ::fcntl(target, F_GETFD);
      if (flags < 0 || ::fcntl(target, F_SETFD, flags & ~FD_CLOEXEC) != 0) fail(errno);
    } else if (::dup2(wanted[target], target) < 0) {
      fail(errno);
    }
  }
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  ::execvpe(argv[0], argv, envp);
  report_and_exit(report_fd, errno);
}

}  // namespace

Child Child::spawn(const SpawnOptions& options) {
  if (options.argv.empty()) throw Error("spawn: empty command line");
  std::vector<char*> argv = c_strings(options.argv);
  std::vector<char*> envp = options.env ? c_strings(*options.env) : std::vector<char*>{};
  char* const* env_ptr = options.env ? envp.data() : environ;
  auto [report_read, report_write] = sys::pipe();
  const pid_t parent = ::getpid();

  pid_t pid = ::fork();
  if (pid < 0) throw_errno("fork for", options.argv[0], errno);
  if (pid == 0) exec_child(options, argv.data(), env_ptr, report_write.get(), parent);

  report_write.reset();
  Child child(pid, sys::pidfd_open(pid));
  int child_errno = 0;
  ssize_t n;
  do {
    n = ::read(report_read.get(), &child_errno, sizeof child_errno);
  } while (n < 0 && errno == EINTR);
  if (n == static_cast<ssize_t>(sizeof child_errno)) {
    child.wait();
    throw_errno("exec", options.argv[0], child_errno);
  }
  return child;
}

Child& Child::operator=(Child&& other) noexcept {
  if (this != &other) {
    kill_and_reap();
    pid_ = std::exchange(other.pid_, -1);
    pidfd_ = std::move(other.pidfd_);
  }
  return *this;
}

Child::~Child() { kill_and_reap(); }

void Child::kill_and_reap() noexcept {
  if (pid_ <= 0) return;
  ::syscall(SYS_pidfd_send_signal, pidfd_.get(), SIGKILL, nullptr, 0);
  int status;
  while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
  pid_ = -1;
}

int Child::wait() {
  if (pid_ <= 0) throw Error("wait: child already reaped");
  int status = 0;
  while (::waitpid(pid_, &status, 0) < 0) {
    if (errno != EINTR) throw_errno("waitpid", "pid " + std::to_string(pid_), errno);
  }
  pid_ = -1;
  pidfd_.reset();
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return WEXITSTATUS(status);
}

void Child::kill(int signal) {
  if (pid_ <= 0) return;
  if (::syscall(SYS_pidfd_send_signal, pidfd_.get(), signal, nullptr, 0) != 0 && errno != ESRCH)
    throw_errno("pidfd_send_signal", "pid " + std::to_string(pid_), errno);
}

CleanupWatch::CleanupWatch(std::string path) {
  auto [read_end, write_end] = sys::pipe();
  const pid_t pid = ::fork();
  if (pid < 0) throw_errno("fork", "cleanup watcher", errno);
  if (pid == 0) {
    // Outlives its owner on purpose: its own session, deaf to the terminal's signals.
    ::setsid();
    for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGQUIT}) ::signal(sig, SIG_IGN);
    write_end.reset();
    const int keep = read_end.get();
    for (int fd = 0; fd < 3; ++fd) {
      const int null = ::open("/dev/null", O_RDWR);
      if (null >= 0 && null != fd) {
        ::dup2(null, fd);
        ::close(null);
      }
    }
    ::close_range(3, static_cast<unsigned>(keep) - 1, 0);
    ::close_range(static_cast<unsigned>(keep) + 1, ~0U, 0);
    char byte = 0;
    ssize_t n;
    while ((n = ::read(keep, &byte, 1)) < 0 && errno == EINTR) {
    }
    if (n == 0) {  // the owner died without a word: remove what it left
      // The owner's sandbox may still be going down, its bind mounts on files of the tree
      // (EBUSY until it is gone): try again for a while.
      for (int attempt = 0; attempt < 100; ++attempt) {
        std::error_code ec;
        std::filesystem::remove_all(path, ec);
        if (!ec || !std::filesystem::exists(path, ec)) break;
        ::usleep(50 * 1000);
      }
    }
    ::_exit(0);
  }
  path_ = std::move(path);
  pipe_ = std::move(write_end);
  // Reap it when it ends after us is init's job. While we live it exits only once pipe_ is
  // written or closed: disarm() waits for it; after settle() handed it a removal it may
  // linger as a zombie until we exit (builds and runs end right after).
  watcher_ = pid;
}

void CleanupWatch::settle() {
  std::error_code ec;
  if (!pipe_ || !std::filesystem::exists(path_, ec)) return disarm();
  pipe_.reset();  // end of file without a word: the watcher removes what is left
  watcher_ = -1;  // not waited for: it may retry for seconds; init reaps it after us
}

void CleanupWatch::disarm() {
  if (!pipe_) return;
  (void)!::write(pipe_.get(), "d", 1);
  pipe_.reset();
  if (watcher_ > 0) ::waitpid(std::exchange(watcher_, -1), nullptr, 0);
}

}  // namespace cairn
