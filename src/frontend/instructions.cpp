// Syntax node → typed instruction, with BuildKit's checks and messages.
#include "cairn/frontend/instructions.hpp"

#include <algorithm>
#include <array>
#include <stdexcept>

#include "cairn/frontend/diagnostic.hpp"
#include "flags.hpp"
#include "node_builder.hpp"
#include "text.hpp"

namespace cairn::frontend {
namespace {

std::string upper(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  return out;
}

class InstructionParser {
 public:
  InstructionParser(const Dockerfile& file, const Node& node)
      : file_(file), node_(node), name_(upper(node.keyword)) {}

  Instruction parse() {
    Instruction out;
    out.keyword = name_;
    out.original = node_.text.substr(node_.text.find_first_not_of(" \t"));
    out.start_line = node_.start_line;
    out.end_line = node_.end_line;
    out.value = value();
    return out;
  }

 private:
  InstructionValue value() {
    const std::string& k = node_.keyword;
    if (k == "from") return from();
    if (k == "run") return run();
    if (k == "cmd") return CmdInstruction{command()};
    if (k == "entrypoint") return EntrypointInstruction{command()};
    if (k == "shell") return shell();
    if (k == "label") return LabelInstruction{key_values()};
    if (k == "env") return EnvInstruction{key_values()};
    if (k == "maintainer") return MaintainerInstruction{single()};
    if (k == "expose") return expose();
    if (k == "copy" || k == "add") return copy();
    if (k == "volume") return volume();
    if (k == "user") return UserInstruction{single()};
    if (k == "workdir") return WorkdirInstruction{single()};
    if (k == "arg") return arg();
    if (k == "onbuild") return onbuild();
    if (k == "stopsignal") return StopsignalInstruction{single()};
    if (k == "healthcheck") return healthcheck();
    throw fail(0, unknown_instruction_message(node_.original_keyword));
  }

  DockerfileError fail(std::size_t offset, const std::string& message) const {
    return error_at(file_, node_, offset, message);
  }
  DockerfileError fail_args(const std::string& message) const {
    return fail(node_.args_offset, message);
  }

  void no_flags() const { Flags(file_, node_, {}); }

  FromInstruction from() {
    Flags flags(file_, node_, {{"platform", FlagKind::string}});
    const auto& a = node_.args;
    if (a.size() != 1 && !(a.size() == 3 && text::iequals(a[1], "as")))
      throw fail_args("FROM requires either one or three arguments: FROM IMAGE [AS NAME]");
    FromInstruction out{a[0], std::nullopt, flags.string("platform")};
    if (a.size() == 3) {
      std::string name = text::lower(a[2]);
      const bool valid = !name.empty() && name[0] >= 'a' && name[0] <= 'z' &&
                         name.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789-_.") ==
                             std::string::npos;
      if (!valid)
        throw fail(node_.find_in_args(a[2]),
                   "invalid name for build stage: \"" + a[2] +
                       "\", name can't start with a number or contain symbols");
      out.stage_name = std::move(name);
    }
    return out;
  }

  CommandLine command() {
    no_flags();
    return {node_.json, node_.args};
  }

  RunInstruction run() {
    Flags flags(file_, node_, {{"mount", FlagKind::list},
                               {"network", FlagKind::string},
                               {"security", FlagKind::string}});
    RunInstruction out;
    out.command = {node_.json, node_.args};
    out.heredocs = node_.heredocs;
    if (out.command.empty() && out.heredocs.empty())
      throw fail_args("RUN requires at least one argument");
    for (const auto& value : flags.list("mount")) {
      try {
        out.mounts.push_back(parse_mount(value));
      } catch (const std::invalid_argument& e) {
        throw fail(node_.text.find(value), std::string("--mount: ") + e.what());
      }
    }
    out.network = flags.string("network");
    if (out.network && *out.network != "default" && *out.network != "none" &&
        *out.network != "host")
      throw fail(flags.offset("network"),
                 "unsupported network mode \"" + *out.network + "\" (default, none or host)");
    out.security = flags.string("security");
    if (out.security && *out.security != "sandbox" && *out.security != "insecure")
      throw fail(flags.offset("security"),
                 "unsupported security mode \"" + *out.security + "\" (sandbox or insecure)");
    return out;
  }

  ShellInstruction shell() {
    no_flags();
    if (node_.args.empty()) throw fail_args("SHELL requires at least one argument");
    if (!node_.json)
      throw fail_args("SHELL requires the arguments to be in JSON form: SHELL [\"executable\", \"parameters\"]");
    return {node_.args};
  }

  std::vector<KeyValue> key_values() {
    no_flags();
    if (node_.args.empty()) throw fail_args(name_ + " requires at least one argument");
    std::vector<KeyValue> out;
    for (std::size_t i = 0; i + 1 < node_.args.size(); i += 3) {
      if (node_.args[i].empty()) throw fail_args(name_ + " names can not be blank");
      out.push_back({node_.args[i], node_.args[i + 1]});
    }
    return out;
  }

  std::string single() {
    no_flags();
    if (node_.args.size() != 1) throw fail_args(name_ + " requires exactly one argument");
    return node_.args[0];
  }

  ExposeInstruction expose() {
    no_flags();
    if (node_.args.empty()) throw fail_args("EXPOSE requires at least one argument");
    return {node_.args};
  }

  VolumeInstruction volume() {
    no_flags();
    if (node_.args.empty()) throw fail_args("VOLUME requires at least one argument");
    for (const auto& path : node_.args)
      if (text::trim(path).empty()) throw fail_args("VOLUME specified can not be an empty string");
    return {node_.args};
  }

  CopyInstruction copy() {
    const bool is_add = node_.keyword == "add";
    CopyInstruction out;
    out.is_add = is_add;
    out.json = node_.json;
    if (is_add) {
      Flags flags(file_, node_, {{"chown", FlagKind::string}, {"chmod", FlagKind::string},
                                 {"link", FlagKind::boolean}, {"keep-git-dir", FlagKind::boolean},
                                 {"checksum", FlagKind::string}, {"exclude", FlagKind::list},
                                 {"unpack", FlagKind::boolean}, {"parents", FlagKind::boolean}});
      read_copy_flags(flags, out);
      out.checksum = flags.string("checksum");
      out.keep_git_dir = flags.boolean("keep-git-dir");
      out.unpack = flags.boolean("unpack");
    } else {
      Flags flags(file_, node_, {{"chown", FlagKind::string}, {"chmod", FlagKind::string},
                                 {"from", FlagKind::string}, {"link", FlagKind::boolean},
                                 {"parents", FlagKind::boolean}, {"exclude", FlagKind::list}});
      read_copy_flags(flags, out);
      out.from = flags.string("from");
    }
    if (node_.args.size() < 2)
      throw fail_args(name_ + " requires at least two arguments, but only " +
                      (node_.args.empty() ? std::string("none was") : "one was") +
                      " provided. Destination could not be determined.");
    out.sources.assign(node_.args.begin(), node_.args.end() - 1);
    out.destination = node_.args.back();
    out.heredocs = node_.heredocs;
    return out;
  }

  void read_copy_flags(const Flags& flags, CopyInstruction& out) {
    out.chown = flags.string("chown");
    out.chmod = flags.string("chmod");
    if (out.chmod) check_chmod(*out.chmod, flags.offset("chmod"));
    out.link = flags.boolean("link").value_or(false);
    out.parents = flags.boolean("parents").value_or(false);
    out.excludes = flags.list("exclude");
  }

  void check_chmod(const std::string& mode, std::size_t offset) const {
    if (mode.find('$') != std::string::npos) return;  // checked after expansion
    if (!mode.empty() && mode.find_first_not_of("01234567") == std::string::npos) {
      if (mode.size() > 4) throw fail(offset, "invalid --chmod value \"" + mode + "\"");
      return;
    }
    // Symbolic modes (u+x,go-w) as chmod(1) takes them.
    if (mode.empty() || mode.find_first_not_of("ugoa+-=rwxXst,") != std::string::npos)
      throw fail(offset, "invalid --chmod value \"" + mode +
                             "\": expected an octal mode (0755) or a symbolic one (u+x)");
  }

  ArgInstruction arg() {
    no_flags();
    if (node_.args.empty()) throw fail_args("ARG requires at least one argument");
    ArgInstruction out;
    for (const auto& word : node_.args) {
      const std::size_t eq = word.find('=');
      ArgDeclaration decl{word.substr(0, eq), std::nullopt};
      if (eq != std::string::npos) decl.default_value = word.substr(eq + 1);
      if (decl.name.empty()) throw fail(node_.find_in_args(word), "ARG names can not be blank");
      out.args.push_back(std::move(decl));
    }
    return out;
  }

  OnbuildInstruction onbuild() {
    no_flags();
    if (!node_.nested) throw fail_args("ONBUILD requires at least one argument");
    const std::string& inner = node_.nested->keyword;
    if (inner == "onbuild") throw fail_args("ONBUILD ONBUILD isn't allowed");
    if (inner == "from" || inner == "maintainer")
      throw fail_args(upper(inner) + " isn't allowed as an ONBUILD trigger");
    OnbuildInstruction out;
    out.expression = std::string(text::trim(std::string_view(node_.text).substr(node_.args_offset)));
    out.trigger = std::make_shared<const Instruction>(parse_instruction(file_, *node_.nested));
    return out;
  }

  HealthcheckInstruction healthcheck() {
    Flags flags(file_, node_, {{"interval", FlagKind::string}, {"timeout", FlagKind::string},
                               {"start-period", FlagKind::string},
                               {"start-interval", FlagKind::string},
                               {"retries", FlagKind::string}});
    if (node_.args.empty()) throw fail_args("HEALTHCHECK requires an argument: CMD or NONE");
    HealthcheckInstruction out;
    const std::string type = upper(node_.args[0]);
    if (type == "NONE") {
      if (node_.args.size() > 1 || !node_.flags.empty())
        throw fail_args("HEALTHCHECK NONE takes no arguments");
      out.none = true;
      return out;
    }
    if (type != "CMD")
      throw fail_args("unknown type \"" + node_.args[0] + "\" in HEALTHCHECK (try CMD)");
    if (node_.args.size() < 2) throw fail_args("missing command after HEALTHCHECK CMD");
    out.test = {node_.json, {node_.args.begin() + 1, node_.args.end()}};
    out.interval = duration(flags, "interval");
    out.timeout = duration(flags, "timeout");
    out.start_period = duration(flags, "start-period");
    out.start_interval = duration(flags, "start-interval");
    if (auto retries = flags.string("retries")) {
      std::size_t used = 0;
      int n = 0;
      try {
        n = std::stoi(*retries, &used);
      } catch (const std::exception&) {
        used = 0;
      }
      if (used == 0 || used != retries->size())
        throw fail(flags.offset("retries"), "invalid --retries value \"" + *retries + "\"");
      if (n < 0)
        throw fail(flags.offset("retries"), "--retries cannot be negative (" + *retries + ")");
      out.retries = n;
    }
    return out;
  }

  std::optional<std::chrono::nanoseconds> duration(const Flags& flags, std::string_view name) {
    auto value = flags.string(name);
    if (!value) return std::nullopt;
    auto d = parse_go_duration(*value);
    const std::size_t at = flags.offset(name);
    if (!d)
      throw fail(at, "invalid duration \"" + *value + "\" for --" + std::string(name) +
                         " (e.g. 30s, 1m30s, 500ms)");
    if (d->count() == 0) return d;
    if (*d < std::chrono::milliseconds(1))
      throw fail(at, "--" + std::string(name) + " cannot be less than 1ms");
    return d;
  }

  const Dockerfile& file_;
  const Node& node_;
  std::string name_;
};

}  // namespace

Instruction parse_instruction(const Dockerfile& file, const Node& node) {
  return InstructionParser(file, node).parse();
}

}  // namespace cairn::frontend
