#include "run_step.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include "cairn/base/error.hpp"
#include "cairn/base/sys.hpp"
#include "cairn/base/timer.hpp"
#include "cairn/sandbox/seccomp.hpp"

namespace cairn::build {
namespace fs = std::filesystem;

ForwardedSignals::ForwardedSignals() {
  ::pthread_sigmask(SIG_BLOCK, nullptr, &saved_);
  sandbox::block_forwarded_signals();
}

ForwardedSignals::~ForwardedSignals() {
  ::pthread_sigmask(SIG_SETMASK, &saved_, nullptr);
}

std::unique_ptr<ServedMount> mount_read_only(const std::vector<layer::LayerDir>& layers,
                                             const fs::path& at, sandbox::IdMode mode) {
  overlay::MountOptions options;
  for (const layer::LayerDir& dir : layers)
    options.lowers.push_back({dir.path, overlay::Format::cairn});
  if (options.lowers.empty()) {  // FROM scratch: an empty tree
    fs::create_directories(at.parent_path() / "empty");
    options.lowers.push_back({at.parent_path() / "empty", overlay::Format::kernel});
  }
  options.read_only = true;
  options.fsname = "cairn";
  if (mode == sandbox::IdMode::single) {
    options.shown_uid = 0;
    options.shown_gid = 0;
  }
  fs::create_directories(at);
  return std::make_unique<ServedMount>(std::move(options), at);
}

const sandbox::Identity& Namespace::identity() {
  if (!identity_) identity_ = sandbox::choose_identity(choice_, sandbox::probe_host());
  return *identity_;
}

const sandbox::Identity& Namespace::enter() {
  const sandbox::Identity& chosen = identity();
  if (entered_) return chosen;
  if (chosen.fell_back) fmt::print(stderr, "cairn: notice: single-id mode ({})\n", chosen.reason);
  ScopedTimer timer("build: user namespace");
  sandbox::enter_user_namespace(chosen);
  entered_ = true;
  return chosen;
}

namespace {

overlay::MountOptions mount_options(const std::vector<layer::LayerDir>& lowers,
                                    const RunRequest& request, const layer::LayerDir& upper,
                                    const fs::path& scratch, sandbox::IdMode mode) {
  overlay::MountOptions options =
      sandbox_overlay(lowers, upper, scratch, mode, request.mount_points);
  if (mode == sandbox::IdMode::single && request.creates_as) {
    options.new_entry_uid = request.creates_as->first;
    options.new_entry_gid = request.creates_as->second;
  }
  return options;
}

sandbox::Spec spec_for(const RunRequest& request, const fs::path& rootfs, const fs::path& scratch,
                       const sandbox::Identity& identity, const fs::path& cache_dir) {
  sandbox::Spec spec;
  spec.rootfs = rootfs;
  spec.id_mode = identity.mode;
  spec.network = request.network;
  spec.hostname = random_hostname();
  spec.runtime_dir = scratch / "runtime";
  spec.binds = request.binds;
  spec.tmpfs = request.tmpfs;
  spec.user_notification = sandbox::kernel_has_user_notification();
  spec.cache_dir = cache_dir;
  sandbox::User user = resolve_user_in(rootfs, request.user.empty() ? "0" : request.user);
  if (identity.mode == sandbox::IdMode::single && (user.uid != 0 || user.gid != 0)) {
    fmt::print(stderr,
               "cairn: notice: single-id mode cannot switch to user {} (uid {}); the step runs "
               "as root, and what it creates is recorded as {}:{}\n",
               request.user, user.uid, user.uid, user.gid);
    user = sandbox::User{0, 0, {}, user.home, "root"};  // HOME stays the user's, as docker's
  }
  std::vector<std::string> env = request.env;
  bool has_home = false;
  for (const auto& e : env)
    has_home = has_home || e.rfind("HOME=", 0) == 0;
  if (!has_home) env.push_back("HOME=" + user.home);
  spec.process = {request.argv, env,   request.cwd, user.uid, user.gid,
                  user.groups,  false, false,       {}};
  return spec;
}

// The command's standard output and error go to `output_fd` (else cairn's standard error)
// while it runs: the sandbox's processes inherit descriptors 0-2 from this process.
class OutputRedirect {
 public:
  explicit OutputRedirect(int output_fd) : saved_out_(sys::dup(1)), saved_err_(sys::dup(2)) {
    ::dup2(output_fd >= 0 ? output_fd : 2, 1);
    if (output_fd >= 0) ::dup2(output_fd, 2);
  }
  ~OutputRedirect() {
    ::dup2(saved_out_.get(), 1);
    ::dup2(saved_err_.get(), 2);
  }
  OutputRedirect(const OutputRedirect&) = delete;
  OutputRedirect& operator=(const OutputRedirect&) = delete;

 private:
  UniqueFd saved_out_;
  UniqueFd saved_err_;
};

bool upper_changed(const layer::LayerDir& upper) {
  std::error_code ec;
  if (fs::exists(upper.record(), ec) && fs::file_size(upper.record(), ec) > 0) return true;
  return !fs::is_empty(upper.root(), ec);
}

}  // namespace

RunOutcome run_step(const sandbox::Identity& identity, const std::vector<layer::LayerDir>& lowers,
                    const RunRequest& request, const layer::LayerDir& upper,
                    const fs::path& scratch, const fs::path& cache_dir) {
  const fs::path rootfs = scratch / "rootfs";
  fs::create_directories(rootfs);
  RunOutcome outcome;
  {
    ScopedTimer timer("build: RUN");
    ForwardedSignals signals;
    ServedMount mount(mount_options(lowers, request, upper, scratch, identity.mode), rootfs);
    const sandbox::Spec spec = spec_for(request, rootfs, scratch, identity, cache_dir);
    OverlayRecorder recorder;
    sandbox::Outcome result;
    {
      OutputRedirect redirect(request.output_fd);
      result = sandbox::run(spec, &recorder);
    }
    outcome.status = result.status;
    outcome.error = result.error;
    mount.stop();
  }
  std::error_code ec;
  fs::remove_all(upper.path / "work", ec);
  outcome.changed = upper_changed(upper);
  return outcome;
}

}  // namespace cairn::build
