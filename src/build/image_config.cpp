#include "cairn/build/image_config.hpp"

#include <stdexcept>

#include "cairn/base/error.hpp"
#include "cairn/frontend/ast.hpp"
#include "cairn/frontend/diagnostic.hpp"
#include "cairn/frontend/expand.hpp"
#include "state.hpp"

namespace cairn::build {
namespace {

using nlohmann::json;
using namespace frontend;

json command_json(const CommandLine& command, const std::vector<std::string>& shell) {
  if (command.exec_form) return command.args;
  json out = shell;
  if (!command.args.empty()) out.push_back(command.args.front());
  return out;
}

void set_env(json& config, const std::string& key, const std::string& value) {
  json& env = config["Env"];
  if (!env.is_array()) env = json::array();
  const std::string prefix = key + "=";
  for (auto& entry : env) {
    if (entry.get<std::string>().rfind(prefix, 0) == 0) {
      entry = prefix + value;
      return;
    }
  }
  env.push_back(prefix + value);
}

// "80" → "80/tcp"; docker keeps the protocol lower-case.
std::string port_key(std::string port) {
  if (port.find('/') == std::string::npos) port += "/tcp";
  for (auto& c : port) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return port;
}

long long millis_to_nanos(std::chrono::nanoseconds d) { return d.count(); }

struct Applier {
  json& config;
  StageState& state;

  void operator()(const CmdInstruction& v) {
    config["Cmd"] = command_json(v.command, state.shell);
    state.cmd_set = true;
  }
  void operator()(const EntrypointInstruction& v) {
    config["Entrypoint"] = command_json(v.command, state.shell);
    // docker: an ENTRYPOINT resets a CMD inherited from the base image, not one that this
    // stage set before it.
    if (!state.cmd_set) config["Cmd"] = nullptr;
  }
  void operator()(const EnvInstruction& v) {
    for (const auto& kv : v.vars) set_env(config, kv.key, kv.value);
  }
  void operator()(const ExposeInstruction& v) {
    for (const auto& p : v.ports) config["ExposedPorts"][port_key(p)] = json::object();
  }
  void operator()(const LabelInstruction& v) {
    for (const auto& kv : v.labels) config["Labels"][kv.key] = kv.value;
  }
  void operator()(const OnbuildInstruction& v) { config["OnBuild"].push_back(v.expression); }
  void operator()(const StopsignalInstruction& v) { config["StopSignal"] = v.signal; }
  void operator()(const UserInstruction& v) { config["User"] = v.user; }
  void operator()(const VolumeInstruction& v) {
    for (const auto& p : v.paths) config["Volumes"][p] = json::object();
  }
  void operator()(const WorkdirInstruction& v) {
    std::string dir = v.path;
    const std::string current = config.value("WorkingDir", "");
    if (!dir.empty() && dir.front() != '/') dir = (current.empty() ? "/" : current + "/") + dir;
    config["WorkingDir"] = dir;
  }
  void operator()(const ShellInstruction& v) {
    config["Shell"] = v.shell;
    state.shell = v.shell;
  }
  void operator()(const MaintainerInstruction&) {}  // recorded in the image's author field
  void operator()(const HealthcheckInstruction& v) {
    json hc;
    if (v.none) {
      hc["Test"] = {"NONE"};
    } else {
      json test = v.test.exec_form ? json{"CMD"} : json{"CMD-SHELL"};
      for (const auto& a : v.test.args) test.push_back(a);
      hc["Test"] = test;
      if (v.interval) hc["Interval"] = millis_to_nanos(*v.interval);
      if (v.timeout) hc["Timeout"] = millis_to_nanos(*v.timeout);
      if (v.start_period) hc["StartPeriod"] = millis_to_nanos(*v.start_period);
      if (v.start_interval) hc["StartInterval"] = millis_to_nanos(*v.start_interval);
      if (v.retries) hc["Retries"] = *v.retries;
    }
    config["Healthcheck"] = hc;
  }
  template <typename Other>
  void operator()(const Other&) {
    throw std::invalid_argument("this instruction does not change the image config");
  }
};

bool allowed_as_change(const std::string& keyword) {
  for (const char* k : {"CMD", "ENTRYPOINT", "ENV", "EXPOSE", "LABEL", "ONBUILD", "STOPSIGNAL",
                        "USER", "VOLUME", "WORKDIR"})
    if (keyword == k) return true;
  return false;
}

// --change values are expanded against the config's own ENV, as docker does.
Instruction expanded(const Instruction& ins, const json& config) {
  Instruction out = ins;
  const Expander expander;
  const VarLookup lookup = lookup_in(env_pairs(config));
  auto w = [&](std::string& s) { s = expander.word(s, lookup); };
  if (auto* v = std::get_if<EnvInstruction>(&out.value))
    for (auto& kv : v->vars) w(kv.key), w(kv.value);
  if (auto* v = std::get_if<LabelInstruction>(&out.value))
    for (auto& kv : v->labels) w(kv.key), w(kv.value);
  if (auto* v = std::get_if<UserInstruction>(&out.value)) w(v->user);
  if (auto* v = std::get_if<WorkdirInstruction>(&out.value)) w(v->path);
  if (auto* v = std::get_if<StopsignalInstruction>(&out.value)) w(v->signal);
  if (auto* v = std::get_if<VolumeInstruction>(&out.value))
    for (auto& p : v->paths) w(p);
  if (auto* v = std::get_if<ExposeInstruction>(&out.value)) {
    std::vector<std::string> ports;
    for (const auto& p : v->ports)
      for (auto& x : expander.words(p, lookup)) ports.push_back(std::move(x));
    v->ports = std::move(ports);
  }
  return out;
}

}  // namespace

void apply_to_config(json& config, const Instruction& instruction, StageState& state) {
  std::visit(Applier{config, state}, instruction.value);
}

void apply_changes(json& config, const std::vector<std::string>& changes) {
  StageState state;
  for (const auto& change : changes) {
    try {
      Dockerfile file = parse_dockerfile(change, "--change");
      if (file.nodes.size() != 1) throw Error("give exactly one instruction per --change");
      Instruction ins = parse_instruction(file, file.nodes.front());
      if (!allowed_as_change(ins.keyword))
        throw Error(ins.keyword + " cannot be used with --change (CMD, ENTRYPOINT, ENV, EXPOSE, "
                                  "LABEL, ONBUILD, STOPSIGNAL, USER, VOLUME or WORKDIR)");
      apply_to_config(config, expanded(ins, config), state);
    } catch (Error& e) {
      e.context("--change '" + change + "'");
      throw;
    } catch (const ExpandError& e) {
      throw Error("--change '" + change + "': " + e.what());
    }
  }
}

}  // namespace cairn::build
