// The command-line front: global options, subcommand registration, and the shared state
// that subcommands read (private to src/cli).
#pragma once

#include <CLI/CLI.hpp>

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cairn/build/build.hpp"
#include "cairn/config.hpp"
#include "cairn/store/store.hpp"

namespace cairn::cli {

struct GlobalOptions {
  std::string config_file;
  std::string root;
  std::string log_level;
  bool debug = false;
  bool timings = false;
};

// Each subcommand registers itself and returns the action that runs it. The action gets
// the loaded configuration and returns the process exit status.
using Action = std::function<int(const Config&)>;

struct Command {
  CLI::App* app = nullptr;
  Action action;
};

// The store of the configuration; an image by name or ID (Error when there is none).
store::Store open_store(const Config& config);
store::ImageEntry resolve(const store::Store& s, const std::string& name);

// --progress auto|tty|plain|quiet (quiet also with -q): auto is tty on a terminal.
build::ProgressMode progress_mode(const std::string& progress, bool quiet);

// "1.04MB": decimal units as docker prints sizes.
std::string human_size(unsigned long long bytes);

// --build-arg K=V sets K; a bare K takes $K from the environment (unset: nullopt).
std::map<std::string, std::optional<std::string>> build_arg_map(const std::vector<std::string>& args);

Command register_parse(CLI::App& root);
Command register_build(CLI::App& root);
std::vector<Command> register_mount_commands(CLI::App& root);
Command register_config(CLI::App& root);
Command register_doctor(CLI::App& root);
Command register_run(CLI::App& root);
std::vector<Command> register_image_commands(CLI::App& root);
std::vector<Command> register_registry_commands(CLI::App& root);

int run(int argc, char** argv);

}  // namespace cairn::cli
