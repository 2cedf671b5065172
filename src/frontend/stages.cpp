// Stages, their dependency graph and the target's needs (describe_build).
#include "cairn/frontend/stages.hpp"

#include <sys/utsname.h>

#include <algorithm>
#include <exception>
#include <functional>
#include <stdexcept>

#include "cairn/frontend/diagnostic.hpp"
#include "cairn/frontend/expand.hpp"
#include "text.hpp"

namespace cairn::frontend {
namespace {

std::map<std::string, std::string> platform_args(const StageOptions& options) {
  const Platform& b = options.build_platform;
  const Platform& t = options.target_platform;
  return {{"BUILDPLATFORM", b.str()},  {"BUILDOS", b.os},  {"BUILDARCH", b.architecture},
          {"BUILDVARIANT", b.variant}, {"TARGETPLATFORM", t.str()}, {"TARGETOS", t.os},
          {"TARGETARCH", t.architecture}, {"TARGETVARIANT", t.variant}};
}

VarLookup map_lookup(const std::map<std::string, std::string>& values) {
  return [&values](std::string_view name) -> std::optional<std::string> {
    auto it = values.find(std::string(name));
    if (it == values.end()) return std::nullopt;
    return it->second;
  };
}

std::string expand_word(const Dockerfile& file, const Instruction& ins, const std::string& word,
                        const VarLookup& lookup, std::set<std::string>* used) {
  try {
    return Expander(file.directives.escape).word(word, lookup, used);
  } catch (const ExpandError& e) {
    const std::size_t line_index = static_cast<std::size_t>(ins.start_line - 1);
    const std::string& line = line_index < file.lines.size() ? file.lines[line_index] : word;
    const std::size_t at = line.find(word);
    const int column = at == std::string::npos ? 0 : static_cast<int>(at + e.offset()) + 1;
    throw error_at(file, Position{ins.start_line, column}, e.what());
  }
}

// ARGs before the first FROM: defaults expand with the ARGs before them; --build-arg wins.
void resolve_global_args(const Dockerfile& file, BuildDescription& build,
                         const StageOptions& options, const std::vector<Instruction>& globals) {
  std::map<std::string, std::string> scope = platform_args(options);
  for (const auto& ins : globals) {
    for (const auto& decl : std::get<ArgInstruction>(ins.value).args) {
      auto override_it = options.build_args.find(decl.name);
      if (override_it != options.build_args.end() && override_it->second) {
        build.global_arg_values[decl.name] = *override_it->second;
      } else if (decl.default_value) {
        build.global_arg_values[decl.name] =
            expand_word(file, ins, *decl.default_value, map_lookup(scope), nullptr);
      } else {
        continue;
      }
      scope[decl.name] = build.global_arg_values[decl.name];
    }
  }
}

int find_stage(const BuildDescription& build, const std::string& name, int before) {
  const std::string lowered = text::lower(name);
  for (int i = 0; i < before && i < static_cast<int>(build.stages.size()); ++i)
    if (build.stages[i].name == lowered) return i;
  return -1;
}

void resolve_bases(const Dockerfile& file, BuildDescription& build, const StageOptions& options) {
  std::map<std::string, std::string> scope = platform_args(options);
  for (const auto& [k, v] : build.global_arg_values) scope[k] = v;
  const VarLookup lookup = map_lookup(scope);
  for (auto& stage : build.stages) {
    const auto& from = std::get<FromInstruction>(stage.from.value);
    std::set<std::string> used;
    stage.base = expand_word(file, stage.from, from.image, lookup, &used);
    for (const auto& name : used)
      if (!scope.count(name)) stage.unresolved_args.insert(name);
    if (stage.base.empty())
      throw error_at(file, Position{stage.from.start_line, 0},
                     "base name (" + from.image + ") should not be blank");
    if (from.platform) stage.platform = expand_word(file, stage.from, *from.platform, lookup, nullptr);
    for (int i = 0; i < stage.index; ++i) {
      if (build.stages[i].name && stage.name && *build.stages[i].name == *stage.name)
        throw error_at(file, stage.name_position,
                       "duplicate stage name \"" + *stage.name + "\" (first used on line " +
                           std::to_string(build.stages[i].from.start_line) + ")");
    }
    int base = find_stage(build, stage.base, stage.index);
    if (base >= 0) {
      stage.base_stage = base;
      stage.dependencies.insert(base);
    }
  }
}

// A --from / from= value: a stage name, a stage index, or an image (no dependency).
std::optional<int> stage_reference(const Dockerfile& file, const BuildDescription& build,
                                   const Stage& stage, const Instruction& ins,
                                   const std::string& ref) {
  if (!ref.empty() && ref.find_first_not_of("0123456789") == std::string::npos) {
    const long index = std::stol(ref.substr(0, 9));
    if (index >= stage.index)
      throw error_at(file, Position{ins.start_line, 0},
                     "--from=" + ref + " refers to stage " + ref +
                         ", which is not defined before this stage (stage " +
                         std::to_string(stage.index) + ")");
    return static_cast<int>(index);
  }
  int found = find_stage(build, ref, static_cast<int>(build.stages.size()));
  if (found < 0) return std::nullopt;
  if (found == stage.index)
    throw error_at(file, Position{ins.start_line, 0},
                   "circular dependency: stage \"" + stage.display_name() + "\" refers to itself");
  return found;
}

// Returns, per stage, the expansion error it hit (if any); only the stages the target
// needs report theirs.
std::vector<std::exception_ptr> resolve_references(const Dockerfile& file,
                                                   BuildDescription& build,
                                                   const StageOptions& options) {
  std::vector<std::vector<KeyValue>> final_env(build.stages.size());
  std::vector<std::exception_ptr> failures(build.stages.size());
  for (auto& stage : build.stages) {
    try {
      const auto& base_env = stage.base_stage ? final_env[*stage.base_stage] : std::vector<KeyValue>{};
      ExpandedStage expanded = expand_stage(file, build, stage, base_env, options);
      if (!expanded.steps.empty()) final_env[stage.index] = *expanded.steps.back().env;
      else if (stage.base_stage) final_env[stage.index] = final_env[*stage.base_stage];
      for (const auto& step : expanded.steps) {
        std::vector<std::string> refs;
        if (auto* copy = std::get_if<CopyInstruction>(&step.instruction.value))
          if (copy->from) refs.push_back(*copy->from);
        if (auto* run = std::get_if<RunInstruction>(&step.instruction.value))
          for (const auto& mount : run->mounts)
            if (mount.from) refs.push_back(*mount.from);
        for (const auto& ref : refs)
          if (auto dep = stage_reference(file, build, stage, step.instruction, ref))
            stage.dependencies.insert(*dep);
      }
    } catch (...) {
      failures[stage.index] = std::current_exception();
    }
  }
  return failures;
}

void order_stages(const Dockerfile& file, BuildDescription& build) {
  enum class Mark { none, visiting, done };
  std::vector<Mark> marks(build.stages.size(), Mark::none);
  std::function<void(int)> visit = [&](int index) {
    if (marks[index] == Mark::done) return;
    const Stage& stage = build.stages[index];
    if (marks[index] == Mark::visiting)
      throw error_at(file, stage.name_position,
                     "circular dependency detected on stage: " + stage.display_name());
    marks[index] = Mark::visiting;
    for (int dep : stage.dependencies) visit(dep);
    marks[index] = Mark::done;
    build.order.push_back(index);
  };
  build.order.clear();
  visit(build.target);
}

void choose_target(const Dockerfile& file, BuildDescription& build, const StageOptions& options) {
  build.target = static_cast<int>(build.stages.size()) - 1;
  if (!options.target) return;
  int found = find_stage(build, *options.target, static_cast<int>(build.stages.size()));
  if (found < 0) {
    std::string names;
    for (const auto& s : build.stages)
      if (s.name) names += (names.empty() ? "" : ", ") + *s.name;
    throw error_at(file, Position{},
                   "target stage \"" + *options.target + "\" could not be found" +
                       (names.empty() ? " (no stage has a name)" : " (stages: " + names + ")"));
  }
  build.target = found;
}

void find_unused_build_args(BuildDescription& build, const StageOptions& options) {
  std::set<std::string> declared;
  for (const auto& arg : build.global_args)
    for (const auto& decl : arg.args) declared.insert(decl.name);
  for (int index : build.order)
    for (const auto& ins : build.stages[index].instructions)
      if (auto* arg = std::get_if<ArgInstruction>(&ins.value))
        for (const auto& decl : arg->args) declared.insert(decl.name);
  for (const auto& [name, value] : options.build_args)
    if (!declared.count(name) && !is_predefined_arg(name)) build.unused_build_args.push_back(name);
}

}  // namespace

std::string Stage::display_name() const { return name ? *name : std::to_string(index); }

Platform Platform::host() {
  struct utsname u;
  Platform p;
  std::string machine = ::uname(&u) == 0 ? u.machine : "x86_64";
  if (machine == "x86_64") p.architecture = "amd64";
  else if (machine == "aarch64" || machine == "arm64") { p.architecture = "arm64"; }
  else if (machine.rfind("armv7", 0) == 0) { p.architecture = "arm"; p.variant = "v7"; }
  else if (machine.rfind("armv6", 0) == 0) { p.architecture = "arm"; p.variant = "v6"; }
  else if (machine == "i686" || machine == "i386") p.architecture = "386";
  else p.architecture = machine;  // ppc64le, s390x, riscv64 keep their names
  return p;
}

Platform Platform::parse(std::string_view text) {
  std::vector<std::string> parts;
  std::size_t start = 0;
  for (std::size_t i = 0; i <= text.size(); ++i) {
    if (i == text.size() || text[i] == '/') {
      parts.emplace_back(text.substr(start, i - start));
      start = i + 1;
    }
  }
  if (parts.size() < 2 || parts.size() > 3 || parts[0].empty() || parts[1].empty())
    throw std::invalid_argument("invalid platform \"" + std::string(text) +
                                "\": expected OS/ARCH[/VARIANT], e.g. linux/arm64");
  Platform p{text::lower(parts[0]), text::lower(parts[1]), parts.size() == 3 ? parts[2] : ""};
  if (p.architecture == "x86_64") p.architecture = "amd64";
  if (p.architecture == "aarch64") p.architecture = "arm64";
  return p;
}

std::string Platform::str() const {
  return os + "/" + architecture + (variant.empty() ? "" : "/" + variant);
}

bool is_predefined_arg(std::string_view name) {
  static const std::set<std::string_view> kProxyArgs = {
      "HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "FTP_PROXY",
      "ftp_proxy",  "NO_PROXY",   "no_proxy",    "ALL_PROXY",   "all_proxy"};
  return kProxyArgs.count(name) != 0;
}

BuildDescription describe_build(const Dockerfile& file, const StageOptions& options) {
  BuildDescription build;
  std::vector<Instruction> global_arg_instructions;
  for (const Node& node : file.nodes) {
    Instruction ins = parse_instruction(file, node);
    if (auto* from = std::get_if<FromInstruction>(&ins.value)) {
      Stage stage;
      stage.index = static_cast<int>(build.stages.size());
      stage.name = from->stage_name;
      stage.name_position = node.position_of(
          from->stage_name ? node.find_in_args(node.args.back()) : node.args_offset);
      stage.from = std::move(ins);
      build.stages.push_back(std::move(stage));
    } else if (!build.stages.empty()) {
      build.stages.back().instructions.push_back(std::move(ins));
    } else if (auto* arg = std::get_if<ArgInstruction>(&ins.value)) {
      build.global_args.push_back(*arg);
      global_arg_instructions.push_back(std::move(ins));
    } else {
      throw error_at(file, node, 0,
                     ins.keyword + " before the first FROM: only ARG may come before FROM "
                                   "(no build stage in current context)");
    }
  }
  if (build.stages.empty())
    throw error_at(file, Position{}, "the Dockerfile has no FROM instruction: nothing to build");
  resolve_global_args(file, build, options, global_arg_instructions);
  resolve_bases(file, build, options);
  choose_target(file, build, options);
  // References may point forward (COPY --from a later stage), so order after resolving
  // them; a first ordering covers the base chain that expansion needs.
  order_stages(file, build);
  auto failures = resolve_references(file, build, options);
  order_stages(file, build);
  // An error in a stage that the target does not need must not fail the build.
  for (int index : build.order)
    if (failures[index]) std::rethrow_exception(failures[index]);
  find_unused_build_args(build, options);
  return build;
}

}  // namespace cairn::frontend
