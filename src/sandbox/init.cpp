// The sandbox's pid 1, in the child of a multithreaded parent: only system calls from
// here on, no allocation, no locks. Failures are reported over the report pipe as
// ChildReport values and end the child.
#include <errno.h>
#include <grp.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/mount.h>
#include <linux/seccomp.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cstring>

#include "internal.hpp"

namespace cairn::sandbox {
namespace {

[[noreturn]] void fail(const ChildPlan& plan, ChildStep step, int index, int error, int status = 1) {
  const ChildReport report{step, index, error};
  (void)!::write(plan.report_fd, &report, sizeof report);
  ::_exit(status);
}

int apply(const RawOp& op) {
  switch (op.kind) {
    case MountOp::Kind::mount:
      return ::mount(op.source, op.target, op.fstype, op.flags, op.data[0] ? op.data : nullptr);
    case MountOp::Kind::bind:
      return ::mount(op.source, op.target, nullptr, MS_BIND | (op.flags & MS_REC), nullptr);
    case MountOp::Kind::read_only: {
      mount_attr attr{};
      attr.attr_set = MOUNT_ATTR_RDONLY;
      return static_cast<int>(::syscall(SYS_mount_setattr, AT_FDCWD, op.target,
                                        (op.flags & MS_REC) ? AT_RECURSIVE : 0, &attr,
                                        sizeof attr));
    }
    case MountOp::Kind::make_dir:
      return ::mkdir(op.target, 0755) == 0 || errno == EEXIST ? 0 : -1;
    case MountOp::Kind::make_file: {
      const int fd = ::open(op.target, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
      if (fd < 0) return -1;
      ::close(fd);
      return 0;
    }
    case MountOp::Kind::symlink:
      return ::symlink(op.source, op.target) == 0 || errno == EEXIST ? 0 : -1;
  }
  errno = EINVAL;
  return -1;
}

void build_root(const ChildPlan& plan) {
  // Our mounts must not reach the parent's namespace.
  if (::mount(nullptr, "/", nullptr, MS_REC | MS_SLAVE, nullptr) != 0)
    fail(plan, ChildStep::make_private, 0, errno);
  for (std::size_t i = 0; i < plan.op_count; ++i)
    if (apply(plan.ops[i]) != 0 && !plan.ops[i].optional)
      fail(plan, ChildStep::mount_op, static_cast<int>(i), errno);
  if (plan.hostname && ::sethostname(plan.hostname, std::strlen(plan.hostname)) != 0)
    fail(plan, ChildStep::hostname, 0, errno);
  if (plan.loopback) {
    const int s = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    ifreq ifr{};
    std::strcpy(ifr.ifr_name, "lo");
    if (s < 0 || ::ioctl(s, SIOCGIFFLAGS, &ifr) != 0) fail(plan, ChildStep::loopback, 0, errno);
    ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
    if (::ioctl(s, SIOCSIFFLAGS, &ifr) != 0) fail(plan, ChildStep::loopback, 0, errno);
    ::close(s);
  }
  // pivot_root(".", ".") stacks the old root under the new one; detaching it leaves only
  // the new root (no directory for the old root is needed in the image).
  if (::chdir(plan.rootfs) != 0 || ::syscall(SYS_pivot_root, ".", ".") != 0 ||
      ::umount2(".", MNT_DETACH) != 0 || ::chdir("/") != 0)
    fail(plan, ChildStep::pivot_root, 0, errno);
}

// Docker's default capability set: what package managers and build scripts use as root.
constexpr int kKeptCapabilities[] = {
    CAP_CHOWN, CAP_DAC_OVERRIDE, CAP_FOWNER, CAP_FSETID, CAP_KILL, CAP_SETGID, CAP_SETUID,
    CAP_SETPCAP, CAP_NET_BIND_SERVICE, CAP_NET_RAW, CAP_SYS_CHROOT, CAP_MKNOD,
    CAP_AUDIT_WRITE, CAP_SETFCAP};

bool kept(int cap) {
  for (int c : kKeptCapabilities)
    if (c == cap) return true;
  return false;
}

void drop_capabilities(const ChildPlan& plan) {
  for (int cap = 0; cap <= 63; ++cap) {
    if (kept(cap)) continue;
    if (::prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 && errno != EINVAL)
      fail(plan, ChildStep::capabilities, cap, errno);
  }
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2]{};
  for (int cap : kKeptCapabilities) {
    data[cap / 32].effective |= 1u << (cap % 32);
    data[cap / 32].permitted |= 1u << (cap % 32);
    data[cap / 32].inheritable |= 1u << (cap % 32);
  }
  if (::syscall(SYS_capset, &header, data) != 0) fail(plan, ChildStep::capabilities, 0, errno);
  ::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
}

void install_filter(const ChildPlan& plan) {
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) fail(plan, ChildStep::no_new_privs, 0, errno);
  const unsigned flags = plan.supervised ? SECCOMP_FILTER_FLAG_NEW_LISTENER : 0;
  const long fd = ::syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &plan.filter);
  if (fd < 0) fail(plan, ChildStep::seccomp, 0, errno);
  if (!plan.supervised) return;
  // The parent copies the listener with pidfd_getfd, then says so.
  const int listener = static_cast<int>(fd);
  char byte;
  if (::write(plan.sync_fd, &listener, sizeof listener) != sizeof listener ||
      ::read(plan.ack_fd, &byte, 1) != 1)
    fail(plan, ChildStep::listener, 0, errno ? errno : EPIPE);
  ::close(listener);
}

void set_rlimits(const ChildPlan& plan) {
  for (std::size_t i = 0; i < plan.rlimit_count; ++i) {
    const RawRlimit& r = plan.rlimits[i];
    rlimit now{};
    if (::getrlimit(r.resource, &now) != 0) fail(plan, ChildStep::rlimit, r.resource, errno);
    // Never above what the caller may have: a lower hard limit is not an error.
    rlimit want{static_cast<rlim_t>(r.soft), static_cast<rlim_t>(r.hard)};
    if (now.rlim_max != RLIM_INFINITY && (want.rlim_max == RLIM_INFINITY || want.rlim_max > now.rlim_max))
      want.rlim_max = now.rlim_max;
    if (want.rlim_max != RLIM_INFINITY && (want.rlim_cur == RLIM_INFINITY || want.rlim_cur > want.rlim_max))
      want.rlim_cur = want.rlim_max;
    if (::setrlimit(r.resource, &want) != 0) fail(plan, ChildStep::rlimit, r.resource, errno);
  }
}

// execvpe without allocation: PATH from the payload's environment.
[[noreturn]] void exec_payload(const ChildPlan& plan) {
  const char* file = plan.argv[0];
  if (std::strchr(file, '/')) {
    ::execve(file, plan.argv, plan.envp);
    const int error = errno;
    if (error == ENOENT || error == ENOTDIR) fail(plan, ChildStep::exec_not_found, 0, error, 127);
    fail(plan, error == EACCES ? ChildStep::exec_denied : ChildStep::exec, 0, error,
         error == EACCES ? 126 : 127);
  }
  char candidate[PATH_MAX];
  bool denied = false;
  const std::size_t file_length = std::strlen(file);
  for (const char* p = plan.path;;) {
    const char* end = std::strchr(p, ':');
    const std::size_t length = end ? static_cast<std::size_t>(end - p) : std::strlen(p);
    if (length + 1 + file_length + 1 <= sizeof candidate) {
      std::memcpy(candidate, p, length);
      std::size_t at = length;
      if (at == 0) candidate[at++] = '.';
      candidate[at++] = '/';
      std::memcpy(candidate + at, file, file_length + 1);
      ::execve(candidate, plan.argv, plan.envp);
      if (errno == EACCES) denied = true;
      else if (errno != ENOENT && errno != ENOTDIR) fail(plan, ChildStep::exec, 0, errno, 126);
    }
    if (!end) break;
    p = end + 1;
  }
  if (denied) fail(plan, ChildStep::exec_denied, 0, EACCES, 126);
  fail(plan, ChildStep::exec_not_found, 0, ENOENT, 127);
}

[[noreturn]] void payload_main(const ChildPlan& plan) {
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  if (!plan.terminal) ::setsid();
  if (!plan.stdin_open) {
    const int null = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (null < 0 || ::dup2(null, STDIN_FILENO) < 0) fail(plan, ChildStep::stdin, 0, errno);
    ::close(null);
  }
  set_rlimits(plan);
  // Raw system calls: glibc's wrappers would make every thread of the parent switch too
  // (the copied thread list says there are several), waiting on a futex forever.
  if (plan.switch_ids) {
    if (::syscall(SYS_setgroups, plan.group_count, plan.groups) != 0)
      fail(plan, ChildStep::groups, 0, errno);
    if (::syscall(SYS_setresgid, plan.gid, plan.gid, plan.gid) != 0)
      fail(plan, ChildStep::gid, 0, errno);
    if (::syscall(SYS_setresuid, plan.uid, plan.uid, plan.uid) != 0)
      fail(plan, ChildStep::uid, 0, errno);
  }
  if (::chdir(plan.cwd) != 0) fail(plan, ChildStep::chdir, 0, errno);
  ::umask(022);
  // Only 0, 1 and 2 survive the exec (the report pipe is close-on-exec already).
  ::syscall(SYS_close_range, 3, ~0U, CLOSE_RANGE_CLOEXEC);
  exec_payload(plan);
}

int exit_code(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return 1;
}

// Reaps every child (orphans are reparented to us), forwards signals to the payload, and
// ends with the payload's status (the kernel then kills whatever is left in the pid
// namespace).
[[noreturn]] void reap_until_payload_exits(pid_t payload) {
  sigset_t all;
  sigfillset(&all);
  for (;;) {
    siginfo_t info{};
    const int sig = ::sigwaitinfo(&all, &info);
    if (sig < 0) continue;
    if (sig != SIGCHLD) {
      ::kill(payload, sig);
      continue;
    }
    int status = 0;
    pid_t pid;
    while ((pid = ::waitpid(-1, &status, WNOHANG)) > 0)
      if (pid == payload) ::_exit(exit_code(status));
  }
}

// Closes every descriptor but 0, 1, 2 and the plan's pipes: cairn's own (the store, the
// FUSE device, whatever its caller left open) must never reach the sandbox, where
// /proc/1/fd would lead out of it.
void close_inherited(const ChildPlan& plan) {
  int keep[3] = {plan.report_fd, plan.sync_fd, plan.ack_fd};
  std::sort(keep, keep + 3);
  unsigned next = 3;
  for (int fd : keep) {
    if (fd < static_cast<int>(next)) continue;
    if (static_cast<unsigned>(fd) > next) ::syscall(SYS_close_range, next, fd - 1, 0);
    next = static_cast<unsigned>(fd) + 1;
  }
  ::syscall(SYS_close_range, next, ~0U, 0);
}

}  // namespace

void child_main(const ChildPlan& plan) {
  // Dies with the parent, whichever way the parent ends (SIGKILL included); pid 1 going
  // takes every process of the namespace with it.
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  close_inherited(plan);
  sigset_t all;
  sigfillset(&all);
  ::sigprocmask(SIG_SETMASK, &all, nullptr);
  build_root(plan);
  drop_capabilities(plan);
  install_filter(plan);
  ::close(plan.sync_fd);
  ::close(plan.ack_fd);
  // Its memory and environment are cairn's: the payload (same ids, no CAP_SYS_PTRACE) must
  // not read /proc/1/mem or /proc/1/environ, nor ptrace it. Only now: the parent took the
  // listener with pidfd_getfd, which a non-dumpable process refuses.
  ::prctl(PR_SET_DUMPABLE, 0);
  // vfork-style (as posix_spawn does it): the payload borrows this process's memory, on a
  // stack of its own, until it execs — no copy of the page tables of cairn's copy (~2 ms
  // here), and pid 1 waits meanwhile. The payload only makes system calls, writes its
  // stack, and execs or exits.
  alignas(16) static char stack[64 * 1024];
  const pid_t payload = ::clone(
      [](void* arg) -> int { payload_main(*static_cast<const ChildPlan*>(arg)); }, stack + sizeof stack,
      CLONE_VM | CLONE_VFORK | SIGCHLD, const_cast<ChildPlan*>(&plan));
  if (payload < 0) fail(plan, ChildStep::fork, 0, errno);
  ::close(plan.report_fd);
  reap_until_payload_exits(payload);
}

}  // namespace cairn::sandbox
