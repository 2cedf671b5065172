// `cairn parse`: Dockerfile → syntax tree (BuildKit's dump format or JSON), and with
// --target/--build-arg the stages a build would run, with ARG and ENV expanded.
#include <fmt/format.h>
#include <unistd.h>

#include "app.hpp"
#include "cairn/base/sys.hpp"
#include "cairn/base/timer.hpp"
#include "cairn/frontend/ast.hpp"
#include "cairn/frontend/json.hpp"

namespace cairn::cli {
namespace {

struct ParseOptions {
  std::string file = "Dockerfile";
  bool json = false;
  std::string target;
  std::vector<std::string> build_args;
};

std::string read_dockerfile(const std::string& file) {
  if (file == "-") return sys::read_all(STDIN_FILENO, "standard input");
  return sys::read_file(file);
}

int run_parse(const ParseOptions& options) {
  std::string text = [&] {
    ScopedTimer timer("read Dockerfile");
    return read_dockerfile(options.file);
  }();
  const std::string name = options.file == "-" ? "<stdin>" : options.file;
  frontend::Dockerfile file = [&] {
    ScopedTimer timer("parse");
    return frontend::parse_dockerfile(text, name);
  }();
  if (options.json) {
    fmt::print("{}\n", frontend::syntax_to_json(file).dump(2));
  } else {
    std::fputs(frontend::dump(file).c_str(), stdout);
  }
  return 0;
}

}  // namespace

Command register_parse(CLI::App& root) {
  auto options = std::make_shared<ParseOptions>();
  CLI::App* app = root.add_subcommand(
      "parse", "Parse a Dockerfile and print its syntax tree (and, with --target or "
               "--build-arg, the stages a build would run)");
  app->add_option("-f,--file", options->file, "The Dockerfile to read, or - for standard input")
      ->type_name("FILE");
  app->add_flag("--json", options->json,
                "Print JSON with line ranges, flags, arguments and heredoc bodies");
  app->add_option("--target", options->target, "Build only up to this stage")
      ->type_name("STAGE");
  app->add_option("--build-arg", options->build_args, "Set a build argument (repeatable)")
      ->type_name("KEY[=VALUE]")
      ->expected(1);
  return {app, [options](const Config&) { return run_parse(*options); }};
}

}  // namespace cairn::cli
