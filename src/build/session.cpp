#include "session.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <random>

#include "cairn/base/error.hpp"
#include "cairn/base/log.hpp"
#include "cairn/base/sys.hpp"

namespace cairn::build {
namespace fs = std::filesystem;

std::string read_in_root(const fs::path& rootfs, const std::string& path) {
  const UniqueFd root = sys::open(rootfs.string(), O_PATH | O_DIRECTORY);
  const int fd =
      sys::try_openat2(root.get(), path, O_RDONLY, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS);
  if (fd < 0) return {};
  const UniqueFd file(fd);
  return sys::read_all(file.get(), path);
}

bool has_apt(const std::vector<overlay::LayerSource>& lowers) {
  std::error_code ec;
  for (const auto& l : lowers)
    if (fs::is_directory(l.path / "root/etc/apt/apt.conf.d", ec)) return true;
  return false;
}

// In single-id mode the scaffold also tells apt not to switch to its _apt sandbox user:
// apt checks that getgid() changed after setresgid, which no seccomp root emulation can
// make true with one mapped id (Charliecloud sets the same option). The file is in this
// lower layer, so no committed layer ever has it.
overlay::LayerSource make_scaffold_layer(const fs::path& dir, bool apt_as_root,
                                         const ScaffoldPoints& points) {
  for (const char* d : {"root/proc", "root/dev", "root/sys", "root/etc"})
    fs::create_directories(dir / d);
  for (const char* f : {"root/etc/hosts", "root/etc/resolv.conf", "root/etc/hostname"})
    sys::open((dir / f).string(), O_WRONLY | O_CREAT, 0644);
  const fs::path root = dir / "root";
  for (const std::string& d : points.directories)
    fs::create_directories(root / fs::path(d).relative_path());
  for (const std::string& f : points.files) {
    const fs::path at = root / fs::path(f).relative_path();
    fs::create_directories(at.parent_path());
    sys::open(at.string(), O_WRONLY | O_CREAT, 0644);
  }
  if (apt_as_root) {
    fs::create_directories(dir / "root/etc/apt/apt.conf.d");
    sys::write_file_atomic((dir / "root/etc/apt/apt.conf.d/00cairn-single-id").string(),
                           "// cairn single-id mode: one mapped id, so no _apt sandbox user\n"
                           "APT::Sandbox::User \"root\";\n");
  }
  return {dir, overlay::Format::cairn};
}

overlay::MountOptions sandbox_overlay(const std::vector<layer::LayerDir>& lowers,
                                      const layer::LayerDir& upper, const fs::path& scratch,
                                      sandbox::IdMode mode, const ScaffoldPoints& points) {
  overlay::MountOptions options;
  for (const layer::LayerDir& dir : lowers)
    options.lowers.push_back({dir.path, overlay::Format::cairn});
  const bool single = mode == sandbox::IdMode::single;
  options.lowers.push_back(
      make_scaffold_layer(scratch / "scaffold", single && has_apt(options.lowers), points));
  fs::create_directories(upper.root());
  options.upper = overlay::LayerSource{upper.path, overlay::Format::cairn};
  options.fsname = "cairn";
  if (single) {
    options.shown_uid = 0;
    options.shown_gid = 0;
  }
  return options;
}

std::string random_hostname() {
  std::random_device device;
  std::uint64_t value = (static_cast<std::uint64_t>(device()) << 32) | device();
  return fmt::format("{:012x}", value & 0xffffffffffffull);
}

sandbox::User resolve_user_in(const fs::path& rootfs, const std::string& user) {
  return with_context("USER " + user, [&] {
    return sandbox::resolve_user(user, read_in_root(rootfs, "/etc/passwd"),
                                 read_in_root(rootfs, "/etc/group"));
  });
}

namespace {

// `fd` may be O_PATH (fsetxattr refuses those): through its /proc name.
int set_xattr_on(int fd, const char* name, const std::string& value) {
  const std::string path = "/proc/self/fd/" + std::to_string(fd);
  return ::setxattr(path.c_str(), name, value.data(), value.size(), 0) == 0 ? 0 : errno;
}

}  // namespace

int OverlayRecorder::record_owner(int fd, long uid, long gid) {
  return set_xattr_on(fd, "security.cairn.owner", std::to_string(uid) + ":" + std::to_string(gid));
}

int OverlayRecorder::record_device(int dirfd, const std::string& name, mode_t mode, dev_t rdev) {
  if (::mknodat(dirfd, name.c_str(), S_IFREG | (mode & 07777), 0) != 0) return errno;
  const UniqueFd file(::openat(dirfd, name.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC));
  if (!file) return errno;
  return set_xattr_on(file.get(), "security.cairn.device",
                      fmt::format("{}:{}:{}", S_ISBLK(mode) ? 'b' : 'c', major(rdev), minor(rdev)));
}

ServedMount::ServedMount(overlay::MountOptions options, const fs::path& at)
    : mount_(std::move(options), at), at_(at) {
  mount_.serve_on_own_thread();
}

ServedMount::~ServedMount() {
  try {
    stop();
  } catch (const Error& e) {
    log(LogLevel::warn, "{}", e.what());
  }
}

void ServedMount::stop() {
  if (stopped_) return;
  stopped_ = true;
  try {
    overlay::unmount(at_);
  } catch (const Error& e) {
    log(LogLevel::warn, "{}", e.what());
    overlay::unmount(at_, true);
  }
  if (mount_.join_server() != 0)
    throw Error("overlay: the server ended badly; the upper layer's record may be incomplete");
}

}  // namespace cairn::build
