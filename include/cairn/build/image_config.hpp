// How Dockerfile instructions change an image config (the "config" object of an OCI
// image config with Docker's extensions), as docker does it. Used by `cairn import
// --change` now and by `cairn build` for its metadata instructions.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cairn/frontend/instructions.hpp"

namespace cairn::build {

// What docker tracks while it applies one stage's instructions.
struct StageState {
  std::vector<std::string> shell = {"/bin/sh", "-c"};  // SHELL, for shell-form commands
  bool cmd_set = false;  // a CMD of this stage survives a later ENTRYPOINT
};

// Applies one (expanded) instruction: CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, ONBUILD,
// STOPSIGNAL, USER, VOLUME, WORKDIR, SHELL, HEALTHCHECK, MAINTAINER. Throws
// std::invalid_argument for any other instruction.
void apply_to_config(nlohmann::json& config, const frontend::Instruction& instruction,
                     StageState& state);

// `docker import --change` / `docker commit --change`: parses each line as one Dockerfile
// instruction (only CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, ONBUILD, STOPSIGNAL, USER, VOLUME,
// WORKDIR are allowed, as docker allows) and applies them in order. Throws Error naming
// the offending change.
void apply_changes(nlohmann::json& config, const std::vector<std::string>& changes);

}  // namespace cairn::build
