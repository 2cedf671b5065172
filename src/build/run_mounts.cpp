// RUN --mount: what each mount type adds to a step's request.
#include <fmt/format.h>

#include "builder.hpp"
#include "cairn/base/digest.hpp"
#include "cairn/base/error.hpp"
#include "cairn/base/sys.hpp"
#include "copy_paths.hpp"

namespace cairn::build {
namespace fs = std::filesystem;

// A cache mount's directory, ROOT/cairn/cache-mounts/<sha256(id)>[-N], with the lock its
// sharing asks for held until the step ends: shared steps share it; a locked step waits
// until it is alone; a private step takes the first instance nobody uses.
fs::path Builder::cache_mount_dir(const std::string& id, frontend::CacheSharing sharing,
                                  std::vector<FileLock>& locks) {
  const fs::path base = store_.root() / "cairn/cache-mounts" / sha256_hex(id).substr(0, 32);
  for (int instance = 0;; ++instance) {
    const fs::path dir =
        instance == 0 ? base : fs::path(fmt::format("{}-{}", base.string(), instance));
    fs::create_directories(dir);
    const std::string lock = dir.string() + ".lock";
    if (sharing == frontend::CacheSharing::shared) {
      locks.push_back(FileLock::acquire(lock, FileLock::Mode::shared));
    } else if (sharing == frontend::CacheSharing::locked) {
      locks.push_back(FileLock::acquire(lock, FileLock::Mode::exclusive));
    } else {
      FileLock taken = FileLock::try_acquire(lock, FileLock::Mode::exclusive);
      if (!taken) continue;
      locks.push_back(std::move(taken));
    }
    return dir;
  }
}

// type=bind: from the context (read-only: docker discards writes to a read-write bind),
// or from a stage or image through a read-only overlay of its layers. Symlinks in the
// source resolve inside its root, never on the host.
void Builder::add_bind_mount(RunRequest& request, const frontend::MountSpec& m,
                             const std::string& target, const std::string& scratch,
                             const sandbox::Identity& identity, RunHolds& held) {
  fs::path root;
  const overlay::Stack* tree = nullptr;
  if (m.from && *m.from != "context") {
    std::string label;
    const StageResult from = source_state(*m.from, label);
    tree = &source_stack(from.state);
    root = fs::path(scratch) / fmt::format("from-{}", held.mounts.size()) / "rootfs";
    held.mounts.push_back(mount_read_only(layer_dirs_of(store_, from.state), root, identity.mode));
  } else {
    if (!options_.context) throw Error("RUN --mount=" + m.raw + ": the build has no context");
    root = *options_.context;
    tree = context_tree().stack;
  }
  const std::string written = clean_relative(m.source.value_or(""));
  const std::string inside = resolve_in_image(*tree, "/" + written, true);
  const fs::path source = inside.empty() ? root : root / inside;
  std::error_code ec;
  if (!fs::exists(fs::symlink_status(source, ec)))
    throw Error("RUN --mount=" + m.raw + ": /" + written + " does not exist in " +
                (m.from ? *m.from : std::string("the build context")));
  request.binds.push_back({source, target, true});
  if (fs::is_directory(source, ec))
    request.mount_points.directories.push_back(target);
  else
    request.mount_points.files.push_back(target);
}

// type=secret: the --secret file read-only at /run/secrets/ID (or TARGET), or its content in
// an environment variable; never part of a key, a layer or the history.
void Builder::add_secret_mount(RunRequest& request, const frontend::MountSpec& m,
                               const std::string& target) {
  const std::string id =
      m.id.value_or(m.target.empty() ? "" : fs::path(m.target).filename().string());
  const Secret* found = nullptr;
  for (const Secret& s : options_.secrets)
    if (s.id == id) found = &s;
  if (!found) {
    if (m.required) throw Error("RUN --mount=" + m.raw + ": no --secret id=" + id + " was given");
    return;
  }
  if (m.env) request.env.push_back(*m.env + "=" + sys::read_file(found->source.string()));
  if (m.env && m.target.empty()) return;
  const std::string at = m.target.empty() ? "/run/secrets/" + id : target;
  request.binds.push_back({fs::absolute(found->source), at, true});
  request.mount_points.files.push_back(at);
}

// type=ssh: the --ssh agent's socket, with SSH_AUTH_SOCK pointing at it.
void Builder::add_ssh_mount(RunRequest& request, const frontend::MountSpec& m,
                            const std::string& target) {
  const std::string id = m.id.value_or("default");
  const auto agent = options_.ssh_agents.find(id);
  if (agent == options_.ssh_agents.end()) {
    if (m.required)
      throw Error("RUN --mount=" + m.raw + ": no --ssh " + id + " was given")
          .hint("cairn build --ssh " + id + " (the agent of $SSH_AUTH_SOCK) or --ssh " + id +
                "=SOCKET");
    return;
  }
  const std::string at = m.target.empty() ? "/run/buildkit/ssh_agent.0" : target;
  request.binds.push_back({agent->second, at, false});
  request.mount_points.files.push_back(at);
  request.env.push_back("SSH_AUTH_SOCK=" + at);
}

void Builder::add_run_mounts(RunRequest& request, const frontend::RunInstruction& run,
                             const std::string& scratch, const sandbox::Identity& identity,
                             RunHolds& held) {
  if (run.security == "insecure")
    throw Error(
        "RUN --security=insecure: cairn runs every step in its sandbox; there is no "
        "insecure mode");
  for (const frontend::MountSpec& m : run.mounts) {
    const std::string target =
        m.target.empty() ? "" : join_to_workdir(request.cwd, m.target);  // relative to WORKDIR
    switch (m.type) {
      case frontend::MountType::cache:
        request.binds.push_back(
            {cache_mount_dir(m.id.value_or(target), m.sharing, held.locks), target, m.readonly});
        request.mount_points.directories.push_back(target);
        break;
      case frontend::MountType::tmpfs:
        request.tmpfs.push_back({target, static_cast<unsigned long long>(m.size.value_or(0))});
        request.mount_points.directories.push_back(target);
        break;
      case frontend::MountType::bind:
        add_bind_mount(request, m, target, scratch, identity, held);
        break;
      case frontend::MountType::secret:
        add_secret_mount(request, m, target);
        break;
      case frontend::MountType::ssh:
        add_ssh_mount(request, m, target);
        break;
    }
  }
}

}  // namespace cairn::build
