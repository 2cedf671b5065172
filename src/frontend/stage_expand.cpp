// A stage's instructions with ARG and ENV expanded, in order, as BuildKit's dispatcher
// does it: ENV wins over ARG; an ARG without a value inherits the global ARG of the same
// name; --build-arg overrides defaults; only ADD, COPY, ENV, EXPOSE, LABEL, STOPSIGNAL,
// USER, VOLUME, WORKDIR, ARG defaults and RUN --mount options expand.
#include <stdexcept>

#include "cairn/frontend/diagnostic.hpp"
#include "cairn/frontend/expand.hpp"
#include "cairn/frontend/stages.hpp"

namespace cairn::frontend {
namespace {

void set_var(std::vector<KeyValue>& vars, const std::string& key, const std::string& value) {
  for (auto& kv : vars) {
    if (kv.key == key) {
      kv.value = value;
      return;
    }
  }
  vars.push_back({key, value});
}

class StageExpander {
 public:
  StageExpander(const Dockerfile& file, const BuildDescription& build,
                const StageOptions& options, const std::vector<KeyValue>& base_env)
      : file_(file), build_(build), options_(options), env_(base_env), expander_(file.directives.escape) {}

  ExpandedInstruction step(const Instruction& ins) {
    current_ = &ins;
    used_.clear();
    ExpandedInstruction out{ins, {}, {}, {}};
    std::visit([&](auto& value) { expand(value); }, out.instruction.value);
    if (auto* run = std::get_if<RunInstruction>(&out.instruction.value)) {
      (void)run;
      // A RUN command sees every ARG in scope (and given proxy args) in its environment.
      for (const auto& kv : args_) out.used_args.insert(kv.key);
      for (const auto& [name, value] : options_.build_args)
        if (value && is_predefined_arg(name)) out.used_args.insert(name);
    }
    for (const auto& name : used_) {
      bool shadowed = false;
      for (const auto& kv : env_) shadowed = shadowed || kv.key == name;
      bool is_arg = false;
      for (const auto& kv : args_) is_arg = is_arg || kv.key == name;
      if (is_arg && !shadowed) out.used_args.insert(name);
    }
    if (!env_snapshot_ || env_changed_) env_snapshot_ = std::make_shared<const std::vector<KeyValue>>(env_);
    if (!args_snapshot_ || args_changed_) args_snapshot_ = std::make_shared<const std::vector<KeyValue>>(args_);
    env_changed_ = args_changed_ = false;
    out.env = env_snapshot_;
    out.args = args_snapshot_;
    return out;
  }

 private:
  std::optional<std::string> lookup(std::string_view name) const {
    for (const auto& kv : env_)
      if (kv.key == name) return kv.value;
    for (const auto& kv : args_)
      if (kv.key == name) return kv.value;
    return std::nullopt;
  }

  std::string word(const std::string& text) {
    try {
      return expander_.word(text, [this](std::string_view n) { return lookup(n); }, &used_);
    } catch (const ExpandError& e) {
      throw located(text, e);
    }
  }

  std::vector<std::string> words(const std::string& text) {
    try {
      return expander_.words(text, [this](std::string_view n) { return lookup(n); }, &used_);
    } catch (const ExpandError& e) {
      throw located(text, e);
    }
  }

  DockerfileError located(const std::string& text, const ExpandError& e) const {
    for (int line = current_->start_line; line <= current_->end_line; ++line) {
      const std::string& source = file_.lines[static_cast<std::size_t>(line - 1)];
      const std::size_t at = source.find(text);
      if (at != std::string::npos)
        return error_at(file_, Position{line, static_cast<int>(at + e.offset()) + 1}, e.what());
    }
    return error_at(file_, Position{current_->start_line, 0}, e.what());
  }

  void expand(ArgInstruction& arg) {
    for (auto& decl : arg.args) {
      std::optional<std::string> value;
      auto given = options_.build_args.find(decl.name);
      auto global = build_.global_arg_values.find(decl.name);
      if (decl.default_value) decl.default_value = word(*decl.default_value);
      if (given != options_.build_args.end() && given->second) value = given->second;
      else if (decl.default_value) value = decl.default_value;
      else if (global != build_.global_arg_values.end()) value = global->second;
      else value = platform_value(decl.name);
      used_.insert(decl.name);
      if (value) set_var(args_, decl.name, *value);
      args_changed_ = true;
    }
  }

  std::optional<std::string> platform_value(const std::string& name) const {
    const Platform& b = options_.build_platform;
    const Platform& t = options_.target_platform;
    if (name == "BUILDPLATFORM") return b.str();
    if (name == "BUILDOS") return b.os;
    if (name == "BUILDARCH") return b.architecture;
    if (name == "BUILDVARIANT") return b.variant;
    if (name == "TARGETPLATFORM") return t.str();
    if (name == "TARGETOS") return t.os;
    if (name == "TARGETARCH") return t.architecture;
    if (name == "TARGETVARIANT") return t.variant;
    return std::nullopt;
  }

  void expand(EnvInstruction& env) {
    // Every pair of one ENV expands against the environment before that instruction.
    for (auto& kv : env.vars) {
      kv.key = word(kv.key);
      kv.value = word(kv.value);
    }
    for (const auto& kv : env.vars) set_var(env_, kv.key, kv.value);
    env_changed_ = true;
  }

  void expand(LabelInstruction& label) {
    for (auto& kv : label.labels) {
      kv.key = word(kv.key);
      kv.value = word(kv.value);
    }
  }

  void expand(ExposeInstruction& expose) {
    std::vector<std::string> ports;
    for (const auto& p : expose.ports)
      for (auto& w : words(p)) ports.push_back(std::move(w));
    expose.ports = std::move(ports);
  }

  void expand(CopyInstruction& copy) {
    for (auto& source : copy.sources) source = word(source);
    copy.destination = word(copy.destination);
    for (auto* flag : {&copy.chown, &copy.chmod, &copy.from, &copy.checksum})
      if (*flag) **flag = word(**flag);
    for (auto& exclude : copy.excludes) exclude = word(exclude);
    Expander raw(file_.directives.escape, ExpandOptions{true, true});
    for (auto& doc : copy.heredocs) {
      if (!doc.expand) continue;
      try {
        doc.content = raw.word(doc.content, [this](std::string_view n) { return lookup(n); }, &used_);
      } catch (const ExpandError& e) {
        throw error_at(file_, Position{doc.start_line, 0}, e.what());
      }
    }
  }

  void expand(RunInstruction& run) {
    for (auto& mount : run.mounts) {
      const std::string expanded = word(mount.raw);
      try {
        mount = parse_mount(expanded);
      } catch (const std::invalid_argument& e) {
        throw error_at(file_, Position{current_->start_line, 0}, std::string("--mount: ") + e.what());
      }
    }
  }

  void expand(VolumeInstruction& volume) {
    for (auto& path : volume.paths) path = word(path);
  }
  void expand(UserInstruction& user) { user.user = word(user.user); }
  void expand(WorkdirInstruction& workdir) { workdir.path = word(workdir.path); }
  void expand(StopsignalInstruction& signal) { signal.signal = word(signal.signal); }
  // CMD, ENTRYPOINT, SHELL, HEALTHCHECK and ONBUILD are not expanded by the builder: the
  // shell (or the later build that runs the trigger) sees them as written.
  template <typename Other>
  void expand(Other&) {}

  const Dockerfile& file_;
  const BuildDescription& build_;
  const StageOptions& options_;
  std::vector<KeyValue> env_;
  std::vector<KeyValue> args_;
  Expander expander_;
  std::set<std::string> used_;
  const Instruction* current_ = nullptr;
  std::shared_ptr<const std::vector<KeyValue>> env_snapshot_;
  std::shared_ptr<const std::vector<KeyValue>> args_snapshot_;
  bool env_changed_ = false;
  bool args_changed_ = false;
};

}  // namespace

ExpandedStage expand_stage(const Dockerfile& file, const BuildDescription& build,
                           const Stage& stage, const std::vector<KeyValue>& base_env,
                           const StageOptions& options) {
  StageExpander expander(file, build, options, base_env);
  ExpandedStage out;
  out.stage = &stage;
  out.steps.reserve(stage.instructions.size());
  for (const auto& ins : stage.instructions) out.steps.push_back(expander.step(ins));
  return out;
}

}  // namespace cairn::frontend
