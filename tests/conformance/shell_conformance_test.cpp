// Runs BuildKit's own shell-lexer data files (envVarTest, wordsTest) through Expander.
// The line formats are those of README.md §1.4 and §1.5 in the conformance directory,
// which is named by the environment variable CAIRN_CONFORMANCE_DIR.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "cairn/frontend/expand.hpp"

namespace cairn::frontend {
namespace {

namespace fs = std::filesystem;

std::optional<fs::path> shell_data_dir() {
  const char* root = std::getenv("CAIRN_CONFORMANCE_DIR");
  if (root == nullptr || *root == '\0') return std::nullopt;
  fs::path dir = fs::path(root) / "buildkit" / "frontend" / "dockerfile" / "shell";
  if (!fs::is_directory(dir)) return std::nullopt;
  return dir;
}

std::string_view trim_left(std::string_view text) {
  const std::size_t start = text.find_first_not_of(" \t");
  return start == std::string_view::npos ? std::string_view() : text.substr(start);
}

std::string_view trim(std::string_view text) {
  text = trim_left(text);
  const std::size_t end = text.find_last_not_of(" \t");
  return end == std::string_view::npos ? std::string_view() : text.substr(0, end + 1);
}

std::vector<std::string_view> split(std::string_view text, char separator) {
  std::vector<std::string_view> parts;
  for (std::size_t start = 0;;) {
    const std::size_t end = text.find(separator, start);
    parts.push_back(text.substr(start, end - start));
    if (end == std::string_view::npos) return parts;
    start = end + 1;
  }
}

std::vector<std::string> read_lines(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);)
    lines.push_back(line);
  return lines;
}

std::string in_quotes(std::string_view text) {
  return "\"" + std::string(text) + "\"";
}

std::string joined(const std::vector<std::string>& words) {
  std::string result = "[";
  for (std::size_t i = 0; i < words.size(); ++i)
    result += (i ? ", " : "") + in_quotes(words[i]);
  return result + "]";
}

void report(const char* file, int passed, int total) {
  std::cout << "[ conformance ] " << file << ": " << passed << "/" << total << " passed\n";
  ::testing::Test::RecordProperty(std::string(file) + "_passed", passed);
  ::testing::Test::RecordProperty(std::string(file) + "_total", total);
}

// Returns an empty string if the line passes, else what went wrong.
std::string check_env_var_line(std::string_view input, std::string_view expected) {
  static const VarLookup lookup =
      lookup_in({{"PWD", "/home"}, {"SHELL", "bash"}, {"KOREAN", "한국어"}, {"NULL", ""}});
  try {
    const std::string result = Expander('\\').word(input, lookup);
    if (expected == "error") return "expected an error, got " + in_quotes(result);
    if (result != expected) return "expected " + in_quotes(expected) + ", got " + in_quotes(result);
  } catch (const ExpandError& error) {
    if (expected != "error")
      return "expected " + in_quotes(expected) + ", got error: " + error.what();
  }
  return {};
}

TEST(ShellConformance, EnvVarTest) {
  const std::optional<fs::path> dir = shell_data_dir();
  if (!dir) GTEST_SKIP() << "CAIRN_CONFORMANCE_DIR is unset or has no buildkit shell data";
  const std::vector<std::string> lines = read_lines(*dir / "envVarTest");
  ASSERT_FALSE(lines.empty()) << "cannot read " << (*dir / "envVarTest");

  int passed = 0, total = 0;
  for (std::size_t index = 0; index < lines.size(); ++index) {
    const std::size_t line_number = index + 1;
    if (lines[index].starts_with('#')) continue;
    const std::string_view line = trim(lines[index]);
    if (line.empty()) continue;
    const std::vector<std::string_view> fields = split(line, '|');
    if (fields.size() != 3) {
      ADD_FAILURE() << "envVarTest:" << line_number << ": malformed line " << in_quotes(line);
      continue;
    }
    const std::string_view platform = trim(fields[0]);
    if (platform == "W") continue;  // Windows: case-insensitive names
    ++total;
    const std::string problem = check_env_var_line(trim(fields[1]), trim(fields[2]));
    if (problem.empty()) {
      ++passed;
    } else {
      ADD_FAILURE() << "envVarTest:" << line_number << ": " << in_quotes(trim(fields[1])) << ": "
                    << problem;
    }
  }
  report("envVarTest", passed, total);
  // README §1.4 counts 226 A and 2 U lines; fewer means this runner skipped some.
  EXPECT_EQ(total, 228);
}

// Returns an empty string if the line passes, else what went wrong.
std::string check_words_line(std::string_view input, const std::vector<std::string>& expected,
                             const VarLookup& lookup) {
  const bool expect_error = expected.size() == 1 && expected[0] == "error";
  try {
    const std::vector<std::string> result = Expander('\\').words(input, lookup);
    if (expect_error) return "expected an error, got " + joined(result);
    if (result != expected) return "expected " + joined(expected) + ", got " + joined(result);
  } catch (const ExpandError& error) {
    if (!expect_error) return "expected " + joined(expected) + ", got error: " + error.what();
  }
  return {};
}

TEST(ShellConformance, WordsTest) {
  const std::optional<fs::path> dir = shell_data_dir();
  if (!dir) GTEST_SKIP() << "CAIRN_CONFORMANCE_DIR is unset or has no buildkit shell data";
  const std::vector<std::string> lines = read_lines(*dir / "wordsTest");
  ASSERT_FALSE(lines.empty()) << "cannot read " << (*dir / "wordsTest");

  std::vector<std::pair<std::string, std::string>> env;
  int passed = 0, total = 0;
  for (std::size_t index = 0; index < lines.size(); ++index) {
    const std::size_t line_number = index + 1;
    const std::string_view line = lines[index];
    if (line.empty() || line.starts_with('#')) continue;
    if (line.starts_with("ENV ")) {
      // Trailing spaces belong to the value.
      const std::string_view definition = trim_left(line.substr(3));
      const std::size_t equals = definition.find('=');
      ASSERT_NE(equals, std::string_view::npos) << "wordsTest:" << line_number;
      env.emplace_back(definition.substr(0, equals), definition.substr(equals + 1));
      continue;
    }
    const std::vector<std::string_view> fields = split(line, '|');
    if (fields.size() != 2) {
      ADD_FAILURE() << "wordsTest:" << line_number << ": malformed line " << in_quotes(line);
      continue;
    }
    ++total;
    // Only the leading spaces of the expectation go: trailing ones are part of a word.
    std::vector<std::string> expected;
    for (std::string_view word : split(trim_left(fields[1]), ','))
      expected.emplace_back(word);
    const std::string problem = check_words_line(trim(fields[0]), expected, lookup_in(env));
    if (problem.empty()) {
      ++passed;
    } else {
      ADD_FAILURE() << "wordsTest:" << line_number << ": " << in_quotes(trim(fields[0])) << ": "
                    << problem;
    }
  }
  report("wordsTest", passed, total);
  // README §1 reports 24 test lines.
  EXPECT_EQ(total, 24);
}

}  // namespace
}  // namespace cairn::frontend
