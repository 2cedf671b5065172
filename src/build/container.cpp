#include "cairn/build/container.hpp"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <filesystem>
#include <random>

#include "cairn/base/error.hpp"
#include "cairn/base/log.hpp"
#include "cairn/base/process.hpp"
#include "cairn/base/sys.hpp"
#include "cairn/base/timer.hpp"
#include "cairn/overlay/mount.hpp"
#include "cairn/sandbox/seccomp.hpp"
#include "cairn/store/image.hpp"
#include "session.hpp"

namespace cairn::build {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

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
  if (!has_key(r.env, "PATH")) r.env.insert(r.env.begin(), "PATH=" + std::string(sandbox::kDefaultPath));
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

std::vector<std::string> process_environment() {
  std::vector<std::string> env;
  for (char** e = environ; e && *e; ++e) env.emplace_back(*e);
  return env;
}

// Where a run keeps its upper layer, scaffold, runtime files and mount point. A run whose
// changes are kept (--commit) uses a directory of the store's tmp/, on the store's
// filesystem so that the upper becomes a layer by rename, removed by a watcher if cairn is
// killed. Any other run uses a tmpfs mounted in its own mount namespace: nothing touches
// the disk, and the namespace takes everything with it however cairn ends.
class Scratch {
 public:
  Scratch(store::Store& store, bool keep_changes) : store_(store) {
    if (!keep_changes) return;
    temp_ = store.make_temp("run");
    watch_.emplace(temp_.path().string());
    path_ = temp_.path();
  }
  // After enter_user_namespace(): the tmpfs of a run that keeps nothing.
  void make_in_memory() {
    if (!path_.empty()) return;
    const fs::path at = store_.root() / "cairn/tmp";  // only this namespace sees the tmpfs
    if (::mount("cairn-run", at.c_str(), "tmpfs", MS_NOSUID | MS_NODEV, "mode=0700") != 0)
      throw_errno("mount tmpfs for the run on", at.string(), errno);
    path_ = at / "run";
    fs::create_directories(path_);
  }
  const fs::path& path() const { return path_; }
  void remove() {
    temp_ = store::TempDir();
    if (watch_) watch_->settle();
  }

 private:
  store::Store& store_;
  store::TempDir temp_;
  std::optional<CleanupWatch> watch_;
  fs::path path_;
};

overlay::MountOptions mount_options_for(const store::Store& store, const json& image_config,
                                        const std::string& image, const fs::path& scratch,
                                        sandbox::IdMode mode) {
  return sandbox_overlay(store::layer_dirs(store, image_config, image),
                         layer::LayerDir{scratch / "upper"}, scratch, mode);
}

sandbox::Spec spec_for(const ContainerOptions& o, ProcessRequest& request, const fs::path& rootfs,
                       const fs::path& scratch, const sandbox::Identity& identity,
                       const store::Store& store) {
  sandbox::Spec spec;
  spec.rootfs = rootfs;
  spec.id_mode = identity.mode;
  spec.network = o.network;
  spec.hostname = o.hostname;
  spec.runtime_dir = scratch / "runtime";
  spec.binds = o.binds;
  spec.user_notification = sandbox::kernel_has_user_notification();
  spec.cache_dir = store.root() / "cairn/cache";
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
  return spec;
}

}  // namespace

RunResult run_container(store::Store& store, const ContainerOptions& options) {
  const auto image = store.resolve(options.image);
  if (!image)
    throw Error("image " + options.image + " is not in the store")
        .hint("cairn images lists what there is; cairn load or cairn import adds images");
  // Before any namespace: unpacking a pulled image's layers runs threads.
  with_context("image " + options.image, [&] { store::ensure_unpacked(store, *image); });
  const json image_config = store::read_config(store, *image);
  ContainerOptions o = options;
  if (o.hostname.empty()) o.hostname = random_hostname();
  ProcessRequest request = process_request(image_config, o, process_environment());
  const sandbox::Identity identity = sandbox::choose_identity(o.userns, sandbox::probe_host());
  if (identity.fell_back) fmt::print(stderr, "cairn: notice: single-id mode ({})\n", identity.reason);

  std::optional<ScopedTimer> phase(std::in_place, "run: user namespace");
  Scratch scratch(store, !o.commit.empty());
  sandbox::enter_user_namespace(identity);
  sandbox::block_forwarded_signals();  // before the overlay's threads exist
  phase.emplace("run: mount overlay");
  scratch.make_in_memory();
  const fs::path rootfs = scratch.path() / "rootfs";
  fs::create_directories(rootfs);
  RunResult result;
  {
    ServedMount mount(mount_options_for(store, image_config, o.image, scratch.path(), identity.mode),
                      rootfs);
    phase.emplace("run: sandbox");
    const sandbox::Spec spec = spec_for(o, request, rootfs, scratch.path(), identity, store);
    OverlayRecorder recorder;
    const sandbox::Outcome outcome = sandbox::run(spec, &recorder);
    result.status = outcome.status;
    result.error = outcome.error;
    phase.emplace("run: unmount");
  }
  if (!o.commit.empty() && result.error.empty()) {
    phase.emplace("run: commit");
    store::CommitOptions commit;
    commit.names = {o.commit};
    commit.created_by = fmt::format("cairn run {}", fmt::join(request.argv, " "));
    const layer::LayerDir upper{scratch.path() / "upper"};
    const store::ImageEntry committed = store::commit_layer(store, *image, upper, commit);
    result.committed_id = store::image_config_digest(store, committed);
  }
  phase.emplace("run: clean up");
  scratch.remove();
  return result;
}

}  // namespace cairn::build
