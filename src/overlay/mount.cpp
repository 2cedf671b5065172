// Mounting the overlay: option parsing (fuse-overlayfs's syntax), validation, and the FUSE
// session that owns the mount.
#include "cairn/overlay/mount.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <future>
#include <set>
#include <thread>

#include "cairn/base/error.hpp"
#include "cairn/base/process.hpp"
#include "cairn/base/sys.hpp"
#include "fs.hpp"
#include "server_loop.hpp"

namespace cairn::overlay {
namespace {

// Splits at `separator`; "\\" + separator is the separator itself, other escapes stay as
// they are (for the next, inner split).
std::vector<std::string> split_escaped(std::string_view text, char separator) {
  std::vector<std::string> out(1);
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\\' && i + 1 < text.size()) {
      if (text[i + 1] != separator) out.back() += '\\';
      out.back() += text[++i];
    } else if (text[i] == separator) {
      out.emplace_back();
    } else {
      out.back() += text[i];
    }
  }
  return out;
}

unsigned parse_number(const std::string& key, const std::string& text) {
  if (text.empty() || text.find_first_not_of("0123456789") != std::string::npos || text.size() > 10)
    throw Error("option " + key + "=" + text + ": expected a number");
  const unsigned long value = std::stoul(text);
  if (value > 0xFFFFFFFFul) throw Error("option " + key + "=" + text + ": out of range");
  return static_cast<unsigned>(value);
}

// "IN:OUT:COUNT[:IN:OUT:COUNT...]"
std::vector<IdRange> parse_mapping(const std::string& key, const std::string& text) {
  const auto parts = split_escaped(text, ':');
  if (parts.size() % 3 != 0)
    throw Error("option " + key + "=" + text + ": expected IN:OUT:COUNT triples");
  std::vector<IdRange> out;
  for (std::size_t i = 0; i < parts.size(); i += 3)
    out.push_back({parse_number(key, parts[i]), parse_number(key, parts[i + 1]),
                   parse_number(key, parts[i + 2])});
  return out;
}

// Options that change nothing here: generic mount flags mount.fuse3 and podman pass, and
// fuse-overlayfs tunables whose effect cairn has anyway or does not need.
const std::set<std::string, std::less<>> kAccepted = {
    "rw",      "dev",         "nodev",      "suid",           "nosuid",      "exec",
    "noexec",  "atime",       "noatime",    "relatime",       "strictatime", "nodiratime",
    "diratime", "default_permissions", "fsync", "volatile",   "noacl",       "async",
    "sync",    "context",     "fscontext",  "defcontext",     "rootcontext", "xattr_permissions",
    "threaded", "fast_ino",   "static_nlink", "writeback",    "timeout",     "redirect_dir",
    "index",   "metacopy",    "userxattr",  "noxattrs",       "auto_unmount"};

}  // namespace

ParsedOptions parse_overlayfs_options(const std::vector<std::string>& option_strings) {
  ParsedOptions parsed;
  MountOptions& o = parsed.options;
  bool cairn_format = false;
  for (const std::string& group : option_strings) {
    for (const std::string& option : split_escaped(group, ',')) {
      if (option.empty()) continue;
      const std::size_t eq = option.find('=');
      const std::string key = option.substr(0, eq);
      const std::string value = eq == std::string::npos ? "" : option.substr(eq + 1);
      if (key == "lowerdir") {
        o.lowers.clear();
        // fuse-overlayfs splits on ':' with "\:" for a colon inside a path.
        for (std::string& dir : split_escaped(value, ':'))
          if (!dir.empty()) o.lowers.push_back({dir, Format::kernel});
      } else if (key == "upperdir") {
        o.upper = LayerSource{value, Format::kernel};
      } else if (key == "workdir") {
        o.workdir = value;
      } else if (key == "squash_to_root") {
        o.squash_uid = 0;
        o.squash_gid = 0;
      } else if (key == "squash_to_uid") {
        o.squash_uid = parse_number(key, value);
      } else if (key == "squash_to_gid") {
        o.squash_gid = parse_number(key, value);
      } else if (key == "uidmapping") {
        o.uid_map = parse_mapping(key, value);
      } else if (key == "gidmapping") {
        o.gid_map = parse_mapping(key, value);
      } else if (key == "ro") {
        o.read_only = true;
      } else if (key == "debug") {
        o.debug = true;
      } else if (key == "allow_other" || key == "allow_root") {
        o.allow_other = true;
      } else if (key == "fsname") {
        o.fsname = value;
      } else if (key == "cairn_format") {
        cairn_format = true;
      } else if (key == "max_threads") {
        o.max_threads = std::max(1u, parse_number(key, value));
      } else if (key == "spin_us") {
        o.spin_us = parse_number(key, value);
      } else if (kAccepted.count(key) == 0) {
        parsed.warnings.push_back("unknown option " + option + " ignored");
      }
    }
  }
  if (cairn_format) {
    for (auto& l : o.lowers) l.format = Format::cairn;
    if (o.upper) o.upper->format = Format::cairn;
  }
  return parsed;
}

void validate(const MountOptions& o) {
  if (o.lowers.empty())
    throw Error("overlay: no layers").hint("give lowerdir=DIR[:DIR...]");
  if (o.upper && o.upper->format == Format::kernel && o.workdir.empty() && !o.read_only)
    throw Error("overlay: upperdir " + o.upper->path.string() + " needs a workdir")
        .hint("add workdir=DIR on the same filesystem as the upper directory");
  if (o.upper && !o.workdir.empty()) {
    struct stat upper, work;
    if (::stat(o.upper->path.c_str(), &upper) != 0)
      throw_errno("stat upperdir", o.upper->path.string(), errno);
    if (::stat(o.workdir.c_str(), &work) != 0) throw_errno("stat workdir", o.workdir.string(), errno);
    if (upper.st_dev != work.st_dev)
      throw Error("overlay: workdir " + o.workdir.string() +
                  " is not on the filesystem of upperdir " + o.upper->path.string());
  }
}

struct Mount::Impl {
  std::unique_ptr<Filesystem> fs;
  fuse_session* session = nullptr;
  bool mounted = false;
  unsigned threads = 8;
  unsigned spin_us = 0;
  UniqueFd watchdog;  // the write end of the unmount watchdog's pipe
  std::filesystem::path mountpoint;
  bool signal_handlers = false;
  std::thread server;
  int server_status = 0;

  ~Impl() {
    if (session == nullptr) return;
    if (signal_handlers) fuse_remove_signal_handlers(session);
    if (mounted) fuse_session_unmount(session);
    fuse_session_destroy(session);
  }
};

namespace {

std::string mount_options(const MountOptions& o) {
  std::string out = "default_permissions,fsname=" + o.fsname + ",subtype=cairn-overlayfs";
  if (::geteuid() == 0 || o.allow_other) out += ",allow_other";
  if (o.read_only) out += ",ro";
  return out;
}

// Without privilege the mount goes through fusermount3, and a killed server would leave a
// dead mount behind (fusermount3's own auto_unmount watchdog cannot open a mount without
// allow_other, so it never unmounts). This watchdog holds the read end of a pipe whose
// write end only the server has: at EOF (the server is gone, however it ended) it becomes
// `fusermount3 -u -z MOUNTPOINT`, which fails quietly if the server unmounted already.
// It keeps no other descriptor: a copy of /dev/fuse would keep the dead connection alive.
void start_unmount_watchdog(const std::filesystem::path& mountpoint, UniqueFd& keep_open) {
  auto [read_end, write_end] = sys::pipe();
  const std::string target = mountpoint.string();
  const char* argv[] = {"fusermount3", "-u", "-z", "-q", target.c_str(), nullptr};
  const pid_t pid = ::fork();
  if (pid < 0) throw_errno("fork", "unmount watchdog", errno);
  if (pid == 0) {
    // The child: no allocation from here on.
    ::setsid();
    ::signal(SIGINT, SIG_IGN);
    ::signal(SIGTERM, SIG_IGN);
    ::signal(SIGHUP, SIG_IGN);
    ::dup2(read_end.get(), STDIN_FILENO);
    const int null = ::open("/dev/null", O_RDWR);
    ::dup2(null, STDOUT_FILENO);
    ::dup2(null, STDERR_FILENO);
    ::close_range(3, ~0U, 0);
    char byte;
    while (::read(STDIN_FILENO, &byte, 1) != 0 && errno == EINTR) {
    }
    ::execvp("fusermount3", const_cast<char* const*>(argv));
    ::_exit(127);
  }
  // Nobody waits for it: it is reparented when it outlives us, which is its purpose.
  keep_open = std::move(write_end);
}

}  // namespace

Mount::Mount(MountOptions options, const std::filesystem::path& mountpoint)
    : impl_(std::make_unique<Impl>()) {
  validate(options);
  const std::string fuse_options = mount_options(options);
  const bool debug = options.debug;
  impl_->threads = std::max(1u, options.max_threads);
  impl_->spin_us = options.spin_us;
  impl_->fs = std::make_unique<Filesystem>(std::move(options));
  std::vector<std::string> args = {"cairn-overlayfs", "-o", fuse_options};
  if (debug) args.push_back("-d");
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  fuse_args fargs = FUSE_ARGS_INIT(static_cast<int>(argv.size()), argv.data());
  const auto& ops = Filesystem::operations();
  impl_->session = fuse_session_new(&fargs, &ops, sizeof ops, impl_->fs.get());
  if (impl_->session == nullptr) throw Error("overlay: creating the FUSE session failed");
  impl_->fs->set_session(impl_->session);
  if (fuse_session_mount(impl_->session, mountpoint.c_str()) != 0) {
    const int error = errno != 0 ? errno : EPERM;
    throw Error("mount overlay", mountpoint.string(), error)
        .hint("the user needs read-write access to /dev/fuse and, outside a user "
                   "namespace, fusermount3 (package fuse3)");
  }
  impl_->mounted = true;
  impl_->mountpoint = mountpoint;
  if (::geteuid() != 0) start_unmount_watchdog(mountpoint, impl_->watchdog);
}

Mount::Mount(Mount&&) noexcept = default;
Mount& Mount::operator=(Mount&&) noexcept = default;
Mount::~Mount() = default;

int Mount::serve() {
  const int status = run_server_loop(impl_->session, {impl_->threads, impl_->spin_us});
  impl_->fs->save_record();
  return status;
}

void Mount::serve_on_own_thread() {
  const int device = fuse_session_fd(impl_->session);
  std::promise<int> unshared;
  std::future<int> result = unshared.get_future();
  impl_->server = std::thread([this, &unshared] {
    unshared.set_value(::unshare(CLONE_FILES) == 0 ? 0 : errno);
    impl_->server_status = serve();
  });
  if (const int error = result.get()) {
    impl_->server_status = 0;
    ::umount2(impl_->mountpoint.c_str(), MNT_DETACH);
    impl_->server.join();
    throw Error("unshare", "the overlay server's descriptor table", error);
  }
  // This thread's copy of the device becomes /dev/null: the number stays taken, so the
  // session's own close at destruction closes nothing else.
  const UniqueFd null = sys::open("/dev/null", O_RDWR);
  if (::dup3(null.get(), device, O_CLOEXEC) < 0) throw_errno("dup3", "/dev/null", errno);
}

int Mount::join_server() {
  if (impl_->server.joinable()) impl_->server.join();
  impl_->mounted = false;  // serve() returns only once the mount is gone
  return impl_->server_status;
}

void Mount::request_exit() {
  if (impl_ && impl_->session != nullptr) fuse_session_exit(impl_->session);
}

void Mount::handle_signals() {
  if (fuse_set_signal_handlers(impl_->session) != 0)
    throw Error("overlay: installing signal handlers failed");
  impl_->signal_handlers = true;
}

void Mount::daemonize(bool foreground) {
  if (fuse_daemonize(foreground ? 1 : 0) != 0) throw Error("overlay: daemonizing failed");
}

void Mount::sync_record() { impl_->fs->save_record(); }

std::vector<std::string> Mount::changes() const { return impl_->fs->changes(); }

std::size_t Mount::peak_inodes() const { return impl_->fs->peak_inodes(); }

void unmount(const std::filesystem::path& mountpoint, bool lazy) {
  if (::umount2(mountpoint.c_str(), lazy ? MNT_DETACH : 0) == 0) return;
  if (errno != EPERM) throw_errno("umount", mountpoint.string(), errno);
  std::vector<std::string> argv = {"fusermount3", "-u"};
  if (lazy) argv.push_back("-z");
  argv.push_back(mountpoint.string());
  Child child = Child::spawn({argv, std::nullopt, -1, -1, -1, true});
  if (child.wait() != 0)
    throw Error("umount " + mountpoint.string() + ": fusermount3 -u failed")
        .hint("is it mounted, and by this user?");
}

}  // namespace cairn::overlay
