// libFuzzer target for the Dockerfile frontend: the same bytes go through the whole
// `cairn parse --stages --json` pipeline (parse, describe, expand, render), through the
// .dockerignore matcher and through the word expander.
//
// Only the errors an API documents are expected: DockerfileError (any cairn::Error) from
// the Dockerfile pipeline, ExpandError from Expander, IgnorePatternError from the ignore
// matcher, std::invalid_argument from Platform::parse and parse_mount. Anything else (an
// std::out_of_range from a stray stoi, a JSON type_error, a sanitizer report) escapes and
// crashes the run, because the CLI would show it as an internal error.
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "cairn/base/error.hpp"
#include "cairn/frontend/ast.hpp"
#include "cairn/frontend/dockerignore.hpp"
#include "cairn/frontend/expand.hpp"
#include "cairn/frontend/instructions.hpp"
#include "cairn/frontend/json.hpp"
#include "cairn/frontend/stages.hpp"

namespace {

using namespace cairn::frontend;

// Keeps results alive as far as the optimizer is concerned, without printing them.
template <typename T>
void consume(const T& value) {
  asm volatile("" : : "r"(&value) : "memory");
}

std::vector<std::string_view> first_lines(std::string_view input, std::size_t limit) {
  std::vector<std::string_view> lines;
  while (!input.empty() && lines.size() < limit) {
    const std::size_t nl = input.find('\n');
    lines.push_back(input.substr(0, nl));
    input.remove_prefix(nl == std::string_view::npos ? input.size() : nl + 1);
  }
  return lines;
}

// The names that follow "ARG " in the input, so that --build-arg overrides hit real
// declarations (a random name would only ever be reported as unused).
std::vector<std::string> declared_arg_names(std::string_view input, std::size_t limit) {
  std::vector<std::string> names;
  for (std::size_t at = input.find("ARG "); at != std::string_view::npos && names.size() < limit;
       at = input.find("ARG ", at + 4)) {
    std::size_t begin = at + 4;
    while (begin < input.size() && input[begin] == ' ')
      ++begin;
    std::size_t end = begin;
    while (end < input.size() && input[end] != '=' && input[end] != ' ' && input[end] != '\n')
      ++end;
    if (end > begin) names.emplace_back(input.substr(begin, end - begin));
  }
  return names;
}

// Default options plus a few build args: the first declared ARG gets a value taken from
// the input's tail (so it may hold '$', quotes or blanks), the second is given without a
// value, and a proxy arg exercises the predefined-arg path.
StageOptions stage_options(std::string_view input) {
  StageOptions options;
  const std::vector<std::string> names = declared_arg_names(input, 2);
  const std::size_t tail = std::min<std::size_t>(input.size(), 12);
  if (!names.empty()) options.build_args[names[0]] = std::string(input.substr(input.size() - tail));
  if (names.size() > 1) options.build_args[names[1]] = std::nullopt;
  options.build_args["HTTP_PROXY"] = "http://proxy:3128";
  options.build_args["UNDECLARED"] = "x";
  return options;
}

// What `cairn parse --stages` does: expand the stages the target needs, a stage built on
// another starting from that stage's final environment, one built on an image from
// docker's default PATH.
void expand_build(const Dockerfile& file, const StageOptions& options) {
  const BuildDescription build = describe_build(file, options);
  std::map<int, std::vector<KeyValue>> final_env;
  for (int index : build.order) {
    const Stage& stage = build.stages.at(static_cast<std::size_t>(index));
    std::vector<KeyValue> base_env = {
        {"PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}};
    if (stage.base_stage) base_env = final_env[*stage.base_stage];
    const ExpandedStage expanded = expand_stage(file, build, stage, base_env, options);
    for (const auto& step : expanded.steps)
      consume(render_instruction(step.instruction));
    final_env[index] = expanded.steps.empty() ? base_env : *expanded.steps.back().env;
  }
}

void fuzz_dockerfile(std::string_view input) {
  try {
    const Dockerfile file = parse_dockerfile(input, "Dockerfile");
    consume(dump(file));
    // Serialise too: nlohmann refuses invalid UTF-8 at dump time, not at construction.
    consume(syntax_to_json(file).dump());
    expand_build(file, stage_options(input));
  } catch (const cairn::Error&) {
    // DockerfileError: the input is not a valid (or not a buildable) Dockerfile.
  }
}

// Only the first lines go to the ignore matcher: it compiles each pattern to an automaton
// up front, and a 3 KB input (~60 patterns) made it take 90% of each run, starving the
// Dockerfile side. Its bugs show with a few patterns; libFuzzer still mutates them all.
constexpr std::size_t kIgnoreLines = 16;

std::string_view leading_lines(std::string_view input, std::size_t count) {
  std::size_t end = 0;
  for (std::size_t i = 0; i < count && end < input.size(); ++i) {
    const std::size_t nl = input.find('\n', end);
    end = nl == std::string_view::npos ? input.size() : nl + 1;
  }
  return input.substr(0, end);
}

void fuzz_ignore(std::string_view input) {
  input = leading_lines(input, kIgnoreLines);
  IgnoreMatcher matcher;
  try {
    matcher = IgnoreMatcher::parse(input);
  } catch (const IgnorePatternError&) {
    return;
  }
  static const char* const kPaths[] = {
      "Dockerfile", "src/main.cpp", "./a/b/c", "node_modules/x/y", ".git/HEAD", "a", "",
      "/abs/path",  "dir/",         "x/../y"};
  for (const char* path : kPaths)
    consume(matcher.excluded(path));
  consume(matcher.must_descend("src"));
  consume(matcher.must_descend("a/b"));
  // The input's own lines as paths reach the matcher's odd corners (globs, bytes, "..").
  for (std::string_view line : first_lines(input, 4)) {
    consume(matcher.excluded(line));
    consume(matcher.must_descend(line));
  }
}

void expand_with(const Expander& expander, std::string_view input, const VarLookup& lookup) {
  std::set<std::string> used;
  try {
    consume(expander.word(input, lookup, &used));
  } catch (const ExpandError&) {
  }
  try {
    consume(expander.words(input, lookup, &used));
  } catch (const ExpandError&) {
  }
}

void fuzz_expander(std::string_view input) {
  static const VarLookup lookup = lookup_in({{"A", "a b"},
                                             {"EMPTY", ""},
                                             {"STAR", "*"},
                                             {"PATH", "/usr/local/bin:/usr/bin"},
                                             {"Q", "'\"\\$"},
                                             {"U", "h\xC3\xA9llo w\xC3\xB6rld"}});
  expand_with(Expander('\\'), input, lookup);
  expand_with(Expander('`'), input, lookup);
  expand_with(Expander('\\', ExpandOptions{true, true}), input, lookup);
}

// The small grammars with documented std::invalid_argument, fed the first line.
void fuzz_small_grammars(std::string_view input) {
  const std::string line(first_lines(input, 1).empty() ? "" : first_lines(input, 1).front());
  try {
    consume(Platform::parse(line).str());
  } catch (const std::invalid_argument&) {
  }
  try {
    consume(parse_mount(line));
  } catch (const std::invalid_argument&) {
  }
  consume(parse_go_duration(line));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  fuzz_dockerfile(input);
  fuzz_ignore(input);
  fuzz_expander(input);
  fuzz_small_grammars(input);
  return 0;
}
