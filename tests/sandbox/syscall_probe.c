/* syscall_probe: runs inside cairn's sandbox and reports what the seccomp policy (and the
 * namespaces around it) answer. Static, no dependency beyond libc, so that it can be
 * bind-mounted into any image: gcc -static -O2 -o syscall_probe syscall_probe.c
 *
 * Usage:
 *   syscall_probe expect NAME[:ARG]=WANT...
 *       Tries each named call (raw syscall(2): no libc wrapper in the way) in a child
 *       process of its own, with harmless arguments, and prints one line per call:
 *         NAME got ERRNO_NAME want WANT ok|FAIL
 *       WANT is an errno name (EPERM, ENOSYS, ...), a number, OK (the call succeeded),
 *       !WANT (anything but WANT), fail (any error, or the child killed by a signal) or
 *       any (only print). "got" is OK, an errno name, or SIGNAME when the child died
 *       of a signal (SIGSYS for a seccomp kill). Exits 1 when any line says FAIL.
 *   syscall_probe fds
 *       Lists the open descriptors ("N -> TARGET"), except the one used to read
 *       /proc/self/fd.
 *   syscall_probe chroot-escape PATH
 *       The classic chroot breakout (chroot into a subdirectory, climb out with "..",
 *       chroot "."), then prints "escaped" when PATH exists there, else "contained".
 *   syscall_probe list
 *       Prints the call names `expect` knows.
 *
 * Every argument is chosen so that the call does no harm, and cannot hang, even where the
 * policy ALLOWS it: reboot gets a bad magic, swapon a path that does not exist, mount an
 * unknown filesystem type, umount2 an invalid flag, ptrace PTRACE_SEIZE (the tracee is
 * never stopped) and so on. Calls that really succeed when allowed (unshare, clone, clone3
 * with CLONE_NEWUSER, keyctl, userfaultfd) do it in the child, which then exits. Each
 * child has an alarm, so a call that blocks shows as SIGALRM.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/perf_event.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef CLONE_NEWUSER
#define CLONE_NEWUSER 0x10000000
#endif
#ifndef UFFD_USER_MODE_ONLY
#define UFFD_USER_MODE_ONLY 1
#endif

/* Syscall numbers newer than some libc headers (the same on every architecture). */
#ifndef SYS_clone3
#define SYS_clone3 435
#endif
#ifndef SYS_open_tree
#define SYS_open_tree 428
#endif
#ifndef SYS_move_mount
#define SYS_move_mount 429
#endif
#ifndef SYS_fsopen
#define SYS_fsopen 430
#endif
#ifndef SYS_io_uring_setup
#define SYS_io_uring_setup 425
#endif
#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_getfd
#define SYS_pidfd_getfd 438
#endif
#ifndef SYS_memfd_secret
#define SYS_memfd_secret 447
#endif
#ifndef SYS_process_mrelease
#define SYS_process_mrelease 448
#endif
#ifndef SYS_cachestat
#define SYS_cachestat 451
#endif
#ifndef SYS_statmount
#define SYS_statmount 457
#endif
#ifndef SYS_listmount
#define SYS_listmount 458
#endif

static const char *const errno_names[] = {
    [EPERM] = "EPERM",     [ENOENT] = "ENOENT",   [ESRCH] = "ESRCH",     [EINTR] = "EINTR",
    [EIO] = "EIO",         [ENXIO] = "ENXIO",     [E2BIG] = "E2BIG",     [ENOEXEC] = "ENOEXEC",
    [EBADF] = "EBADF",     [ECHILD] = "ECHILD",   [EAGAIN] = "EAGAIN",   [ENOMEM] = "ENOMEM",
    [EACCES] = "EACCES",   [EFAULT] = "EFAULT",   [ENOTBLK] = "ENOTBLK", [EBUSY] = "EBUSY",
    [EEXIST] = "EEXIST",   [EXDEV] = "EXDEV",     [ENODEV] = "ENODEV",   [ENOTDIR] = "ENOTDIR",
    [EISDIR] = "EISDIR",   [EINVAL] = "EINVAL",   [ENFILE] = "ENFILE",   [EMFILE] = "EMFILE",
    [ENOTTY] = "ENOTTY",   [EFBIG] = "EFBIG",     [ENOSPC] = "ENOSPC",   [ESPIPE] = "ESPIPE",
    [EROFS] = "EROFS",     [EMLINK] = "EMLINK",   [EPIPE] = "EPIPE",     [ERANGE] = "ERANGE",
    [ENAMETOOLONG] = "ENAMETOOLONG",              [ENOSYS] = "ENOSYS",   [ELOOP] = "ELOOP",
    [ENOTEMPTY] = "ENOTEMPTY", [ENODATA] = "ENODATA", [EOVERFLOW] = "EOVERFLOW",
    [EOPNOTSUPP] = "EOPNOTSUPP", [EAFNOSUPPORT] = "EAFNOSUPPORT", [EDQUOT] = "EDQUOT",
    [ENOKEY] = "ENOKEY",   [EKEYREVOKED] = "EKEYREVOKED", [EKEYREJECTED] = "EKEYREJECTED",
    [EKEYEXPIRED] = "EKEYEXPIRED", [EUSERS] = "EUSERS",
};

static const char *errno_name(int e, char *buf, size_t size) {
  if (e == 0) return "OK";
  if (e > 0 && (size_t)e < sizeof errno_names / sizeof *errno_names && errno_names[e])
    return errno_names[e];
  snprintf(buf, size, "E%d", e);
  return buf;
}

/* An errno name or number; -1 when unknown. */
static int parse_errno(const char *s) {
  if (strcmp(s, "OK") == 0 || strcmp(s, "0") == 0) return 0;
  for (size_t i = 1; i < sizeof errno_names / sizeof *errno_names; ++i)
    if (errno_names[i] && strcmp(errno_names[i], s) == 0) return (int)i;
  if (s[0] == 'E' && s[1] >= '0' && s[1] <= '9') return atoi(s + 1);
  if (s[0] >= '0' && s[0] <= '9') return atoi(s);
  return -1;
}

/* ---- the calls ---------------------------------------------------------------------- */

/* Each returns the raw result (>= 0 success, -1 with errno set). `arg` is the text after
 * "NAME:" or NULL. A call that creates a process (clone, clone3) makes the new process
 * exit at once. */
typedef long (*call_fn)(const char *arg);

static long finish_fork(long r) {
  if (r == 0) _exit(0); /* the new process: nothing to do */
  if (r > 0) waitpid((pid_t)r, NULL, __WALL);
  return r;
}

static long c_kexec_load(const char *a) {
  (void)a; /* no segments, invalid flags: EINVAL even for the machine's root */
  return syscall(SYS_kexec_load, 0UL, 0UL, NULL, 0xdead0000UL);
}
#ifdef SYS_kexec_file_load
static long c_kexec_file_load(const char *a) {
  (void)a;
  return syscall(SYS_kexec_file_load, -1, -1, 0UL, NULL, 0xdead0000UL);
}
#endif
static long c_init_module(const char *a) {
  (void)a; /* an empty image is no module */
  return syscall(SYS_init_module, NULL, 0UL, "");
}
static long c_finit_module(const char *a) {
  (void)a;
  return syscall(SYS_finit_module, -1, "", 0);
}
static long c_delete_module(const char *a) {
  (void)a;
  return syscall(SYS_delete_module, "cairn_probe_no_such_module", O_NONBLOCK);
}
static long c_bpf(const char *a) {
  (void)a; /* BPF_MAP_CREATE of a one-entry array: an fd that goes with the child */
  union {
    struct { uint32_t map_type, key_size, value_size, max_entries; } create;
    char pad[128];
  } attr;
  memset(&attr, 0, sizeof attr);
  attr.create.map_type = 2; /* BPF_MAP_TYPE_ARRAY */
  attr.create.key_size = 4;
  attr.create.value_size = 4;
  attr.create.max_entries = 1;
  return syscall(SYS_bpf, 0 /* BPF_MAP_CREATE */, &attr, sizeof attr);
}
static long c_perf_event_open(const char *a) {
  (void)a; /* a software counter of this process only */
  struct perf_event_attr attr;
  memset(&attr, 0, sizeof attr);
  attr.type = PERF_TYPE_SOFTWARE;
  attr.size = sizeof attr;
  attr.config = PERF_COUNT_SW_TASK_CLOCK;
  attr.disabled = 1;
  attr.exclude_kernel = 1;
  attr.exclude_hv = 1;
  return syscall(SYS_perf_event_open, &attr, 0, -1, -1, 0UL);
}
static long c_keyctl(const char *a) {
  (void)a; /* KEYCTL_GET_KEYRING_ID of the user keyring, without creating it */
  return syscall(SYS_keyctl, 0 /* KEYCTL_GET_KEYRING_ID */, -4 /* KEY_SPEC_USER_KEYRING */, 0);
}
static long c_add_key(const char *a) {
  (void)a; /* into the process keyring, which ends with the child */
  return syscall(SYS_add_key, "user", "cairn-probe", "x", 1UL, -2 /* KEY_SPEC_PROCESS_KEYRING */);
}
static long c_request_key(const char *a) {
  (void)a; /* no callout: ENOKEY where allowed */
  return syscall(SYS_request_key, "user", "cairn-probe-no-such-key", NULL, 0);
}
static long c_userfaultfd(const char *a) {
  (void)a;
  return syscall(SYS_userfaultfd, O_CLOEXEC | UFFD_USER_MODE_ONLY);
}
static long c_io_uring_setup(const char *a) {
  (void)a; /* zero entries: EINVAL where allowed */
  char params[120];
  memset(params, 0, sizeof params);
  return syscall(SYS_io_uring_setup, 0, params);
}
static long c_swapon(const char *a) {
  (void)a;
  return syscall(SYS_swapon, "/nonexistent/cairn-probe-swap", 0);
}
static long c_swapoff(const char *a) {
  (void)a;
  return syscall(SYS_swapoff, "/nonexistent/cairn-probe-swap");
}
static long c_reboot(const char *a) {
  (void)a; /* wrong magic numbers: EINVAL even for the machine's root */
  return syscall(SYS_reboot, 0, 0, 0x01234567, NULL);
}
static long c_acct(const char *a) {
  (void)a;
  return syscall(SYS_acct, "/nonexistent/cairn-probe-acct");
}
static long c_syslog(const char *a) {
  (void)a; /* SYSLOG_ACTION_SIZE_BUFFER: a read */
  return syscall(SYS_syslog, 10, NULL, 0);
}
static long c_settimeofday(const char *a) {
  (void)a; /* neither time nor zone: changes nothing */
  return syscall(SYS_settimeofday, NULL, NULL);
}
static long c_clock_settime(const char *a) {
  (void)a; /* NULL time: EFAULT where allowed */
  return syscall(SYS_clock_settime, 0 /* CLOCK_REALTIME */, NULL);
}
static long c_adjtimex(const char *a) {
  (void)a; /* modes 0: a read of the clock's state */
  char timex[256];
  memset(timex, 0, sizeof timex);
  return syscall(SYS_adjtimex, timex);
}
static long c_clock_adjtime(const char *a) {
  (void)a;
  char timex[256];
  memset(timex, 0, sizeof timex);
  return syscall(SYS_clock_adjtime, 0 /* CLOCK_REALTIME */, timex);
}
static long c_mount(const char *a) {
  (void)a; /* a source that does not exist, a filesystem type that does not exist */
  return syscall(SYS_mount, "/nonexistent/cairn-probe-src", "/nonexistent/cairn-probe-dst",
                 "cairn-probe-no-such-fs", 0UL, NULL);
}
static long c_mount_tmpfs_root(const char *a) {
  (void)a; /* the real attempt: a tmpfs over the sandbox's root */
  return syscall(SYS_mount, "none", "/", "tmpfs", 0UL, NULL);
}
static long c_umount2(const char *a) {
  (void)a; /* an invalid flag: EINVAL before anything else */
  return syscall(SYS_umount2, "/nonexistent/cairn-probe", 0x80000000);
}
static long c_umount2_root(const char *a) {
  (void)a; /* the real attempt: detach the sandbox's root (the child alone sees the effect) */
  return syscall(SYS_umount2, "/", 2 /* MNT_DETACH */);
}
static long c_pivot_root(const char *a) {
  (void)a;
  return syscall(SYS_pivot_root, "/nonexistent/cairn-probe-a", "/nonexistent/cairn-probe-b");
}
static long c_open_tree(const char *a) {
  (void)a; /* a clone of the root's mount: an fd that goes with the child */
  return syscall(SYS_open_tree, AT_FDCWD, "/", 1 /* OPEN_TREE_CLONE */ | O_CLOEXEC);
}
static long c_move_mount(const char *a) {
  (void)a;
  return syscall(SYS_move_mount, -1, "", -1, "", 0);
}
static long c_fsopen(const char *a) {
  (void)a;
  return syscall(SYS_fsopen, "tmpfs", 1 /* FSOPEN_CLOEXEC */);
}
static long c_setns(const char *a) {
  (void)a; /* no descriptor: EBADF where allowed */
  return syscall(SYS_setns, -1, 0);
}
static long c_setns_init(const char *a) {
  (void)a; /* the real attempt: pid 1's mount namespace */
  const int fd = open("/proc/1/ns/mnt", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  return syscall(SYS_setns, fd, 0);
}
static long c_open_by_handle_at(const char *a) {
  (void)a; /* a handle for inode 2 of the filesystem of "/" ('shocker') */
  struct {
    unsigned int handle_bytes;
    int handle_type;
    unsigned char f_handle[8];
  } h = {8, 1 /* FILEID_INO32_GEN */, {2, 0, 0, 0, 0, 0, 0, 0}};
  const int root = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  return syscall(SYS_open_by_handle_at, root, &h, O_RDONLY | O_CLOEXEC);
}
#if defined(__x86_64__) || defined(__i386__)
static long c_iopl(const char *a) {
  (void)a; /* level 0: lowering to what every process has */
  return syscall(SYS_iopl, 0);
}
static long c_ioperm(const char *a) {
  (void)a; /* zero ports: EINVAL */
  return syscall(SYS_ioperm, 0UL, 0UL, 0);
}
static long c_modify_ldt(const char *a) {
  (void)a; /* read the (empty) LDT */
  char buf[16];
  return syscall(SYS_modify_ldt, 0, buf, sizeof buf);
}
#endif
static long c_fanotify_init(const char *a) {
  (void)a;
  return syscall(SYS_fanotify_init, 0, O_RDONLY);
}
static long c_unshare(const char *a) {
  (void)a; /* really: the child alone enters the new namespace */
  return syscall(SYS_unshare, CLONE_NEWUSER);
}
static long c_unshare_mnt(const char *a) {
  (void)a; /* a namespace other than a user namespace: allowed by the filter */
  return syscall(SYS_unshare, CLONE_NEWNS);
}
static long c_clone(const char *a) {
  (void)a; /* fork-like clone into a new user namespace */
  return finish_fork(syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, 0UL, NULL, NULL, 0UL));
}
static long c_clone_plain(const char *a) {
  (void)a; /* a plain fork by clone: allowed */
  return finish_fork(syscall(SYS_clone, SIGCHLD, 0UL, NULL, NULL, 0UL));
}
static long c_clone3(const char *a) {
  (void)a; /* clone3 into a new user namespace (flags in memory, out of the filter's sight) */
  uint64_t args[11];
  memset(args, 0, sizeof args);
  args[0] = CLONE_NEWUSER; /* flags */
  args[4] = SIGCHLD;       /* exit_signal */
  return finish_fork(syscall(SYS_clone3, args, 64UL /* CLONE_ARGS_SIZE_VER0 */));
}
static long c_clone3_plain(const char *a) {
  (void)a;
  uint64_t args[11];
  memset(args, 0, sizeof args);
  args[4] = SIGCHLD;
  return finish_fork(syscall(SYS_clone3, args, 64UL));
}
static long c_nr(const char *a) {
  /* a raw number, all arguments zero: for numbers no kernel knows */
  if (!a) { errno = EINVAL; return -1; }
  return syscall(strtol(a, NULL, 0), 0UL, 0UL, 0UL, 0UL, 0UL, 0UL);
}
/* Calls the kernel has but the policy table does not list: ENOSYS from the filter. */
static long c_cachestat(const char *a) {
  (void)a;
  return syscall(SYS_cachestat, -1, NULL, NULL, 0);
}
static long c_process_mrelease(const char *a) {
  (void)a;
  return syscall(SYS_process_mrelease, -1, 0);
}
static long c_listmount(const char *a) {
  (void)a;
  return syscall(SYS_listmount, NULL, NULL, 0UL, 0U);
}
static long c_statmount(const char *a) {
  (void)a;
  return syscall(SYS_statmount, NULL, NULL, 0UL, 0U);
}
static long c_memfd_secret(const char *a) {
  (void)a; /* invalid flags: EINVAL where allowed */
  return syscall(SYS_memfd_secret, ~0U);
}
/* Other processes. ARG is a pid (as the caller sees it: a host pid is not one inside). */
static long c_ptrace(const char *a) {
  /* PTRACE_SEIZE never stops the tracee; the child's exit detaches */
  if (!a) { errno = EINVAL; return -1; }
  return syscall(SYS_ptrace, 0x4206 /* PTRACE_SEIZE */, atol(a), NULL, NULL);
}
static long c_kill0(const char *a) {
  if (!a) { errno = EINVAL; return -1; }
  return syscall(SYS_kill, atol(a), 0);
}
static long c_pidfd_open(const char *a) {
  if (!a) { errno = EINVAL; return -1; }
  return syscall(SYS_pidfd_open, atol(a), 0);
}
static long c_process_vm_readv(const char *a) {
  if (!a) { errno = EINVAL; return -1; }
  char local[1];
  struct { void *base; size_t len; } l = {local, 1}, r = {(void *)0x400000, 1};
  return syscall(SYS_process_vm_readv, atol(a), &l, 1UL, &r, 1UL, 0UL);
}
/* Root emulation: ARG is a uid, or a path for chown. */
static long c_setuid(const char *a) {
  return syscall(SYS_setuid, a ? atol(a) : 1234);
}
static long c_setgid(const char *a) {
  return syscall(SYS_setgid, a ? atol(a) : 1234);
}
static long c_chown(const char *a) {
  if (!a) { errno = EINVAL; return -1; }
  return syscall(SYS_fchownat, AT_FDCWD, a, 1234, 1234, 0);
}
static long c_mknod_dev(const char *a) {
  /* a character device (1:3, /dev/null's number) at ARG: supervised (recorded), never real */
  if (!a) { errno = EINVAL; return -1; }
  return syscall(SYS_mknodat, AT_FDCWD, a, S_IFCHR | 0600, (unsigned long)((1 << 8) | 3));
}

#if defined(__x86_64__)
/* The 32-bit system call entry (int $0x80) from a 64-bit process: the filter must treat
 * these as the i386 architecture. Numbers are i386's. Arguments are 32-bit: only small
 * numbers and NULL. */
static long int80(long nr, long a1, long a2, long a3) {
  long ret;
  __asm__ volatile("int $0x80" : "=a"(ret) : "a"(nr), "b"(a1), "c"(a2), "d"(a3)
                   : "memory", "r8", "r9", "r10", "r11");
  if (ret < 0 && ret > -4096) { errno = (int)-ret; return -1; }
  return ret;
}
static long c_i386_getpid(const char *a) { (void)a; return int80(20, 0, 0, 0); }
static long c_i386_unshare(const char *a) { (void)a; return int80(310, CLONE_NEWUSER, 0, 0); }
static long c_i386_mount(const char *a) { (void)a; return int80(21, 0, 0, 0); }
static long c_i386_reboot(const char *a) { (void)a; return int80(88, 0, 0, 0x01234567); }
static long c_i386_keyctl(const char *a) { (void)a; return int80(288, 0, -4, 0); }
static long c_i386_setns(const char *a) { (void)a; return int80(346, -1, 0, 0); }
static long c_i386_clone3(const char *a) { (void)a; return int80(435, 0, 0, 0); }
static long c_i386_unknown(const char *a) { (void)a; return int80(1000, 0, 0, 0); }
/* The x32 ABI: the 64-bit entry with bit 30 set in the number (x32 unshare = 272). An
 * old hole in seccomp filters: they must not let it through as the 64-bit call. */
static long c_x32_unshare(const char *a) {
  (void)a;
  return syscall(0x40000000L | 272, CLONE_NEWUSER);
}
static long c_x32_keyctl(const char *a) {
  (void)a;
  return syscall(0x40000000L | 250, 0, -4, 0);
}
#endif

struct call {
  const char *name;
  call_fn fn;
};

static const struct call calls[] = {
    {"kexec_load", c_kexec_load},
#ifdef SYS_kexec_file_load
    {"kexec_file_load", c_kexec_file_load},
#endif
    {"init_module", c_init_module},
    {"finit_module", c_finit_module},
    {"delete_module", c_delete_module},
    {"bpf", c_bpf},
    {"perf_event_open", c_perf_event_open},
    {"keyctl", c_keyctl},
    {"add_key", c_add_key},
    {"request_key", c_request_key},
    {"userfaultfd", c_userfaultfd},
    {"io_uring_setup", c_io_uring_setup},
    {"swapon", c_swapon},
    {"swapoff", c_swapoff},
    {"reboot", c_reboot},
    {"acct", c_acct},
    {"syslog", c_syslog},
    {"settimeofday", c_settimeofday},
    {"clock_settime", c_clock_settime},
    {"adjtimex", c_adjtimex},
    {"clock_adjtime", c_clock_adjtime},
    {"mount", c_mount},
    {"mount_tmpfs_root", c_mount_tmpfs_root},
    {"umount2", c_umount2},
    {"umount2_root", c_umount2_root},
    {"pivot_root", c_pivot_root},
    {"open_tree", c_open_tree},
    {"move_mount", c_move_mount},
    {"fsopen", c_fsopen},
    {"setns", c_setns},
    {"setns_init", c_setns_init},
    {"open_by_handle_at", c_open_by_handle_at},
#if defined(__x86_64__) || defined(__i386__)
    {"iopl", c_iopl},
    {"ioperm", c_ioperm},
    {"modify_ldt", c_modify_ldt},
#endif
    {"fanotify_init", c_fanotify_init},
    {"unshare", c_unshare},
    {"unshare_mnt", c_unshare_mnt},
    {"clone", c_clone},
    {"clone_plain", c_clone_plain},
    {"clone3", c_clone3},
    {"clone3_plain", c_clone3_plain},
    {"nr", c_nr},
    {"cachestat", c_cachestat},
    {"process_mrelease", c_process_mrelease},
    {"listmount", c_listmount},
    {"statmount", c_statmount},
    {"memfd_secret", c_memfd_secret},
    {"ptrace", c_ptrace},
    {"kill0", c_kill0},
    {"pidfd_open", c_pidfd_open},
    {"process_vm_readv", c_process_vm_readv},
    {"setuid", c_setuid},
    {"setgid", c_setgid},
    {"chown", c_chown},
    {"mknod_dev", c_mknod_dev},
#if defined(__x86_64__)
    {"i386_getpid", c_i386_getpid},
    {"i386_unshare", c_i386_unshare},
    {"i386_mount", c_i386_mount},
    {"i386_reboot", c_i386_reboot},
    {"i386_keyctl", c_i386_keyctl},
    {"i386_setns", c_i386_setns},
    {"i386_clone3", c_i386_clone3},
    {"i386_unknown", c_i386_unknown},
    {"x32_unshare", c_x32_unshare},
    {"x32_keyctl", c_x32_keyctl},
#endif
};

static const struct call *find_call(const char *name, size_t length) {
  for (size_t i = 0; i < sizeof calls / sizeof *calls; ++i)
    if (strlen(calls[i].name) == length && strncmp(calls[i].name, name, length) == 0)
      return &calls[i];
  return NULL;
}

/* What a child reports: the errno (0 on success). */
struct outcome {
  int error;  /* errno, 0 for success */
  int signal; /* the child died of this signal before it could say */
};

static struct outcome try_call(const struct call *c, const char *arg) {
  struct outcome o = {0, 0};
  int pipefd[2];
  if (pipe2(pipefd, O_CLOEXEC) != 0) {
    perror("syscall_probe: pipe");
    exit(2);
  }
  fflush(stdout);
  const pid_t pid = fork();
  if (pid < 0) {
    perror("syscall_probe: fork");
    exit(2);
  }
  if (pid == 0) {
    close(pipefd[0]);
    alarm(5);
    errno = 0;
    const long r = c->fn(arg);
    const int error = r < 0 ? (errno ? errno : EIO) : 0;
    (void)!write(pipefd[1], &error, sizeof error);
    _exit(0);
  }
  close(pipefd[1]);
  int error = 0;
  const ssize_t n = read(pipefd[0], &error, sizeof error);
  close(pipefd[0]);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (n == (ssize_t)sizeof error) o.error = error;
  else if (WIFSIGNALED(status)) o.signal = WTERMSIG(status);
  else o.signal = -1; /* exited without a word */
  return o;
}

static const char *signal_name(int sig, char *buf, size_t size) {
  switch (sig) {
    case SIGSYS: return "SIGSYS";
    case SIGSEGV: return "SIGSEGV";
    case SIGALRM: return "SIGALRM";
    case SIGKILL: return "SIGKILL";
    case SIGILL: return "SIGILL";
    case SIGBUS: return "SIGBUS";
    case SIGABRT: return "SIGABRT";
    case -1: return "NOREPORT";
  }
  snprintf(buf, size, "SIG%d", sig);
  return buf;
}

static int expect_main(int argc, char **argv) {
  int failed = 0;
  for (int i = 0; i < argc; ++i) {
    char *spec = argv[i];
    char *eq = strrchr(spec, '=');
    if (!eq) {
      fprintf(stderr, "syscall_probe: %s: expected NAME[:ARG]=WANT\n", spec);
      return 2;
    }
    *eq = '\0';
    const char *want = eq + 1;
    const char *colon = strchr(spec, ':');
    const size_t name_length = colon ? (size_t)(colon - spec) : strlen(spec);
    const char *arg = colon ? colon + 1 : NULL;
    const struct call *c = find_call(spec, name_length);
    if (!c) {
      fprintf(stderr, "syscall_probe: unknown call %.*s (syscall_probe list)\n", (int)name_length, spec);
      return 2;
    }
    int negate = 0, want_errno = -1;
    const char *want_text = want;
    if (want[0] == '!') {
      negate = 1;
      want_text = want + 1;
    }
    const int any = strcmp(want_text, "any") == 0, any_failure = strcmp(want_text, "fail") == 0;
    if (!any && !any_failure) {
      want_errno = parse_errno(want_text);
      if (want_errno < 0) {
        fprintf(stderr, "syscall_probe: %s: unknown errno %s\n", spec, want_text);
        return 2;
      }
    }
    const struct outcome o = try_call(c, arg);
    char got_buf[32];
    const char *got = o.signal ? signal_name(o.signal, got_buf, sizeof got_buf)
                               : errno_name(o.error, got_buf, sizeof got_buf);
    int match;
    if (any) match = 1;
    else if (any_failure) match = o.signal != 0 || o.error != 0;
    else match = o.signal == 0 && o.error == want_errno;
    if (negate && !any) match = !match;
    printf("%s got %s want %s %s\n", spec, got, want, match ? "ok" : "FAIL");
    if (!match) failed = 1;
  }
  fflush(stdout);
  return failed;
}

static int fds_main(void) {
  DIR *d = opendir("/proc/self/fd");
  if (!d) {
    perror("syscall_probe: /proc/self/fd");
    return 2;
  }
  const int own = dirfd(d);
  struct dirent *e;
  while ((e = readdir(d))) {
    if (e->d_name[0] == '.') continue;
    const int fd = atoi(e->d_name);
    if (fd == own) continue;
    char link[64], target[4096];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    const ssize_t n = readlink(link, target, sizeof target - 1);
    target[n < 0 ? 0 : n] = '\0';
    printf("%d -> %s\n", fd, target);
  }
  closedir(d);
  return 0;
}

static int chroot_escape_main(const char *path) {
  /* Needs CAP_SYS_CHROOT (kept in the sandbox). A directory of our own to chroot into. */
  char dir[64];
  snprintf(dir, sizeof dir, "/tmp/.cairn-probe-chroot-%d", (int)getpid());
  if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
    perror("syscall_probe: mkdir");
    return 2;
  }
  const int keep = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (chroot(dir) != 0) {
    perror("syscall_probe: chroot");
    rmdir(dir);
    return 2;
  }
  /* The cwd is still outside the new root: climb as far as ".." goes, then make it the
   * root. */
  if (fchdir(keep) != 0) return 2;
  for (int i = 0; i < 256; ++i)
    if (chdir("..") != 0) break;
  if (chroot(".") != 0) {
    perror("syscall_probe: chroot .");
    return 2;
  }
  struct stat st;
  const int seen = stat(path, &st) == 0;
  printf("%s\n", seen ? "escaped" : "contained");
  rmdir(dir); /* where the breakout failed, the directory is our root: it stays */
  return 0;
}

int main(int argc, char **argv) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  if (argc >= 2 && strcmp(argv[1], "expect") == 0) return expect_main(argc - 2, argv + 2);
  if (argc == 2 && strcmp(argv[1], "fds") == 0) return fds_main();
  if (argc == 3 && strcmp(argv[1], "chroot-escape") == 0) return chroot_escape_main(argv[2]);
  if (argc == 2 && strcmp(argv[1], "list") == 0) {
    for (size_t i = 0; i < sizeof calls / sizeof *calls; ++i) printf("%s\n", calls[i].name);
    return 0;
  }
  fprintf(stderr,
          "usage: syscall_probe expect NAME[:ARG]=WANT...\n"
          "       syscall_probe fds\n"
          "       syscall_probe chroot-escape PATH\n"
          "       syscall_probe list\n"
          "WANT: an errno name or number, OK, !WANT, fail or any\n");
  return 2;
}
