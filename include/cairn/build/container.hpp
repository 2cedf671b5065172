// An image run in the sandbox on cairn's overlay: what `cairn run` does, and what a RUN
// step of a build will do. This is where store, overlay and sandbox meet.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "cairn/sandbox/sandbox.hpp"
#include "cairn/store/store.hpp"

namespace cairn::build {

struct ContainerOptions {
  std::string image;                       // name or ID
  std::vector<std::string> command;        // replaces the image's Cmd when not empty
  std::optional<std::string> entrypoint;   // --entrypoint ("" clears the image's)
  std::vector<std::string> env;            // -e K=V, or K (taken from cairn's environment)
  std::optional<std::string> workdir;      // -w
  std::optional<std::string> user;         // -u
  sandbox::Network network = sandbox::Network::host;
  std::vector<sandbox::BindMount> binds;   // -v
  bool stdin_open = false;                 // -i
  bool terminal = false;                   // -t
  sandbox::IdModeChoice userns = sandbox::IdModeChoice::automatic;
  std::string hostname;                    // default: 12 hex digits, as docker's
  std::string commit;                      // --commit NAME: keep the changes as an image
};

// The process an image's config and the options ask for (pure: unit-tested).
struct ProcessRequest {
  std::vector<std::string> argv;
  std::vector<std::string> env;
  std::string cwd;
  std::string user;  // as USER says it, resolved later through the image's files
};
// Docker's rules: --entrypoint replaces Entrypoint and drops the image's Cmd; arguments
// replace Cmd; Env gets PATH when missing, then HOSTNAME, then -e (later wins); the working
// directory is -w, else WorkingDir, else /. Throws Error when there is no command.
ProcessRequest process_request(const nlohmann::json& image_config, const ContainerOptions& options,
                               const std::vector<std::string>& host_env);

// HOME from the resolved user when the environment has none (docker's rule), TERM for a
// terminal.
void complete_env(std::vector<std::string>& env, const std::string& home, bool terminal);

struct RunResult {
  int status = 0;
  std::string error;         // the command never started (exit status 126/127)
  std::string committed_id;  // --commit: the new image's ID
};

// Runs the container and, with `commit`, stores its changes as a new image. Enters a user
// namespace: call it from a process that has started no thread yet.
RunResult run_container(store::Store& store, const ContainerOptions& options);

}  // namespace cairn::build
