#include "app.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include "cairn/base/error.hpp"
#include "cairn/base/log.hpp"
#include "cairn/base/timer.hpp"

namespace cairn::cli {

build::ProgressMode progress_mode(const std::string& progress, bool quiet) {
  if (quiet || progress == "quiet") return build::ProgressMode::quiet;
  if (progress == "plain") return build::ProgressMode::plain;
  if (progress == "tty") return build::ProgressMode::tty;
  if (progress == "auto")
    return ::isatty(STDERR_FILENO) ? build::ProgressMode::tty : build::ProgressMode::plain;
  throw CLI::ValidationError("--progress", "must be auto, tty, plain or quiet, not " + progress);
}
namespace {

constexpr const char* kDescription =
    "cairn builds container images from Dockerfiles without root, without a daemon and "
    "without setuid helpers.";

// Exit statuses: 0 success, 1 the operation failed, 2 the command line was wrong.
constexpr int kFailure = 1;
constexpr int kUsage = 2;

void add_global_options(CLI::App& app, GlobalOptions& g) {
  app.set_version_flag("-V,--version", std::string("cairn ") + CAIRN_VERSION);
  app.add_option("--config", g.config_file,
                 "Read settings from FILE only (default: /etc/cairn/cairn.toml, then "
                 "$XDG_CONFIG_HOME/cairn/cairn.toml)")
      ->type_name("FILE");
  app.add_option("--root", g.root, "Store directory (default: $XDG_DATA_HOME/cairn)")
      ->type_name("DIR");
  app.add_option("--log-level", g.log_level, "error, warn, info, debug or trace")
      ->type_name("LEVEL");
  app.add_flag("--debug", g.debug, "Same as --log-level debug");
  app.add_flag("--timings", g.timings, "Print the time spent in each phase when done");
}

ConfigOverrides overrides_from(const GlobalOptions& g) {
  ConfigOverrides o;
  if (!g.config_file.empty()) o.config_file = g.config_file;
  if (!g.root.empty()) o.storage_root = g.root;
  if (g.debug) o.log_level = LogLevel::debug;
  if (!g.log_level.empty()) {
    auto level = parse_log_level(g.log_level);
    if (!level)
      throw CLI::ValidationError("--log-level",
                                 "must be error, warn, info, debug or trace, not " + g.log_level);
    o.log_level = level;
  }
  if (g.timings) o.timings = true;
  return o;
}

// `cairn help [SUBCOMMAND]`: the same text as `cairn SUBCOMMAND --help`.
Command register_help(CLI::App& root, std::shared_ptr<std::string> topic) {
  CLI::App* app = root.add_subcommand("help", "Show help for cairn or one of its subcommands");
  app->add_option("subcommand", *topic, "The subcommand to describe");
  Command command{app, nullptr};
  command.action = [&root, topic](const Config&) {
    if (topic->empty()) {
      // root.help() would describe the subcommand that ran, i.e. `help` itself.
      std::fputs(root.get_formatter()->make_help(&root, root.get_name(), CLI::AppFormatMode::Normal).c_str(), stdout);
      return 0;
    }
    CLI::App* sub = nullptr;
    try {
      sub = root.get_subcommand(*topic);
    } catch (const CLI::OptionNotFound&) {
    }
    if (!sub) {
      fmt::print(stderr, "cairn: error: unknown subcommand '{}'; see 'cairn --help'\n", *topic);
      return kUsage;
    }
    std::fputs(sub->help(root.get_name()).c_str(), stdout);
    return 0;
  };
  return command;
}

Command register_version(CLI::App& root) {
  CLI::App* app = root.add_subcommand("version", "Print the version of cairn");
  return {app, [](const Config&) {
            fmt::print("cairn {}\n", CAIRN_VERSION);
            return 0;
          }};
}

}  // namespace

std::string human_size(unsigned long long bytes) {
  const char* units[] = {"B", "kB", "MB", "GB", "TB", "PB"};
  double value = static_cast<double>(bytes);
  int unit = 0;
  while (value >= 1000 && unit < 5) {
    value /= 1000;
    ++unit;
  }
  return unit == 0 ? fmt::format("{}B", bytes) : fmt::format("{:.3g}{}", value, units[unit]);
}

int run(int argc, char** argv) {
  CLI::App app(kDescription, "cairn");
  app.require_subcommand(0, 1);
  app.fallthrough();
  GlobalOptions globals;
  add_global_options(app, globals);
  auto help_topic = std::make_shared<std::string>();
  std::vector<Command> commands = {register_build(app), register_parse(app), register_config(app)};
  for (auto& c : register_image_commands(app)) commands.push_back(std::move(c));
  for (auto& c : register_registry_commands(app)) commands.push_back(std::move(c));
  for (auto& c : register_mount_commands(app)) commands.push_back(std::move(c));
  commands.push_back(register_run(app));
  commands.push_back(register_doctor(app));
  commands.push_back(register_help(app, help_topic));
  commands.push_back(register_version(app));
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    fmt::print(stderr, "cairn: error: {}\nSee 'cairn --help'.\n", e.what());
    return kUsage;
  }
  if (app.get_subcommands().empty()) {
    std::fputs(app.help().c_str(), stdout);
    return kUsage;
  }
  try {
    // help and version must work even when a cairn.toml is broken: they read no file.
    const bool needs_config = !app.got_subcommand("help") && !app.got_subcommand("version");
    Config config = needs_config
                        ? load_config(overrides_from(globals), ConfigEnvironment::from_process())
                        : Config{};
    set_log_level(config.log_level);
    int status = kFailure;
    for (auto& command : commands)
      if (command.app->parsed()) status = command.action(config);
    if (config.timings) Timings::global().print(stderr);
    return status;
  } catch (const CLI::ValidationError& e) {
    fmt::print(stderr, "cairn: error: {}\n", e.what());
    return kUsage;
  } catch (const Error& e) {
    fmt::print(stderr, "cairn: error: {}\n", e.what());
    return kFailure;
  } catch (const std::invalid_argument& e) {
    fmt::print(stderr, "cairn: error: {}\n", e.what());
    return kFailure;
  } catch (const std::exception& e) {
    fmt::print(stderr, "cairn: internal error: {}\n", e.what());
    return kFailure;
  }
}

}  // namespace cairn::cli
