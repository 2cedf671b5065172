#include "cairn/build/container.hpp"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <filesystem>
#include <random>
#include <thread>

#include "cairn/base/error.hpp"
#include "cairn/base/log.hpp"
#include "cairn/base/process.hpp"
#include "cairn/base/sys.hpp"
#include "cairn/overlay/mount.hpp"
#include "cairn/sandbox/seccomp.hpp"
#include "cairn/store/image.hpp"

namespace cairn::build {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr const char* kDefaultPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

std::vector<std::string> strings_of(const json& value) {
  std::vector<std::string> out;
  if (value.is_array())
    for (const auto& v : value) out.push_back(v.get<std::string>());
  return out;
}

bool has_key(const std::vector<std::string>& env, std::string_view key) {
  for (const std::string& e : env)
    if (e.compare(0, key.size(), key) == 0 && e.size() > key.size() && e[key.size()] == '=')
      return true;
  return false;
}

// Sets KEY=VALUE, replacing an earlier KEY.
void set_env(std::vector<std::string>& env, const std::string& entry) {
  const std::string key = entry.substr(0, entry.find('='));
  for (std::string& e : env)
    if (e.compare(0, key.size() + 1, key + "=") == 0) {
      e = entry;
      return;
    }
  env.push_back(entry);
}

}  // namespace

ProcessRequest process_request(const json& image_config, const ContainerOptions& options,
                               const std::vector<std::string>& host_env) {
  const json config = image_config.value("config", json::object());
  ProcessRequest r;
  std::vector<std::string> entrypoint = strings_of(config.value("Entrypoint", json()));
  std::vector<std::string> cmd = strings_of(config.value("Cmd", json()));
  if (options.entrypoint) {
    entrypoint = options.entrypoint->empty() ? std::vector<std::string>{}
                                             : std::vector<std::string>{*options.entrypoint};
    cmd.clear();
  }
  if (!options.command.empty()) cmd = options.command;
  r.argv = entrypoint;
  r.argv.insert(r.argv.end(), cmd.begin(), cmd.end());
  if (r.argv.empty())
    throw Error("image " + options.image + " has no command (no Entrypoint or Cmd)")
        .hint("give one after the image: cairn run " + options.image + " /bin/sh");
  r.env = strings_of(config.value("Env", json()));
  if (!has_key(r.env, "PATH")) r.env.insert(r.env.begin(), kDefaultPath);
  if (!options.hostname.empty()) set_env(r.env, "HOSTNAME=" + options.hostname);
  for (const std::string& e : options.env) {
    if (e.empty() || e.front() == '=') throw Error("-e \"" + e + "\": no variable name");
    if (e.find('=') != std::string::npos) {
      set_env(r.env, e);
      continue;
    }
    for (const std::string& h : host_env)  // -e KEY: the caller's value, if it has one
      if (h.compare(0, e.size() + 1, e + "=") == 0) set_env(r.env, h);
  }
  r.cwd = options.workdir ? *options.workdir : config.value("WorkingDir", std::string());
  if (r.cwd.empty()) r.cwd = "/";
  if (r.cwd.front() != '/') throw Error("working directory \"" + r.cwd + "\" is not absolute");
  r.user = options.user ? *options.user : config.value("User", std::string());
  if (r.user.empty()) r.user = "0";
  return r;
}

void complete_env(std::vector<std::string>& env, const std::string& home, bool terminal) {
  if (!has_key(env, "HOME")) env.push_back("HOME=" + home);
  if (terminal && !has_key(env, "TERM")) env.push_back("TERM=xterm");
}

namespace {

// A file of the root, read with every symlink resolved inside it ("" when missing).
std::string read_in_root(const fs::path& rootfs, const std::string& path) {
  const UniqueFd root = sys::open(rootfs.string(), O_PATH | O_DIRECTORY);
  open_how how{};
  how.flags = O_RDONLY | O_CLOEXEC;
  how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
  const UniqueFd fd(static_cast<int>(::syscall(SYS_openat2, root.get(), path.c_str(), &how, sizeof how)));
  if (!fd) return {};
  return sys::read_all(fd.get(), path);
}

// The mount points a sandbox needs, as a lower layer below the image's: where the image has
// them they win, where it lacks them they exist without being written into the upper.
overlay::LayerSource make_scaffold_layer(const fs::path& dir) {
  for (const char* d : {"root/proc", "root/dev", "root/sys", "root/etc"})
    fs::create_directories(dir / d);
  for (const char* f : {"root/etc/hosts", "root/etc/resolv.conf", "root/etc/hostname"})
    sys::open((dir / f).string(), O_WRONLY | O_CREAT, 0644);
  return {dir, overlay::Format::cairn};
}

std::string random_hostname() {
  std::random_device device;
  std::uint64_t value = (static_cast<std::uint64_t>(device()) << 32) | device();
  return fmt::format("{:012x}", value & 0xffffffffffffull);
}

// The overlay's side of the single-id ownership record (sandbox::Recorder).
class OverlayRecorder : public sandbox::Recorder {
 public:
  int record_owner(int fd, long uid, long gid) override {
    const std::string value = std::to_string(uid) + ":" + std::to_string(gid);
    const std::string path = "/proc/self/fd/" + std::to_string(fd);
    if (::setxattr(path.c_str(), "security.cairn.owner", value.data(), value.size(), 0) != 0)
      return errno;
    return 0;
  }
  int record_device(int dirfd, const std::string& name, mode_t mode, dev_t rdev) override {
    if (::mknodat(dirfd, name.c_str(), S_IFREG | (mode & 07777), 0) != 0) return errno;
    const UniqueFd file(::openat(dirfd, name.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC));
    if (!file) return errno;
    const std::string value = fmt::format("{}:{}:{}", S_ISBLK(mode) ? 'b' : 'c', major(rdev), minor(rdev));
    const std::string path = "/proc/self/fd/" + std::to_string(file.get());
    if (::setxattr(path.c_str(), "security.cairn.device", value.data(), value.size(), 0) != 0)
      return errno;
    return 0;
  }
};

std::vector<overlay::LayerSource> image_lowers(const store::Store& store, const json& config,
                                               const std::string& image) {
  std::vector<overlay::LayerSource> lowers;
  for (const auto& diff_id : config.at("rootfs").at("diff_ids")) {
    const std::string id = diff_id.get<std::string>();
    if (!store.has_layer(id))
      throw Error("image " + image + ": layer " + id + " is not unpacked in the store")
          .hint("run `cairn store verify`");
    lowers.insert(lowers.begin(), {store.layer_dir(id).path, overlay::Format::cairn});
  }
  return lowers;
}

// The overlay, served on a thread of this process while the sandbox runs.
class ServedMount {
 public:
  ServedMount(overlay::MountOptions options, const fs::path& at)
      : mount_(std::move(options), at), at_(at), thread_([this] { mount_.serve(); }) {}
  ~ServedMount() { stop(); }
  void stop() {
    if (!thread_.joinable()) return;
    try {
      overlay::unmount(at_);
    } catch (const Error& e) {
      log(LogLevel::warn, "{}", e.what());
      overlay::unmount(at_, true);
    }
    thread_.join();
  }

 private:
  overlay::Mount mount_;
  fs::path at_;
  std::thread thread_;
};

sandbox::User resolve_user_in(const fs::path& rootfs, const std::string& user) {
  return with_context("USER " + user, [&] {
    return sandbox::resolve_user(user, read_in_root(rootfs, "/etc/passwd"),
                                 read_in_root(rootfs, "/etc/group"));
  });
}

std::vector<std::string> process_environment() {
  std::vector<std::string> env;
  for (char** e = environ; e && *e; ++e) env.emplace_back(*e);
  return env;
}

}  // namespace

RunResult run_container(store::Store& store, const ContainerOptions& options) {
  const auto image = store.resolve(options.image);
  if (!image)
    throw Error("image " + options.image + " is not in the store")
        .hint("cairn images lists what there is; cairn load or cairn import adds images");
  const json image_config = store::read_config(store, *image);
  ContainerOptions o = options;
  if (o.hostname.empty()) o.hostname = random_hostname();
  ProcessRequest request = process_request(image_config, o, process_environment());
  const sandbox::Identity identity =
      sandbox::choose_identity(o.userns, sandbox::probe_host());
  if (identity.fell_back)
    fmt::print(stderr, "cairn: notice: single-id mode ({})\n", identity.reason);

  store::TempDir temp = store.make_temp("run");
  CleanupWatch watch(temp.path().string());
  sandbox::enter_user_namespace(identity);
  sandbox::block_forwarded_signals();  // before the overlay's threads exist

  const layer::LayerDir upper{temp.path() / "upper"};
  fs::create_directories(upper.root());
  overlay::MountOptions mount_options;
  mount_options.lowers = image_lowers(store, image_config, o.image);
  mount_options.lowers.push_back(make_scaffold_layer(temp.path() / "scaffold"));
  mount_options.upper = overlay::LayerSource{upper.path, overlay::Format::cairn};
  mount_options.fsname = "cairn";
  if (identity.mode == sandbox::IdMode::single) {
    mount_options.shown_uid = 0;
    mount_options.shown_gid = 0;
  }
  const fs::path rootfs = temp.path() / "rootfs";
  fs::create_directories(rootfs);
  RunResult result;
  {
    ServedMount mount(std::move(mount_options), rootfs);
    sandbox::Spec spec;
    spec.rootfs = rootfs;
    spec.id_mode = identity.mode;
    spec.network = o.network;
    spec.hostname = o.hostname;
    spec.runtime_dir = temp.path() / "runtime";
    spec.binds = o.binds;
    spec.user_notification = sandbox::kernel_has_user_notification();
    sandbox::User user = resolve_user_in(rootfs, request.user);
    if (identity.mode == sandbox::IdMode::single && (user.uid != 0 || user.gid != 0)) {
      fmt::print(stderr,
                 "cairn: notice: single-id mode cannot switch to user {} (uid {}); the command "
                 "runs as root\n", request.user, user.uid);
      user = sandbox::User{0, 0, {}, user.uid == 0 ? user.home : "/root", "root"};
    }
    complete_env(request.env, user.home, o.terminal);
    spec.process = {request.argv, request.env, request.cwd, user.uid, user.gid, user.groups,
                    o.stdin_open, o.terminal, {}};
    OverlayRecorder recorder;
    const sandbox::Outcome outcome = sandbox::run(spec, &recorder);
    result.status = outcome.status;
    result.error = outcome.error;
  }
  if (!o.commit.empty() && result.error.empty()) {
    store::CommitOptions commit;
    commit.names = {o.commit};
    commit.created_by = fmt::format("cairn run {}", fmt::join(request.argv, " "));
    const store::ImageEntry committed = store::commit_layer(store, *image, upper, commit);
    result.committed_id = store::image_config_digest(store, committed);
  }
  temp = store::TempDir();  // removed here; the watcher has nothing left to do
  watch.disarm();
  return result;
}

}  // namespace cairn::build
