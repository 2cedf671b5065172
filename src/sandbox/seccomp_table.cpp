// The reviewed seccomp policy. Every syscall a build may need is listed with why; what is
// not listed answers ENOSYS (glibc and most runtimes fall back on ENOSYS, never on EPERM).
// Review rule: a new row says what breaks without it (allow) or what it could reach
// outside the sandbox (deny). Names unknown to libseccomp on an architecture are skipped.
#include "cairn/sandbox/seccomp.hpp"

namespace cairn::sandbox {
namespace {

using A = PolicyRule::Applies;

struct Group {
  Verdict verdict;
  std::string_view reason;
  std::vector<std::string_view> names;
  A applies = A::always;
};

const std::vector<Group>& groups() {
  static const std::vector<Group> table = {
      // ---- allowed: what programs in a build do ----
      {Verdict::allow, "file and descriptor I/O",
       {"read", "write", "readv", "writev", "pread64", "pwrite64", "preadv", "pwritev",
        "preadv2", "pwritev2", "lseek", "_llseek", "sendfile", "sendfile64", "splice", "tee",
        "vmsplice", "copy_file_range", "close", "close_range", "dup", "dup2", "dup3", "fcntl",
        "fcntl64", "ioctl", "flock", "fsync", "fdatasync", "sync", "syncfs",
        "sync_file_range", "fallocate", "fadvise64", "fadvise64_64", "readahead", "truncate",
        "truncate64", "ftruncate", "ftruncate64"}},
      {Verdict::allow, "opening, inspecting and naming files",
       {"open", "openat", "openat2", "creat", "stat", "stat64", "fstat", "fstat64", "lstat",
        "lstat64", "newfstatat", "fstatat64", "statx", "statfs", "statfs64", "fstatfs",
        "fstatfs64", "access", "faccessat", "faccessat2", "readlink", "readlinkat", "getdents",
        "getdents64", "mkdir", "mkdirat", "rmdir", "unlink", "unlinkat", "rename", "renameat",
        "renameat2", "link", "linkat", "symlink", "symlinkat", "chdir", "fchdir", "getcwd",
        "chmod", "fchmod", "fchmodat", "umask", "utime", "utimes", "utimensat", "futimesat",
        "utimensat_time64", "name_to_handle_at", "chroot", "ustat"}},
      {Verdict::allow, "extended attributes (served from the layer record by the overlay)",
       {"getxattr", "lgetxattr", "fgetxattr", "setxattr", "lsetxattr", "fsetxattr", "listxattr",
        "llistxattr", "flistxattr", "removexattr", "lremovexattr", "fremovexattr"}},
      {Verdict::allow, "FIFOs, sockets and regular files by mknod (devices: see below)",
       {"mknod", "mknodat"}},
      {Verdict::allow, "memory management",
       {"brk", "mmap", "mmap2", "munmap", "mremap", "mprotect", "pkey_mprotect", "pkey_alloc",
        "pkey_free", "madvise", "process_madvise", "mincore", "mlock", "mlock2", "munlock",
        "mlockall", "munlockall", "msync", "membarrier", "memfd_create", "get_mempolicy",
        "set_mempolicy", "mbind", "remap_file_pages"}},
      {Verdict::allow, "processes, threads and signals (clone: see below)",
       {"fork", "vfork", "execve", "execveat", "exit", "exit_group", "wait4", "waitid",
        "waitpid", "kill", "tkill", "tgkill", "rt_sigaction", "rt_sigprocmask",
        "rt_sigreturn", "sigreturn", "rt_sigsuspend", "rt_sigpending", "rt_sigtimedwait",
        "rt_sigtimedwait_time64", "rt_sigqueueinfo", "rt_tgsigqueueinfo", "sigaltstack",
        "signalfd", "signalfd4", "pause", "set_tid_address", "set_robust_list",
        "get_robust_list", "futex", "futex_time64", "futex_waitv", "rseq", "restart_syscall",
        "arch_prctl", "set_thread_area", "get_thread_area", "prctl", "personality",
        "pidfd_open", "pidfd_send_signal", "pidfd_getfd", "kcmp"}},
      {Verdict::allow, "debuggers and strace in a build; the pid namespace hides every process "
                       "outside the sandbox",
       {"ptrace", "process_vm_readv", "process_vm_writev"}},
      {Verdict::allow, "identity and session queries",
       {"getuid", "geteuid", "getgid", "getegid", "getuid32", "geteuid32", "getgid32",
        "getegid32", "getresuid", "getresgid", "getresuid32", "getresgid32", "getgroups",
        "getgroups32", "getpid", "getppid", "gettid", "getpgid", "getpgrp", "getsid", "setpgid",
        "setsid", "capget"}},
      {Verdict::allow, "scheduling, limits and system information",
       {"sched_yield", "sched_getaffinity", "sched_setaffinity", "sched_getparam",
        "sched_setparam", "sched_getscheduler", "sched_setscheduler", "sched_getattr",
        "sched_setattr", "sched_get_priority_max", "sched_get_priority_min",
        "sched_rr_get_interval", "sched_rr_get_interval_time64", "getpriority", "setpriority",
        "ioprio_get", "ioprio_set", "getrlimit", "setrlimit", "ugetrlimit", "prlimit64",
        "getrusage", "times", "uname", "olduname", "sysinfo", "getrandom", "getcpu",
        "sethostname", "setdomainname"}},
      {Verdict::allow, "reading clocks and timers",
       {"clock_gettime", "clock_gettime64", "clock_getres", "clock_getres_time64",
        "clock_nanosleep", "clock_nanosleep_time64", "nanosleep", "gettimeofday", "time",
        "alarm", "getitimer", "setitimer", "timer_create", "timer_settime",
        "timer_settime64", "timer_gettime", "timer_gettime64", "timer_getoverrun",
        "timer_delete", "timerfd_create", "timerfd_settime", "timerfd_settime64",
        "timerfd_gettime", "timerfd_gettime64"}},
      {Verdict::allow, "waiting for events",
       {"poll", "ppoll", "ppoll_time64", "select", "_newselect", "pselect6",
        "pselect6_time64", "epoll_create", "epoll_create1", "epoll_ctl", "epoll_wait",
        "epoll_pwait", "epoll_pwait2", "eventfd", "eventfd2", "inotify_init", "inotify_init1",
        "inotify_add_watch", "inotify_rm_watch", "io_setup", "io_destroy", "io_submit",
        "io_getevents", "io_pgetevents", "io_pgetevents_time64", "io_cancel"}},
      {Verdict::allow, "pipes, sockets and System V / POSIX IPC (own ipc namespace)",
       {"pipe", "pipe2", "socket", "socketpair", "bind", "connect", "listen", "accept",
        "accept4", "getsockname", "getpeername", "sendto", "recvfrom", "send", "recv",
        "sendmsg", "recvmsg", "sendmmsg", "recvmmsg", "recvmmsg_time64", "shutdown",
        "setsockopt", "getsockopt", "socketcall", "ipc", "msgget", "msgsnd", "msgrcv",
        "msgctl", "semget", "semop", "semtimedop", "semtimedop_time64", "semctl", "shmget",
        "shmat", "shmdt", "shmctl", "mq_open", "mq_unlink", "mq_timedsend",
        "mq_timedsend_time64", "mq_timedreceive", "mq_timedreceive_time64", "mq_notify",
        "mq_getsetattr"}},
      {Verdict::allow, "programs that sandbox themselves (apt's methods, browsers, systemd "
                       "tools) install their own filters and rulesets",
       {"seccomp", "landlock_create_ruleset", "landlock_add_rule", "landlock_restrict_self"}},
      {Verdict::allow, "unshare of namespaces other than a user namespace (the kernel asks "
                       "for capabilities the payload does not have)",
       {"unshare", "clone"}},

      // ---- root emulation: the kernel cannot do these with one mapped id ----
      {Verdict::fake, "single-id mode: only one id is mapped, so switching ids cannot be done; "
                      "package scripts that drop privileges go on as root (Charliecloud's "
                      "root emulation)",
       {"setuid", "setgid", "setreuid", "setregid", "setresuid", "setresgid", "setfsuid",
        "setfsgid", "setgroups", "setuid32", "setgid32", "setreuid32", "setregid32",
        "setresuid32", "setresgid32", "setfsuid32", "setfsgid32", "setgroups32", "capset"},
       A::single_id},
      {Verdict::allow, "range mode: ids 0..65535 are mapped, so these work for real",
       {"setuid", "setgid", "setreuid", "setregid", "setresuid", "setresgid", "setfsuid",
        "setfsgid", "setgroups", "setuid32", "setgid32", "setreuid32", "setregid32",
        "setresuid32", "setresgid32", "setfsuid32", "setfsgid32", "setgroups32", "capset",
        "chown", "fchown", "lchown", "fchownat", "chown32", "fchown32", "lchown32"},
       A::range},
      {Verdict::supervise, "single-id mode: the owner a command sets is recorded in the "
                           "overlay's layer record, so the committed layer carries it",
       {"chown", "fchown", "lchown", "fchownat", "chown32", "fchown32", "lchown32"},
       A::single_id},

      // ---- denied (EPERM): never needed by a build, and each reaches past the sandbox ----
      {Verdict::deny, "loading kernels and kernel modules",
       {"kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module",
        "create_module", "query_module", "get_kernel_syms"}},
      {Verdict::deny, "BPF programs and performance counters read and steer the whole kernel",
       {"bpf", "perf_event_open"}},
      {Verdict::deny, "kernel keyrings are not namespaced: keys would leak across builds",
       {"keyctl", "add_key", "request_key"}},
      {Verdict::deny, "userfaultfd makes kernel races exploitable",
       {"userfaultfd"}},
      {Verdict::deny, "io_uring has been the way into many kernel exploits; programs fall back",
       {"io_uring_setup", "io_uring_enter", "io_uring_register"}},
      {Verdict::deny, "swap, reboot, accounting and quotas are the machine's",
       {"swapon", "swapoff", "reboot", "acct", "quotactl", "quotactl_fd", "vhangup",
        "nfsservctl", "lookup_dcookie", "syslog", "_sysctl", "uselib", "sysfs"}},
      {Verdict::deny, "the clock is the machine's",
       {"settimeofday", "clock_settime", "clock_settime64", "clock_adjtime",
        "clock_adjtime64", "adjtimex", "stime"}},
      {Verdict::deny, "the sandbox's mounts are fixed: no mounting over its root, no moving "
                      "out of it",
       {"mount", "umount", "umount2", "pivot_root", "move_mount", "open_tree", "fsopen",
        "fsconfig", "fsmount", "fspick", "mount_setattr", "setns"}},
      {Verdict::deny, "open_by_handle_at opens files by handle, past every mount (the "
                      "'shocker' escape)",
       {"open_by_handle_at"}},
      {Verdict::deny, "direct hardware and old-mode access",
       {"iopl", "ioperm", "vm86", "vm86old", "modify_ldt", "pciconfig_read", "pciconfig_write",
        "pciconfig_iobase"}},
      {Verdict::deny, "fanotify watches whole filesystems", {"fanotify_init", "fanotify_mark"}},
      {Verdict::deny, "NUMA page migration of other processes", {"move_pages", "migrate_pages"}},

      // ---- ENOSYS on purpose ----
      {Verdict::enosys, "clone3 passes its flags in memory, where a filter cannot see "
                        "CLONE_NEWUSER; glibc falls back to clone on ENOSYS",
       {"clone3"}},
  };
  return table;
}

}  // namespace

const std::vector<PolicyRule>& policy_table() {
  static const std::vector<PolicyRule> rules = [] {
    std::vector<PolicyRule> out;
    for (const Group& g : groups())
      for (std::string_view name : g.names) out.push_back({name, g.verdict, g.reason, g.applies});
    return out;
  }();
  return rules;
}

}  // namespace cairn::sandbox
