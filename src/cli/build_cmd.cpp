// cairn build: a Dockerfile and its context to an image, as `docker build` does it.
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <thread>

#include "app.hpp"
#include "cairn/base/error.hpp"
#include "cairn/base/sys.hpp"
#include "cairn/build/build.hpp"

namespace cairn::cli {
namespace {

namespace fs = std::filesystem;

struct BuildArgs {
  std::vector<std::string> tags, build_args, labels, secrets, outputs, ssh, cache_from;
  std::string cache_to;
  std::string file, target, pull = "missing", network = "default", progress = "auto";
  std::string iidfile, userns, platform, context;
  bool no_cache = false, quiet = false;
  unsigned jobs = 0;
};

std::string read_dockerfile(const BuildArgs& a, const std::optional<fs::path>& context,
                            std::optional<fs::path>& path) {
  if (a.context == "-" && (a.file.empty() || a.file == "-"))
    return sys::read_all(STDIN_FILENO, "standard input");
  if (a.file == "-") return sys::read_all(STDIN_FILENO, "standard input");
  fs::path file = a.file;
  if (file.empty()) {
    file = *context / "Dockerfile";
    std::error_code ec;
    if (!fs::exists(file, ec) && fs::exists(*context / "Containerfile", ec))
      file = *context / "Containerfile";
  }
  path = file;
  try {
    return with_context("read the Dockerfile", [&] { return sys::read_file(file.string()); });
  } catch (Error& e) {
    if (e.errno_value() == ENOENT)
      e.hint("name it with -f FILE, or -f - to read it from standard input");
    throw;
  }
}

std::optional<std::int64_t> source_date_epoch() {
  const char* value = std::getenv("SOURCE_DATE_EPOCH");
  if (!value || !*value) return std::nullopt;
  char* end = nullptr;
  const long long n = std::strtoll(value, &end, 10);
  if (*end != '\0' || n < 0)
    throw Error(fmt::format("SOURCE_DATE_EPOCH=\"{}\" is not a number of seconds", value));
  return n;
}


void check_choices(const BuildArgs& a) {
  if (a.pull != "missing" && a.pull != "never" && a.pull != "always" && a.pull != "true" &&
      a.pull != "false")
    throw CLI::ValidationError("--pull", "must be never, missing or always, not " + a.pull);
  if (a.network != "default" && a.network != "host" && a.network != "none")
    throw CLI::ValidationError("--network", "must be host or none, not " + a.network);
}

build::BuildOptions options_from(const BuildArgs& a, const Config& config) {
  check_choices(a);
  build::BuildOptions o;
  if (a.context.empty())
    throw CLI::ValidationError("CONTEXT", "cairn build needs a context directory or -");
  if (a.context != "-") {
    std::error_code ec;
    if (!fs::is_directory(a.context, ec))
      throw Error("build context " + a.context + " is not a directory");
    o.context = fs::absolute(a.context).lexically_normal();
  }
  o.dockerfile_text = read_dockerfile(a, o.context, o.dockerfile_path);
  o.dockerfile_name = o.dockerfile_path ? o.dockerfile_path->filename().string() : "Dockerfile";
  if (o.dockerfile_path) o.dockerfile_path = fs::absolute(*o.dockerfile_path);
  o.tags = a.tags;
  o.stage_options.build_args = build_arg_map(a.build_args);
  if (!a.target.empty()) o.stage_options.target = a.target;
  if (!a.platform.empty()) {
    try {
      o.stage_options.target_platform = frontend::Platform::parse(a.platform);
    } catch (const std::invalid_argument& e) {
      throw CLI::ValidationError("--platform", e.what());
    }
  }
  o.no_cache = a.no_cache;
  o.network = a.network == "none" ? sandbox::Network::none : sandbox::Network::host;
  for (const std::string& label : a.labels) {
    const auto eq = label.find('=');
    if (eq == 0) throw CLI::ValidationError("--label", "\"" + label + "\": the key is empty");
    o.labels[label.substr(0, eq)] = eq == std::string::npos ? "" : label.substr(eq + 1);
  }
  for (const std::string& s : a.secrets)
    o.secrets.push_back(build::parse_secret(s));
  for (const std::string& s : a.ssh) {  // a later --ssh of the same id wins, as --secret's
    auto [id, socket] = build::parse_ssh(s, std::getenv("SSH_AUTH_SOCK"));
    o.ssh_agents[id] = socket;
  }
  for (const std::string& out : a.outputs)
    o.outputs.push_back(build::parse_output(out));
  const std::string userns = a.userns.empty() ? config.userns : a.userns;
  const auto choice = sandbox::parse_id_mode_choice(userns);
  if (!choice)
    throw CLI::ValidationError("--userns", "must be auto, single or range, not " + userns);
  o.userns = *choice;
  o.source_date_epoch = source_date_epoch();
  o.progress = progress_mode(a.progress, a.quiet);
  o.pull = a.pull == "always" || a.pull == "true" ? build::PullPolicy::always
           : a.pull == "never" || a.pull == "false" ? build::PullPolicy::never
                                                    : build::PullPolicy::missing;
  o.registry = config.registry;
  for (const std::string& c : a.cache_from) o.cache_from.push_back(build::parse_cache_ref(c, "--cache-from"));
  if (!a.cache_to.empty()) o.cache_to = build::parse_cache_ref(a.cache_to, "--cache-to");
  o.jobs = a.jobs > 0 ? a.jobs : std::max(1u, std::thread::hardware_concurrency());
  return o;
}

void add_options(CLI::App* app, BuildArgs& a) {
  app->add_option("-t,--tag", a.tags, "Name the image NAME[:TAG] (repeatable)")
      ->type_name("NAME")
      ->allow_extra_args(false);
  app->add_option("-f,--file", a.file,
                  "The Dockerfile (default: CONTEXT/Dockerfile); - reads standard input")
      ->type_name("FILE");
  app->add_option("--build-arg", a.build_args,
                  "Set a build argument; KEY alone takes $KEY (repeatable)")
      ->type_name("KEY[=VALUE]")
      ->allow_extra_args(false);
  app->add_option("--target", a.target, "Build this stage (default: the last)")->type_name("STAGE");
  app->add_flag("--no-cache", a.no_cache, "Run every step; do not use the layer cache");
  app->add_flag("--pull{always}", a.pull,
                "Pull FROM images: never (store only), missing (default: when the store lacks "
                "them) or always (--pull: the registry's current image)");
  app->add_option("--cache-from", a.cache_from,
                  "Use the build cache at a registry: type=registry,ref=REF (or REF; repeatable)")
      ->type_name("CACHE")
      ->allow_extra_args(false);
  app->add_option("--cache-to", a.cache_to,
                  "Export every step's cache to a registry: type=registry,ref=REF")
      ->type_name("CACHE");
  app->add_option("--network", a.network, "Network of RUN steps: host (default) or none")
      ->type_name("MODE");
  app->add_option("--label", a.labels, "Add a label to the image (repeatable)")
      ->type_name("KEY=VALUE")
      ->allow_extra_args(false);
  app->add_option("--secret", a.secrets, "A secret for RUN --mount=type=secret (repeatable)")
      ->type_name("id=ID,src=PATH")
      ->allow_extra_args(false);
  app->add_option(
         "--ssh", a.ssh,
         "Forward an ssh agent to RUN --mount=type=ssh: default ($SSH_AUTH_SOCK) or ID=SOCKET")
      ->type_name("ID[=SOCKET]")
      ->allow_extra_args(false);
  app->add_option("--jobs", a.jobs,
                  "Stages built at once when they do not depend on each other "
                  "(default: the number of CPUs; 1: one after another)")
      ->type_name("N");
  app->add_option("--progress", a.progress, "auto, tty, plain or quiet")->type_name("MODE");
  app->add_flag("-q,--quiet", a.quiet, "Print only the image ID");
  app->add_option("--iidfile", a.iidfile, "Write the image ID to FILE")->type_name("FILE");
  app->add_option("-o,--output", a.outputs,
                  "Also write the image: type=hybrid|docker|oci,dest=FILE or type=local,dest=DIR")
      ->type_name("SPEC")
      ->allow_extra_args(false);
  app->add_option("--platform", a.platform, "Target platform for TARGETPLATFORM/TARGETARCH")
      ->type_name("OS/ARCH[/VARIANT]");
  app->add_option("--userns", a.userns, "Id mapping of RUN steps: auto (default), single or range")
      ->type_name("MODE");
  app->add_option("context", a.context,
                  "The build context directory, or - (Dockerfile on standard input, no context)")
      ->type_name("CONTEXT");
}

}  // namespace

Command register_build(CLI::App& root) {
  auto args = std::make_shared<BuildArgs>();
  CLI::App* app = root.add_subcommand(
      "build", "Build an image from a Dockerfile, without root (as docker build does)");
  add_options(app, *args);
  return {app, [args](const Config& config) {
            const build::BuildOptions options = options_from(*args, config);
            store::Store store = open_store(config);
            const build::BuildResult result = build::build_image(store, options);
            if (!args->iidfile.empty())
              sys::write_file_atomic(args->iidfile, result.image_id + "\n");
            fmt::print("{}\n", result.image_id);
            return 0;
          }};
}

}  // namespace cairn::cli
