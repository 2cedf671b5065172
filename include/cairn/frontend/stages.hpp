// From a parsed Dockerfile to what a build runs: stages, their dependency graph, the
// stages a --target needs, and each stage's instructions with ARG/ENV expanded as BuildKit
// expands them.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "cairn/frontend/ast.hpp"
#include "cairn/frontend/instructions.hpp"

namespace cairn::frontend {

struct Platform {
  std::string os = "linux";
  std::string architecture;
  std::string variant;

  // The machine cairn runs on (uname), in OCI terms: amd64, arm64, arm/v7, ...
  static Platform host();
  // "linux/arm64/v8", "linux/amd64"; throws std::invalid_argument when malformed.
  static Platform parse(std::string_view text);
  std::string str() const;
};

struct StageOptions {
  // --build-arg K=V; a K given without a value takes the value from the environment when
  // the caller resolved it, nullopt otherwise (then the ARG keeps its default).
  std::map<std::string, std::optional<std::string>> build_args;
  std::optional<std::string> target;  // --target
  Platform build_platform = Platform::host();
  Platform target_platform = Platform::host();
};

struct Stage {
  int index = 0;
  std::optional<std::string> name;  // lower-case
  Instruction from;                  // the FROM instruction as written
  Position name_position;            // where "AS name" names the stage (or FROM's line)
  std::string base;                  // FROM's image, expanded with the global ARGs
  std::optional<std::string> platform;  // FROM --platform, expanded
  std::optional<int> base_stage;     // FROM names an earlier stage
  std::vector<Instruction> instructions;  // after FROM
  std::set<int> dependencies;        // base stage, COPY --from, RUN --mount from=
  std::set<std::string> unresolved_args;  // names FROM used that had no value

  std::string display_name() const;  // the name, or the index
};

struct BuildDescription {
  std::vector<ArgInstruction> global_args;  // ARGs before the first FROM
  std::map<std::string, std::string> global_arg_values;  // after overrides, for FROM lines
  std::vector<Stage> stages;
  int target = 0;
  std::vector<int> order;  // the stages the target needs, dependencies first
  std::vector<std::string> unused_build_args;  // --build-arg names that no ARG declares
};

// Splits into stages, checks every instruction (parse_instruction), resolves FROM and
// --from references, detects cycles, prunes to the target. Throws DockerfileError.
BuildDescription describe_build(const Dockerfile& file, const StageOptions& options);

// One instruction after expansion, with what it depends on.
struct ExpandedInstruction {
  Instruction instruction;           // words replaced by their expansions
  std::set<std::string> used_args;   // build args whose values the step depends on
  // ENV in effect and ARG values in scope after the step. Snapshots are shared between
  // steps until an ENV or ARG changes them, so long Dockerfiles stay linear in memory.
  std::shared_ptr<const std::vector<KeyValue>> env;
  std::shared_ptr<const std::vector<KeyValue>> args;
};

struct ExpandedStage {
  const Stage* stage = nullptr;
  std::vector<ExpandedInstruction> steps;
};

// Expands a stage's instructions in order. `base_env` is the environment of the base
// image's config (the build passes the real one; `cairn parse` passes the parent stage's
// for stage bases and nothing for images). Throws DockerfileError for expansion errors.
ExpandedStage expand_stage(const Dockerfile& file, const BuildDescription& build,
                           const Stage& stage, const std::vector<KeyValue>& base_env,
                           const StageOptions& options);

// The instruction as docker would print it, e.g. for history and `cairn parse`.
std::string render_instruction(const Instruction& instruction);

// The ARGs a build defines without declaration (proxy variables).
bool is_predefined_arg(std::string_view name);

}  // namespace cairn::frontend
