// The sandbox's root, decided before anything is done: the mount plan, the runtime files
// and the mount points they need.
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <sys/stat.h>

#include <filesystem>

#include "cairn/base/error.hpp"
#include "cairn/base/sys.hpp"
#include "internal.hpp"

namespace cairn::sandbox {
namespace fs = std::filesystem;

namespace {

// Device nodes the payload gets, bind-mounted from the host: a user namespace cannot make
// device nodes, and a tmpfs mounted in one refuses to open any.
constexpr const char* kDevices[] = {"null", "zero", "full", "random", "urandom", "tty"};

std::string under(const Spec& spec, std::string_view path) {
  return (spec.rootfs / fs::path(path).relative_path()).string();
}

void add_dev(const Spec& spec, std::vector<MountOp>& ops) {
  using K = MountOp::Kind;
  const std::string dev = under(spec, "/dev");
  ops.push_back({K::mount, "tmpfs", dev, "tmpfs", MS_NOSUID | MS_NOEXEC, "mode=755,size=65536k",
                 false, "mount tmpfs on /dev"});
  for (const char* name : kDevices) {
    ops.push_back({K::make_file, "", dev + "/" + name, "", 0, "", false,
                   std::string("create /dev/") + name});
    ops.push_back({K::bind, std::string("/dev/") + name, dev + "/" + name, "", 0, "", false,
                   std::string("bind /dev/") + name});
  }
  ops.push_back({K::make_dir, "", dev + "/pts", "", 0, "", false, "create /dev/pts"});
  // gid=5 (tty) only where the namespace maps it.
  std::string pts_options = "newinstance,ptmxmode=0666,mode=0620";
  if (spec.id_mode == IdMode::range) pts_options += ",gid=5";
  ops.push_back({K::mount, "devpts", dev + "/pts", "devpts", MS_NOSUID | MS_NOEXEC, pts_options,
                 false, "mount devpts on /dev/pts"});
  ops.push_back({K::symlink, "pts/ptmx", dev + "/ptmx", "", 0, "", false, "link /dev/ptmx"});
  ops.push_back({K::make_dir, "", dev + "/shm", "", 0, "", false, "create /dev/shm"});
  ops.push_back({K::mount, "shm", dev + "/shm", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
                 "mode=1777,size=65536k", false, "mount tmpfs on /dev/shm"});
  ops.push_back({K::make_dir, "", dev + "/mqueue", "", 0, "", true, "create /dev/mqueue"});
  ops.push_back({K::mount, "mqueue", dev + "/mqueue", "mqueue", MS_NOSUID | MS_NODEV | MS_NOEXEC,
                 "", true, "mount mqueue on /dev/mqueue"});
  for (const auto& [name, to] : {std::pair{"fd", "/proc/self/fd"}, {"stdin", "/proc/self/fd/0"},
                                 {"stdout", "/proc/self/fd/1"}, {"stderr", "/proc/self/fd/2"},
                                 {"core", "/proc/kcore"}})
    ops.push_back({K::symlink, to, dev + "/" + name, "", 0, "", false,
                   std::string("link /dev/") + name});
}

}  // namespace

bool in_dev(const std::string& target) { return target.rfind("/dev/", 0) == 0; }

std::vector<MountOp> plan_mounts(const Spec& spec) {
  using K = MountOp::Kind;
  std::vector<MountOp> ops;
  ops.push_back({K::mount, "proc", under(spec, "/proc"), "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC,
                 "", false, "mount proc on /proc"});
  add_dev(spec, ops);
  // The host's /sys, read-only (sysfs itself only mounts in a network namespace of ours).
  ops.push_back({K::bind, "/sys", under(spec, "/sys"), "", MS_REC, "", true, "bind /sys"});
  ops.push_back({K::read_only, "", under(spec, "/sys"), "", MS_REC, "", true,
                 "make /sys read-only"});
  for (const char* name : {"hosts", "resolv.conf", "hostname"})
    ops.push_back({K::bind, (spec.runtime_dir / name).string(), under(spec, std::string("/etc/") + name),
                   "", 0, "", false, std::string("bind /etc/") + name});
  for (const BindMount& b : spec.binds) {
    if (in_dev(b.target)) {  // the sandbox's /dev is a tmpfs: its mount points are made there
      std::error_code ec;
      std::string made = "/dev";
      const fs::path rest = fs::path(b.target).lexically_relative("/dev");
      std::size_t left = std::distance(rest.begin(), rest.end());
      for (const fs::path& part : rest) {
        made += "/" + part.string();
        const bool file = --left == 0 && !fs::is_directory(b.source, ec);
        ops.push_back({file ? K::make_file : K::make_dir, "", under(spec, made), "", 0, "", false,
                       "create " + made});
      }
    }
    ops.push_back({K::bind, b.source.string(), under(spec, b.target), "", MS_REC, "", false,
                   "bind " + b.source.string() + " on " + b.target});
    if (b.read_only)
      ops.push_back({K::read_only, "", under(spec, b.target), "", MS_REC, "", false,
                     "make " + b.target + " read-only"});
  }
  for (const TmpfsMount& t : spec.tmpfs)
    ops.push_back({K::mount, "tmpfs", under(spec, t.target), "tmpfs", MS_NOSUID | MS_NODEV,
                   t.size ? "mode=755,size=" + std::to_string(t.size) : "mode=755", false,
                   "mount tmpfs on " + t.target});
  return ops;
}

std::string hosts_file(const std::string& hostname) {
  std::string text =
      "127.0.0.1\tlocalhost\n"
      "::1\tlocalhost ip6-localhost ip6-loopback\n"
      "fe00::0\tip6-localnet\n"
      "ff00::0\tip6-mcastprefix\n"
      "ff02::1\tip6-allnodes\n"
      "ff02::2\tip6-allrouters\n";
  if (!hostname.empty()) text += "127.0.1.1\t" + hostname + "\n";
  return text;
}

std::string resolv_conf(const std::string& host_resolv_conf, Network network) {
  // Without a network there is nothing to ask; a loopback resolver of the host's (such as
  // systemd-resolved's 127.0.0.53) would not be the host's any more.
  if (network == Network::none) return "";
  return host_resolv_conf;
}

namespace {

int open_in_root(int root_fd, const std::string& path, bool follow_symlinks) {
  return sys::try_openat2(root_fd, path, O_PATH,
                          RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV |
                              (follow_symlinks ? 0 : RESOLVE_NO_SYMLINKS));
}

// Makes `path` (absolute inside the root) exist, with the directories on the way, as a
// directory or an empty file. Symlinks resolve inside the root, never on the host; a
// mount point must have none (mount(2) would follow them on the host).
void make_in_root(int root_fd, const std::string& path, bool directory, bool mount_point) {
  std::string prefix;
  UniqueFd parent = sys::dup(root_fd);
  const fs::path relative = fs::path(path).relative_path();
  std::size_t left = std::distance(relative.begin(), relative.end());
  for (const fs::path& part : relative) {
    const std::string name = part.string();
    prefix += "/" + name;
    const bool last = --left == 0;
    int fd = open_in_root(root_fd, prefix, !mount_point);
    if (fd == -ENOENT) {
      const int made = (!last || directory) ? ::mkdirat(parent.get(), name.c_str(), 0755)
                                           : ::mknodat(parent.get(), name.c_str(), S_IFREG | 0644, 0);
      if (made != 0 && errno != EEXIST) throw_errno("create", path + " in the root", errno);
      fd = open_in_root(root_fd, prefix, !mount_point);
    }
    if (fd == -ELOOP)
      throw Error(path + ": " + prefix + " is a symlink in the image; the sandbox mounts only "
                  "on paths without symlinks")
          .hint("give the real path");
    if (fd == -EXDEV) throw Error(path + ": " + prefix + " leads out of the root filesystem");
    if (fd < 0) throw_errno("open", prefix + " in the root", -fd);
    parent = UniqueFd(fd);
  }
  struct stat st {};
  if (::fstat(parent.get(), &st) != 0) throw_errno("stat", path, errno);
  if (directory != S_ISDIR(st.st_mode))
    throw Error(path + " in the root is " + (S_ISDIR(st.st_mode) ? "a directory" : "not a directory") +
                ", but " + (directory ? "a directory" : "a file") + " is mounted there");
}

}  // namespace

void prepare_mount_points(const Spec& spec) {
  with_context("preparing the sandbox's mount points", [&] {
    const UniqueFd root = sys::open(spec.rootfs.string(), O_PATH | O_DIRECTORY);
    for (const char* dir : {"/proc", "/dev", "/sys"}) make_in_root(root.get(), dir, true, true);
    for (const char* file : {"/etc/hosts", "/etc/resolv.conf", "/etc/hostname"})
      make_in_root(root.get(), file, false, true);
    for (const BindMount& b : spec.binds) {
      std::error_code ec;
      if (!fs::exists(b.source, ec))
        throw Error("bind mount " + b.source.string() + ":" + b.target + ": " +
                    b.source.string() + " does not exist");
      if (b.target.empty() || b.target.front() != '/' || b.target == "/")
        throw Error("bind mount " + b.source.string() + ":" + b.target +
                    ": the target must be an absolute path other than /");
      if (!in_dev(b.target)) make_in_root(root.get(), b.target, fs::is_directory(b.source, ec), true);
    }
    for (const TmpfsMount& t : spec.tmpfs) {
      if (t.target.empty() || t.target.front() != '/' || t.target == "/")
        throw Error("tmpfs mount on \"" + t.target + "\": the target must be an absolute path "
                    "other than /");
      make_in_root(root.get(), t.target, true, true);
    }
    if (spec.process.cwd.empty() || spec.process.cwd.front() != '/')
      throw Error("working directory \"" + spec.process.cwd + "\" is not an absolute path");
    make_in_root(root.get(), spec.process.cwd, true, false);
  });
}

}  // namespace cairn::sandbox
