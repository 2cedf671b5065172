// Typed Dockerfile instructions: each syntax node checked against its instruction's
// grammar (flags, argument counts, forms) and turned into a plain value. Words are kept
// as written here; expansion of ARG/ENV happens per stage (stages.hpp).
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "cairn/frontend/ast.hpp"

namespace cairn::frontend {

// A command in shell form (one string for the stage's SHELL) or exec form (argv).
struct CommandLine {
  bool exec_form = false;
  std::vector<std::string> args;  // shell form: exactly one element
  bool empty() const { return args.empty(); }
};

struct KeyValue {
  std::string key;
  std::string value;
};

struct FromInstruction {
  std::string image;  // "scratch", a reference, or a stage name (unexpanded)
  std::optional<std::string> stage_name;  // lower-case, from "AS name"
  std::optional<std::string> platform;    // --platform
};

enum class MountType { bind, cache, tmpfs, secret, ssh };
enum class CacheSharing { shared, private_, locked };

// RUN --mount=type=...,key=value,...
struct MountSpec {
  MountType type = MountType::bind;
  std::string target;                  // target|dst|destination
  std::optional<std::string> source;   // source|src
  std::optional<std::string> from;     // a stage, an image, or the context
  bool readonly = false;               // bind defaults to read-only, cache/tmpfs to read-write
  std::optional<std::string> id;       // cache/secret/ssh id
  CacheSharing sharing = CacheSharing::shared;
  std::optional<unsigned> mode;        // octal file mode
  std::optional<long> uid;
  std::optional<long> gid;
  std::optional<long long> size;       // tmpfs size in bytes
  bool required = false;               // secret/ssh: fail when missing
  std::optional<std::string> env;      // secret: expose as an environment variable
  std::string raw;                     // the flag value as written (for messages, cache keys)
};

struct RunInstruction {
  CommandLine command;
  std::vector<MountSpec> mounts;
  std::optional<std::string> network;   // default|none|host
  std::optional<std::string> security;  // sandbox|insecure
  std::vector<Heredoc> heredocs;
};

struct CmdInstruction {
  CommandLine command;
};
struct EntrypointInstruction {
  CommandLine command;
};
struct ShellInstruction {
  std::vector<std::string> shell;
};
struct LabelInstruction {
  std::vector<KeyValue> labels;
};
struct MaintainerInstruction {
  std::string name;
};
struct ExposeInstruction {
  std::vector<std::string> ports;
};
struct EnvInstruction {
  std::vector<KeyValue> vars;
};

// COPY and ADD.
struct CopyInstruction {
  bool is_add = false;
  std::vector<std::string> sources;  // heredoc sources appear as "<<NAME" words
  std::string destination;
  bool json = false;
  std::optional<std::string> chown;
  std::optional<std::string> chmod;
  std::optional<std::string> from;      // COPY --from
  std::optional<std::string> checksum;  // ADD --checksum
  bool link = false;
  bool parents = false;
  std::optional<bool> keep_git_dir;  // ADD --keep-git-dir
  std::optional<bool> unpack;        // ADD --unpack
  std::vector<std::string> excludes;
  std::vector<Heredoc> heredocs;
};

struct VolumeInstruction {
  std::vector<std::string> paths;
};
struct UserInstruction {
  std::string user;
};
struct WorkdirInstruction {
  std::string path;
};

struct ArgDeclaration {
  std::string name;
  std::optional<std::string> default_value;  // unexpanded, quotes kept
};
struct ArgInstruction {
  std::vector<ArgDeclaration> args;
};

struct Instruction;
struct OnbuildInstruction {
  std::string expression;  // the trigger as written, as docker stores it in the config
  std::shared_ptr<const Instruction> trigger;
};
struct StopsignalInstruction {
  std::string signal;
};

struct HealthcheckInstruction {
  bool none = false;  // HEALTHCHECK NONE
  CommandLine test;
  std::optional<std::chrono::nanoseconds> interval;
  std::optional<std::chrono::nanoseconds> timeout;
  std::optional<std::chrono::nanoseconds> start_period;
  std::optional<std::chrono::nanoseconds> start_interval;
  std::optional<int> retries;
};

using InstructionValue =
    std::variant<FromInstruction, RunInstruction, CmdInstruction, EntrypointInstruction,
                 ShellInstruction, LabelInstruction, MaintainerInstruction, ExposeInstruction,
                 EnvInstruction, CopyInstruction, VolumeInstruction, UserInstruction,
                 WorkdirInstruction, ArgInstruction, OnbuildInstruction, StopsignalInstruction,
                 HealthcheckInstruction>;

struct Instruction {
  InstructionValue value;
  std::string keyword;   // upper-case: "RUN"
  std::string original;  // the assembled line, as docker records it in history
  int start_line = 0;
  int end_line = 0;
};

// Checks one node against its instruction's grammar. Throws DockerfileError pointing at
// the offending flag or argument.
Instruction parse_instruction(const Dockerfile& file, const Node& node);

// Go's time.ParseDuration ("1m30s", "500ms", "1.5h"); nullopt when malformed.
std::optional<std::chrono::nanoseconds> parse_go_duration(std::string_view text);

// Parses one --mount value; throws std::invalid_argument with a message on bad input.
MountSpec parse_mount(std::string_view value);

}  // namespace cairn::frontend
