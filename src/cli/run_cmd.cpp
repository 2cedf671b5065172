// cairn run: an image's command in the rootless sandbox, on cairn's overlay.
#include <fmt/format.h>
#include <unistd.h>

#include <filesystem>

#include "app.hpp"
#include "cairn/base/error.hpp"
#include "cairn/build/container.hpp"

namespace cairn::cli {
namespace {

namespace fs = std::filesystem;

// Docker's exit status for a failure of the runtime itself (the command never ran).
constexpr int kRuntimeFailure = 125;

struct RunArgs {
  bool remove = false;
  std::vector<std::string> env, volumes;
  std::string workdir, user, network = "host", entrypoint, userns, hostname, commit;
  bool entrypoint_set = false;
  bool interactive = false, tty = false;
};

sandbox::BindMount parse_volume(const std::string& text) {
  // HOST:CTR[:ro|rw]
  const auto first = text.find(':');
  if (first == std::string::npos || first == 0)
    throw CLI::ValidationError("-v", "\"" + text + "\": expected HOST:CONTAINER[:ro]");
  sandbox::BindMount b;
  b.source = fs::absolute(text.substr(0, first)).lexically_normal();
  std::string rest = text.substr(first + 1);
  const auto second = rest.find(':');
  if (second != std::string::npos) {
    const std::string mode = rest.substr(second + 1);
    if (mode == "ro") b.read_only = true;
    else if (mode != "rw")
      throw CLI::ValidationError("-v", "\"" + text + "\": mode must be ro or rw, not " + mode);
    rest.resize(second);
  }
  if (rest.empty() || rest.front() != '/')
    throw CLI::ValidationError("-v", "\"" + text + "\": the container path must be absolute");
  b.target = fs::path(rest).lexically_normal().string();
  if (b.target.size() > 1 && b.target.back() == '/') b.target.pop_back();
  return b;
}

build::ContainerOptions options_from(const RunArgs& a, std::vector<std::string> rest,
                                     const Config& config) {
  if (rest.empty()) throw CLI::ValidationError("IMAGE", "cairn run needs an image");
  // Options end at IMAGE; before it, anything with a dash is an option cairn lacks.
  if (rest.front().size() > 1 && rest.front().front() == '-')
    throw CLI::ValidationError(rest.front(), "unknown option of cairn run");
  build::ContainerOptions o;
  o.image = rest.front();
  o.command.assign(rest.begin() + 1, rest.end());
  if (a.entrypoint_set) o.entrypoint = a.entrypoint;
  o.env = a.env;
  if (!a.workdir.empty()) o.workdir = a.workdir;
  if (!a.user.empty()) o.user = a.user;
  if (a.network == "host") o.network = sandbox::Network::host;
  else if (a.network == "none") o.network = sandbox::Network::none;
  else throw CLI::ValidationError("--network", "must be host or none, not " + a.network);
  for (const std::string& v : a.volumes) o.binds.push_back(parse_volume(v));
  o.stdin_open = a.interactive;
  o.terminal = a.tty;
  if (a.tty && !::isatty(STDIN_FILENO))
    throw CLI::ValidationError("-t", "the input device is not a TTY");
  const std::string userns = a.userns.empty() ? config.userns : a.userns;
  const auto choice = sandbox::parse_id_mode_choice(userns);
  if (!choice) throw CLI::ValidationError("--userns", "must be auto, single or range, not " + userns);
  o.userns = *choice;
  o.hostname = a.hostname;
  o.commit = a.commit;
  return o;
}

int run_image(const RunArgs& args, const std::vector<std::string>& rest, const Config& config) {
  build::ContainerOptions options;
  try {
    options = options_from(args, rest, config);
  } catch (const CLI::ValidationError& e) {
    // docker run answers its own usage errors with 125 too, which scripts rely on.
    fmt::print(stderr, "cairn run: error: {}\nSee 'cairn run --help'.\n", e.what());
    return kRuntimeFailure;
  }
  try {
    store::Store store = open_store(config);
    const build::RunResult result = build::run_container(store, options);
    if (!result.error.empty()) fmt::print(stderr, "cairn run: {}\n", result.error);
    if (!result.committed_id.empty()) fmt::print("{}\n", result.committed_id);
    return result.status;
  } catch (const Error& e) {
    fmt::print(stderr, "cairn run: error: {}\n", e.what());
    return kRuntimeFailure;
  }
}

}  // namespace

Command register_run(CLI::App& root) {
  auto args = std::make_shared<RunArgs>();
  CLI::App* app = root.add_subcommand(
      "run", "Run a command in an image, in a rootless sandbox (like docker run): cairn run [OPTIONS] IMAGE [COMMAND [ARG...]]");
  // IMAGE and everything after it are the command's, options included.
  app->prefix_command();
  app->allow_extras();
  app->fallthrough(false);  // the positionals are ours, not the root's
  app->set_help_flag("--help", "Print this help message and exit");  // -h is --hostname
  app->add_flag("--rm", args->remove,
                "Accepted for docker's sake: cairn keeps no container once the command ends");
  app->add_option("-e,--env", args->env, "Set a variable (K=V), or pass K from cairn's environment")
      ->type_name("K=V")->allow_extra_args(false);
  app->add_option("-w,--workdir", args->workdir, "Working directory (created when missing)")
      ->type_name("DIR");
  app->add_option("-u,--user", args->user, "User: name, uid, name:group or uid:gid")
      ->type_name("USER");
  app->add_option("--network", args->network, "host (default) or none (only loopback)")
      ->type_name("MODE");
  app->add_option("-v,--volume", args->volumes, "Bind mount a host path (ro: read-only)")
      ->type_name("HOST:CTR[:ro]")->allow_extra_args(false);
  app->add_option("--entrypoint", args->entrypoint, "Replace the image's Entrypoint ('' clears it)")
      ->type_name("CMD")
      ->each([args](const std::string&) { args->entrypoint_set = true; });
  app->add_flag("-i,--interactive", args->interactive, "Keep standard input open for the command");
  app->add_flag("-t,--tty", args->tty, "Give the command this terminal (stdin must be one)");
  app->add_option("--userns", args->userns,
                  "Id mapping: auto (default; cairn.toml sandbox.userns), single or range")
      ->type_name("MODE");
  app->add_option("-h,--hostname", args->hostname, "Hostname inside (default: random)")
      ->type_name("NAME");
  app->add_option("--commit", args->commit, "Keep the changes as a new image named NAME")
      ->type_name("NAME");
  return {app, [args, app](const Config& config) { return run_image(*args, app->remaining(), config); }};
}

}  // namespace cairn::cli
