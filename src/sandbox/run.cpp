// The parent's side of a sandbox run: prepare the plan, clone into the new namespaces,
// take over the seccomp listener, forward signals, wait, and explain failures.
#include <fcntl.h>
#include <linux/sched.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <thread>

#include "cairn/base/error.hpp"
#include "cairn/base/sys.hpp"
#include "cairn/base/timer.hpp"
#include "cairn/sandbox/seccomp.hpp"
#include "internal.hpp"
#include "supervisor.hpp"

namespace cairn::sandbox {
namespace {

constexpr int kForwardedSignals[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH};

// NUL-terminated pointer arrays over strings that outlive them.
std::vector<char*> c_array(const std::vector<std::string>& strings) {
  std::vector<char*> out;
  for (const std::string& s : strings) out.push_back(const_cast<char*>(s.c_str()));
  out.push_back(nullptr);
  return out;
}

std::string path_of(const std::vector<std::string>& env) {
  for (const std::string& e : env)
    if (e.rfind("PATH=", 0) == 0) return e.substr(5);
  return std::string(kDefaultPath);
}

void write_runtime_files(const Spec& spec) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::create_directories(spec.runtime_dir, ec);
  if (ec) throw_errno("mkdir", spec.runtime_dir.string(), ec.value());
  std::string host_resolv;
  try {
    host_resolv = sys::read_file("/etc/resolv.conf");
  } catch (const Error&) {
  }
  // Scratch files of one run: no fsync, nothing to keep after a crash.
  const auto write = [&](const char* name, const std::string& text) {
    const std::string path = (spec.runtime_dir / name).string();
    const UniqueFd fd = sys::open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    sys::write_all(fd.get(), text, path);
  };
  write("hosts", hosts_file(spec.hostname));
  write("resolv.conf", resolv_conf(host_resolv, spec.network));
  write("hostname", spec.hostname + "\n");
}

std::string describe(const ChildReport& r, const std::vector<MountOp>& ops, const Spec& spec) {
  const std::string cause = std::strerror(r.error);
  const std::string command = spec.process.argv.empty() ? "" : spec.process.argv[0];
  switch (r.step) {
    case ChildStep::mount_op:
      return (r.index >= 0 && static_cast<std::size_t>(r.index) < ops.size() ? ops[r.index].what
                                                                             : "mount") + ": " + cause;
    case ChildStep::make_private: return "making the sandbox's mounts private: " + cause;
    case ChildStep::hostname: return "setting the hostname: " + cause;
    case ChildStep::loopback: return "bringing up the loopback interface: " + cause;
    case ChildStep::pivot_root: return "pivot_root into " + spec.rootfs.string() + ": " + cause;
    case ChildStep::capabilities: return "dropping capabilities: " + cause;
    case ChildStep::no_new_privs: return "setting no_new_privs: " + cause;
    case ChildStep::seccomp: return "installing the seccomp filter: " + cause;
    case ChildStep::listener: return "handing over the seccomp listener: " + cause;
    case ChildStep::fork: return "starting the command: " + cause;
    case ChildStep::rlimit: return "setting resource limit " + std::to_string(r.index) + ": " + cause;
    case ChildStep::groups: return "setting supplementary groups: " + cause;
    case ChildStep::gid:
      return "setting gid " + std::to_string(spec.process.gid) + ": " + cause;
    case ChildStep::uid:
      return "setting uid " + std::to_string(spec.process.uid) + ": " + cause;
    case ChildStep::chdir: return "working directory " + spec.process.cwd + ": " + cause;
    case ChildStep::stdin: return "opening /dev/null for stdin: " + cause;
    case ChildStep::exec_not_found:
      return "exec: \"" + command + "\": " +
             (command.find('/') == std::string::npos ? "executable file not found in $PATH"
                                                     : "no such file or directory");
    case ChildStep::exec_denied: return "exec: \"" + command + "\": permission denied";
    case ChildStep::exec: return "exec: \"" + command + "\": " + cause;
  }
  return cause;
}

bool before_exec(ChildStep step) {
  return step != ChildStep::exec_not_found && step != ChildStep::exec_denied &&
         step != ChildStep::exec;
}

// The signals cairn forwards, blocked so that they arrive on a signalfd.
sigset_t forwarded_set() {
  sigset_t set;
  sigemptyset(&set);
  for (int sig : kForwardedSignals) sigaddset(&set, sig);
  return set;
}

struct Prepared {
  std::vector<MountOp> ops;
  std::vector<RawOp> raw_ops;
  std::vector<sock_filter> filter;
  std::vector<std::string> argv_storage, env_storage;
  std::vector<char*> argv, envp;
  std::string path;
  std::vector<RawRlimit> rlimits;
  ChildPlan plan;
};

void prepare(const Spec& spec, bool supervised, Prepared& p) {
  p.ops = plan_mounts(spec);
  for (const MountOp& op : p.ops)
    p.raw_ops.push_back({op.kind, op.source.c_str(), op.target.c_str(), op.fstype.c_str(),
                         op.flags, op.data.c_str(), op.optional});
  p.filter = cached_policy({spec.id_mode, supervised}, spec.cache_dir);
  p.argv_storage = spec.process.argv;
  p.env_storage = spec.process.env;
  p.argv = c_array(p.argv_storage);
  p.envp = c_array(p.env_storage);
  p.path = path_of(spec.process.env);
  for (const Rlimit& r : spec.process.rlimits) p.rlimits.push_back({r.resource, r.soft, r.hard});
  ChildPlan& c = p.plan;
  c.rootfs = spec.rootfs.c_str();
  c.ops = p.raw_ops.data();
  c.op_count = p.raw_ops.size();
  c.hostname = spec.hostname.empty() ? nullptr : spec.hostname.c_str();
  c.loopback = spec.network == Network::none;
  c.supervised = supervised;
  c.filter = {static_cast<unsigned short>(p.filter.size()), p.filter.data()};
  c.argv = p.argv.data();
  c.envp = p.envp.data();
  c.path = p.path.c_str();
  c.cwd = spec.process.cwd.c_str();
  c.switch_ids = spec.id_mode == IdMode::range;
  c.uid = spec.process.uid;
  c.gid = spec.process.gid;
  c.groups = spec.process.groups.data();
  c.group_count = spec.process.groups.size();
  c.stdin_open = spec.process.stdin_open;
  c.terminal = spec.process.terminal;
  c.rlimits = p.rlimits.data();
  c.rlimit_count = p.rlimits.size();
}

pid_t clone_sandbox(const Spec& spec, const ChildPlan& plan, int& pidfd) {
  clone_args args{};
  args.flags = CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWCGROUP |
               CLONE_PIDFD;
  if (spec.network == Network::none) args.flags |= CLONE_NEWNET;
  args.pidfd = reinterpret_cast<std::uint64_t>(&pidfd);
  args.exit_signal = SIGCHLD;
  const long pid = ::syscall(SYS_clone3, &args, sizeof args);
  if (pid == 0) child_main(plan);
  if (pid < 0)
    throw Error("clone", "sandbox namespaces", errno)
        .hint("run `cairn doctor`: the kernel must allow new namespaces inside a user namespace");
  return static_cast<pid_t>(pid);
}

}  // namespace

void block_forwarded_signals() {
  const sigset_t set = forwarded_set();
  ::pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

Outcome run(const Spec& spec, Recorder* recorder) {
  if (spec.process.argv.empty()) throw Error("no command to run");
  prepare_mount_points(spec);
  write_runtime_files(spec);
  const bool supervised = recorder != nullptr && spec.user_notification;
  Prepared p;
  {
    ScopedTimer timer("sandbox: compile seccomp policy");
    prepare(spec, supervised, p);
  }
  auto [report_read, report_write] = sys::pipe();
  auto [sync_read, sync_write] = sys::pipe();
  auto [ack_read, ack_write] = sys::pipe();
  p.plan.report_fd = report_write.get();
  p.plan.sync_fd = sync_write.get();
  p.plan.ack_fd = ack_read.get();
  block_forwarded_signals();
  const sigset_t forwarded = forwarded_set();
  UniqueFd signals(::signalfd(-1, &forwarded, SFD_CLOEXEC | SFD_NONBLOCK));
  if (!signals) throw_errno("signalfd", "forwarded signals", errno);

  int raw_pidfd = -1;
  clone_sandbox(spec, p.plan, raw_pidfd);
  UniqueFd pidfd(raw_pidfd);
  report_write.reset();
  sync_write.reset();
  ack_read.reset();

  std::optional<Supervisor> supervisor;
  if (supervised) {
    int listener_number = -1;
    if (::read(sync_read.get(), &listener_number, sizeof listener_number) == sizeof listener_number) {
      UniqueFd listener = with_context("taking the seccomp listener", [&] {
        return sys::pidfd_getfd(pidfd.get(), listener_number);
      });
      supervisor.emplace(std::move(listener), *recorder);
      (void)!::write(ack_write.get(), "x", 1);
    }
  }
  ack_write.reset();

  std::optional<ChildReport> report;
  int status = -1;
  bool report_open = true;
  while (status < 0) {
    pollfd fds[3] = {{pidfd.get(), POLLIN, 0}, {signals.get(), POLLIN, 0},
                     {report_open ? report_read.get() : -1, POLLIN, 0}};
    if (::poll(fds, 3, -1) < 0) {
      if (errno == EINTR) continue;
      throw_errno("poll", "sandbox", errno);
    }
    if (fds[2].revents) {
      ChildReport r{};
      const ssize_t n = ::read(report_read.get(), &r, sizeof r);
      if (n == sizeof r) report = r;
      else if (n <= 0) report_open = false;
    }
    if (fds[1].revents & POLLIN) {
      signalfd_siginfo si{};
      while (::read(signals.get(), &si, sizeof si) == sizeof si)
        ::syscall(SYS_pidfd_send_signal, pidfd.get(), si.ssi_signo, nullptr, 0);
    }
    if (fds[0].revents & POLLIN) {
      siginfo_t info{};
      if (::waitid(static_cast<idtype_t>(P_PIDFD), pidfd.get(), &info, WEXITED) != 0)
        throw_errno("waitid", "sandbox init", errno);
      status = info.si_code == CLD_EXITED ? info.si_status : 128 + info.si_status;
    }
  }
  if (report_open) {
    ChildReport r{};
    if (::read(report_read.get(), &r, sizeof r) == sizeof r) report = r;
  }
  supervisor.reset();  // joins: the listener hangs up once the sandbox is gone
  if (report && before_exec(report->step))
    throw Error("sandbox: " + describe(*report, p.ops, spec));
  Outcome outcome;
  outcome.status = status;
  if (report) outcome.error = describe(*report, p.ops, spec);
  return outcome;
}

}  // namespace cairn::sandbox
