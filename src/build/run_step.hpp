// A RUN step (private to src/build): the sandbox on cairn's overlay of the image's layers,
// its upper the new layer.
#pragma once

#include <signal.h>

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cairn/layer.hpp"
#include "cairn/sandbox/identity.hpp"
#include "cairn/sandbox/sandbox.hpp"
#include "session.hpp"

namespace cairn::build {

// The user namespace the build's RUN steps share, entered on the first RUN that is not a
// cache hit (a fully cached build never makes one).
class Namespace {
 public:
  explicit Namespace(sandbox::IdModeChoice choice) : choice_(choice) {}
  // The mapping it has or will have (decided once, without entering).
  const sandbox::Identity& identity();
  // Enters it if not yet done; prints the single-id notice once.
  const sandbox::Identity& enter();

 private:
  sandbox::IdModeChoice choice_;
  std::optional<sandbox::Identity> identity_;
  bool entered_ = false;
};

// While a RUN step runs, the signals cairn forwards (Ctrl-C among them) go to the sandbox,
// which passes them on; they are blocked before the overlay's threads start, so that none
// of those takes them. Between steps they act on cairn as usual (a killed build leaves
// nothing: its scratch directory has a watcher). Nests.
class ForwardedSignals {
 public:
  ForwardedSignals();
  ~ForwardedSignals();
  ForwardedSignals(const ForwardedSignals&) = delete;
  ForwardedSignals& operator=(const ForwardedSignals&) = delete;

 private:
  sigset_t saved_{};
};

// A read-only overlay of `layers` (top-most first) at `at`, served while it lives: what
// RUN --mount=type=bind,from=STAGE binds from.
std::unique_ptr<ServedMount> mount_read_only(const std::vector<layer::LayerDir>& layers,
                                             const std::filesystem::path& at, sandbox::IdMode mode);

struct RunRequest {
  std::vector<std::string> argv;
  std::vector<std::string> env;  // complete: the config's Env and the build args in scope
  std::string cwd = "/";
  std::string user;  // as USER says it
  sandbox::Network network = sandbox::Network::host;
  std::vector<sandbox::BindMount> binds;
  std::vector<sandbox::TmpfsMount> tmpfs;
  ScaffoldPoints mount_points;  // RUN --mount targets, made in the scaffold layer
  int output_fd = -1;           // the command's stdout and stderr; -1: cairn's stderr
  // Single-id mode with a USER other than root: the command runs as root, and what it
  // creates is recorded as this user's (resolved in the image before the mount).
  std::optional<std::pair<uid_t, gid_t>> creates_as;
};

struct RunOutcome {
  int status = 0;
  std::string error;     // the command never started
  bool changed = false;  // the upper holds changes
};

// Runs the request on an overlay of `lowers` (top-most first) with `upper` as the upper
// layer directory (created), using `scratch` for the mount point and runtime files. The
// command's standard output goes to cairn's standard error (cairn's standard output is
// the image ID's).
RunOutcome run_step(const sandbox::Identity& identity, const std::vector<layer::LayerDir>& lowers,
                    const RunRequest& request, const layer::LayerDir& upper,
                    const std::filesystem::path& scratch, const std::filesystem::path& cache_dir);

}  // namespace cairn::build
