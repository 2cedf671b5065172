// Instructions back to Dockerfile text, after expansion: what `cairn parse` shows for a
// stage and what a build records as history.
#include <nlohmann/json.hpp>

#include "cairn/frontend/stages.hpp"

namespace cairn::frontend {
namespace {

// Instructions may hold any bytes; nlohmann::json would throw on those that are not UTF-8.
// Go's encoding/json (what docker prints) replaces them with U+FFFD, and so do we.
std::string json_text(const nlohmann::json& value) {
  return value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string json_array(const std::vector<std::string>& items) {
  return json_text(nlohmann::json(items));
}

std::string command_text(const CommandLine& command) {
  if (command.exec_form) return json_array(command.args);
  return command.args.empty() ? "" : command.args.front();
}

// Values with blanks or quotes are shown double-quoted, as docker history does.
std::string quote_if_needed(const std::string& value) {
  if (!value.empty() && value.find_first_of(" \t\"'\\$") == std::string::npos) return value;
  return json_text(nlohmann::json(value));
}

std::string key_values(const std::vector<KeyValue>& pairs) {
  std::string out;
  for (const auto& kv : pairs) out += " " + kv.key + "=" + quote_if_needed(kv.value);
  return out;
}

std::string flag(std::string_view name, const std::optional<std::string>& value) {
  return value ? " --" + std::string(name) + "=" + *value : "";
}

std::string render(const FromInstruction& v) {
  return flag("platform", v.platform) + " " + v.image + (v.stage_name ? " AS " + *v.stage_name : "");
}

std::string mount_type(MountType t) {
  switch (t) {
    case MountType::bind: return "bind";
    case MountType::cache: return "cache";
    case MountType::tmpfs: return "tmpfs";
    case MountType::secret: return "secret";
    case MountType::ssh: return "ssh";
  }
  return "bind";
}

std::string render(const RunInstruction& v) {
  std::string out;
  for (const auto& m : v.mounts) {
    out += " --mount=type=" + mount_type(m.type);
    if (!m.target.empty()) out += ",target=" + m.target;
    if (m.source) out += ",source=" + *m.source;
    if (m.from) out += ",from=" + *m.from;
    if (m.id) out += ",id=" + *m.id;
  }
  out += flag("network", v.network) + flag("security", v.security);
  out += " " + command_text(v.command);
  for (const auto& doc : v.heredocs) out += "\n" + doc.content + doc.name;
  return out;
}

std::string render(const CopyInstruction& v) {
  std::string out = flag("from", v.from) + flag("chown", v.chown) + flag("chmod", v.chmod) +
                    flag("checksum", v.checksum);
  if (v.link) out += " --link";
  if (v.parents) out += " --parents";
  if (v.keep_git_dir) out += std::string(" --keep-git-dir=") + (*v.keep_git_dir ? "true" : "false");
  if (v.unpack) out += std::string(" --unpack=") + (*v.unpack ? "true" : "false");
  for (const auto& e : v.excludes) out += " --exclude=" + e;
  std::vector<std::string> all = v.sources;
  all.push_back(v.destination);
  if (v.json) return out + " " + json_array(all);
  for (const auto& s : all) out += " " + s;
  return out;
}

// Go's time.Duration.String() for whole milliseconds: "1m30s", "500ms", "2h0m0s".
std::string go_duration(std::chrono::nanoseconds d) {
  long long ms = std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
  if (ms == 0) return "0s";
  if (ms < 1000) return std::to_string(ms) + "ms";
  const long long hours = ms / 3600000, minutes = ms / 60000 % 60;
  const long long seconds = ms / 1000 % 60, millis = ms % 1000;
  std::string out;
  if (hours > 0) out += std::to_string(hours) + "h";
  if (hours > 0 || minutes > 0) out += std::to_string(minutes) + "m";
  out += std::to_string(seconds);
  if (millis > 0) {
    std::string frac = std::to_string(1000 + millis).substr(1);
    while (!frac.empty() && frac.back() == '0') frac.pop_back();
    out += "." + frac;
  }
  return out + "s";
}

std::string render(const HealthcheckInstruction& v) {
  if (v.none) return " NONE";
  std::string out;
  auto duration = [&](std::string_view name, const std::optional<std::chrono::nanoseconds>& d) {
    if (d) out += " --" + std::string(name) + "=" + go_duration(*d);
  };
  duration("interval", v.interval);
  duration("timeout", v.timeout);
  duration("start-period", v.start_period);
  duration("start-interval", v.start_interval);
  if (v.retries) out += " --retries=" + std::to_string(*v.retries);
  return out + " CMD " + command_text(v.test);
}

std::string render(const ArgInstruction& v) {
  std::string out;
  for (const auto& d : v.args)
    out += " " + d.name + (d.default_value ? "=" + quote_if_needed(*d.default_value) : "");
  return out;
}

std::string render(const CmdInstruction& v) { return " " + command_text(v.command); }
std::string render(const EntrypointInstruction& v) { return " " + command_text(v.command); }
std::string render(const ShellInstruction& v) { return " " + json_array(v.shell); }
std::string render(const LabelInstruction& v) { return key_values(v.labels); }
std::string render(const EnvInstruction& v) { return key_values(v.vars); }
std::string render(const MaintainerInstruction& v) { return " " + v.name; }
std::string render(const UserInstruction& v) { return " " + v.user; }
std::string render(const WorkdirInstruction& v) { return " " + v.path; }
std::string render(const StopsignalInstruction& v) { return " " + v.signal; }
std::string render(const OnbuildInstruction& v) { return " " + v.expression; }
std::string render(const ExposeInstruction& v) {
  std::string out;
  for (const auto& p : v.ports) out += " " + p;
  return out;
}
std::string render(const VolumeInstruction& v) { return " " + json_array(v.paths); }

}  // namespace

std::string render_instruction(const Instruction& instruction) {
  return instruction.keyword + std::visit([](const auto& v) { return render(v); }, instruction.value);
}

}  // namespace cairn::frontend
