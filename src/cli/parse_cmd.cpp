// `cairn parse`: Dockerfile → syntax tree (BuildKit's dump format or JSON), and with
// --target/--build-arg/--stages the stages a build would run, with ARG and ENV expanded.
#include <fmt/format.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>

#include "app.hpp"
#include "cairn/base/error.hpp"
#include "cairn/base/log.hpp"
#include "cairn/base/sys.hpp"
#include "cairn/base/timer.hpp"
#include "cairn/frontend/ast.hpp"
#include "cairn/frontend/json.hpp"
#include "cairn/frontend/stages.hpp"

namespace cairn::cli {
namespace {

constexpr const char* kDefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

struct ParseOptions {
  std::string file = "Dockerfile";
  bool json = false;
  bool stages = false;
  std::string target;
  std::string platform;
  std::vector<std::string> build_args;
};

std::string read_dockerfile(const std::string& file) {
  if (file == "-") return sys::read_all(STDIN_FILENO, "standard input");
  try {
    return with_context("read Dockerfile", [&] { return sys::read_file(file); });
  } catch (Error& e) {
    if (e.errno_value() == ENOENT)
      e.hint("name the Dockerfile with -f FILE, or -f - to read it from standard input");
    throw;
  }
}

frontend::StageOptions stage_options(const ParseOptions& options) {
  frontend::StageOptions out;
  out.build_args = build_arg_map(options.build_args);
  if (!options.target.empty()) out.target = options.target;
  if (!options.platform.empty()) {
    try {
      out.target_platform = frontend::Platform::parse(options.platform);
    } catch (const std::invalid_argument& e) {
      throw Error(std::string("--platform: ") + e.what());
    }
  }
  return out;
}

struct StagePlan {
  frontend::BuildDescription build;
  std::vector<frontend::ExpandedStage> expanded;  // in build.order
};

StagePlan plan_stages(const frontend::Dockerfile& file, const frontend::StageOptions& options) {
  ScopedTimer timer("describe stages");
  StagePlan plan{frontend::describe_build(file, options), {}};
  // A stage built on another starts from that stage's environment. `cairn parse` does not
  // open images, so an image base starts with the PATH docker gives a config without one.
  std::map<int, std::vector<frontend::KeyValue>> final_env;
  for (int index : plan.build.order) {
    const frontend::Stage& stage = plan.build.stages[index];
    std::vector<frontend::KeyValue> base_env = {{"PATH", kDefaultPath}};
    if (stage.base_stage) base_env = final_env[*stage.base_stage];
    plan.expanded.push_back(frontend::expand_stage(file, plan.build, stage, base_env, options));
    const auto& steps = plan.expanded.back().steps;
    final_env[index] = steps.empty() ? base_env : *steps.back().env;
  }
  for (const auto& name : plan.build.unused_build_args)
    log(LogLevel::warn, "build argument {} was given but no ARG declares it", name);
  return plan;
}

std::string stage_header(const frontend::Stage& stage) {
  std::string out = fmt::format("stage {}", stage.index);
  if (stage.name) out += " " + *stage.name;
  out += ": FROM " + stage.base;
  if (stage.base_stage) out += fmt::format(" (stage {})", *stage.base_stage);
  if (stage.platform) out += " --platform=" + *stage.platform;
  return out;
}

void print_stages_text(const StagePlan& plan) {
  const auto& build = plan.build;
  fmt::print("# target: stage {} ({} of {} stages needed)\n",
             build.stages[build.target].display_name(), build.order.size(), build.stages.size());
  fmt::print("# image environments are not read by cairn parse: PATH starts as docker's default\n");
  for (const auto& expanded : plan.expanded) {
    fmt::print("{}\n", stage_header(*expanded.stage));
    for (const auto& step : expanded.steps) {
      std::string uses;
      for (const auto& name : step.used_args) uses += (uses.empty() ? "" : " ") + name;
      fmt::print("  {:>4}: {}{}\n", step.instruction.start_line,
                 frontend::render_instruction(step.instruction),
                 uses.empty() ? "" : "    # uses " + uses);
    }
  }
}

nlohmann::json stages_json(const StagePlan& plan) {
  nlohmann::json stages = nlohmann::json::array();
  for (const auto& expanded : plan.expanded) {
    const frontend::Stage& stage = *expanded.stage;
    nlohmann::json s = {{"index", stage.index}, {"base", stage.base},
                        {"line", stage.from.start_line}, {"dependencies", stage.dependencies}};
    s["name"] = stage.name ? nlohmann::json(*stage.name) : nlohmann::json(nullptr);
    s["base_stage"] = stage.base_stage ? nlohmann::json(*stage.base_stage) : nlohmann::json(nullptr);
    if (stage.platform) s["platform"] = *stage.platform;
    nlohmann::json steps = nlohmann::json::array();
    for (const auto& step : expanded.steps) {
      nlohmann::json env = nlohmann::json::object();
      for (const auto& kv : *step.env) env[kv.key] = kv.value;
      steps.push_back({{"line", step.instruction.start_line},
                       {"instruction", frontend::render_instruction(step.instruction)},
                       {"uses_args", step.used_args},
                       {"env", std::move(env)}});
    }
    s["steps"] = std::move(steps);
    stages.push_back(std::move(s));
  }
  return {{"target", plan.build.target}, {"order", plan.build.order}, {"stages", stages},
          {"unused_build_args", plan.build.unused_build_args}};
}

int run_parse(const ParseOptions& options) {
  const std::string text = [&] {
    ScopedTimer timer("read Dockerfile");
    return read_dockerfile(options.file);
  }();
  const std::string name = options.file == "-" ? "<stdin>" : options.file;
  const frontend::Dockerfile file = [&] {
    ScopedTimer timer("parse");
    return frontend::parse_dockerfile(text, name);
  }();
  for (const auto& warning : file.warnings)
    log(LogLevel::warn, "{}:{}: {}", name, warning.line, warning.message);
  const bool want_stages = options.stages || !options.target.empty() ||
                           !options.build_args.empty() || !options.platform.empty();
  std::optional<StagePlan> plan;
  if (want_stages) plan = plan_stages(file, stage_options(options));
  if (options.json) {
    nlohmann::json out = frontend::syntax_to_json(file);
    if (plan) out["build"] = stages_json(*plan);
    // Values may hold bytes that are not UTF-8; Go's encoder (BuildKit) writes U+FFFD.
    fmt::print("{}\n", out.dump(2, ' ', false, nlohmann::json::error_handler_t::replace));
    return 0;
  }
  std::fputs(frontend::dump(file).c_str(), stdout);
  if (plan) print_stages_text(*plan);
  return 0;
}

}  // namespace

// --build-arg K=V sets K; a bare K takes $K from the environment, as docker does.
std::map<std::string, std::optional<std::string>> build_arg_map(
    const std::vector<std::string>& args) {
  std::map<std::string, std::optional<std::string>> out;
  for (const auto& arg : args) {
    const auto eq = arg.find('=');
    const std::string key = arg.substr(0, eq);
    if (key.empty()) throw Error("--build-arg \"" + arg + "\": the name is empty (use KEY=VALUE)");
    if (eq != std::string::npos) {
      out[key] = arg.substr(eq + 1);
    } else if (const char* value = std::getenv(key.c_str())) {
      out[key] = std::string(value);
    } else {
      out[key] = std::nullopt;
    }
  }
  return out;
}

Command register_parse(CLI::App& root) {
  auto options = std::make_shared<ParseOptions>();
  CLI::App* app = root.add_subcommand(
      "parse",
      "Parse a Dockerfile and print its syntax tree in BuildKit's dump format (with "
      "--target, --build-arg or --stages also the stages a build would run, expanded)");
  app->add_option("-f,--file", options->file,
                  "The Dockerfile to read, or - for standard input (default: ./Dockerfile)")
      ->type_name("FILE");
  app->add_flag("--json", options->json,
                "Print JSON with line ranges, flags, arguments and heredoc bodies");
  app->add_flag("--stages", options->stages,
                "Check every instruction and print the stages the default target needs");
  app->add_option("--target", options->target, "Print the stages this stage needs")
      ->type_name("STAGE");
  app->add_option("--build-arg", options->build_args,
                  "Set a build argument; KEY alone takes $KEY from the environment (repeatable)")
      ->type_name("KEY[=VALUE]")
      ->allow_extra_args(false);
  app->add_option("--platform", options->platform,
                  "Target platform for TARGETPLATFORM/TARGETARCH (default: this machine)")
      ->type_name("OS/ARCH[/VARIANT]");
  return {app, [options](const Config&) { return run_parse(*options); }};
}

}  // namespace cairn::cli
