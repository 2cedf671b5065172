// BuildKit's parser test data through the real `cairn parse` binary: every positive case
// prints its `result` byte for byte, every negative case is refused, and the line-number
// case has the documented source ranges (README.md §1.1–1.3 of the conformance data).
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>

namespace {

namespace fs = std::filesystem;

fs::path parser_dir() {
  return fs::path(std::getenv("CAIRN_CONFORMANCE_DIR")) / "buildkit/frontend/dockerfile/parser";
}

std::string cairn_binary() {
  const char* path = std::getenv("CAIRN_BINARY");
  return path ? path : "cairn";
}

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

struct ParseRun {
  int status = -1;
  std::string out;
};

// Runs `cairn parse [extra] -f FILE`, capturing stdout; stderr goes to a file.
ParseRun run_parse(const fs::path& dockerfile, const std::string& extra = "") {
  const fs::path err = fs::temp_directory_path() / ("cairn-conf-" + std::to_string(::getpid()));
  const std::string command = "'" + cairn_binary() + "' parse " + extra + " -f '" +
                              dockerfile.string() + "' 2>'" + err.string() + "'";
  ParseRun run;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (!pipe) return run;
  char buffer[4096];
  size_t n;
  while ((n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0) run.out.append(buffer, n);
  int status = ::pclose(pipe);
  run.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  fs::remove(err);
  return run;
}

std::vector<fs::path> case_dirs(const fs::path& root) {
  std::vector<fs::path> dirs;
  for (const auto& entry : fs::directory_iterator(root))
    if (entry.is_directory()) dirs.push_back(entry.path());
  std::sort(dirs.begin(), dirs.end());
  return dirs;
}

TEST(BuildkitParser, PositiveCasesPrintTheirResultExactly) {
  int passed = 0;
  const auto dirs = case_dirs(parser_dir() / "testfiles");
  for (const auto& dir : dirs) {
    ParseRun run = run_parse(dir / "Dockerfile");
    const std::string expected = read_file(dir / "result");
    EXPECT_EQ(run.status, 0) << dir.filename() << ": cairn parse failed";
    EXPECT_EQ(run.out, expected) << dir.filename() << ": dump differs";
    if (run.status == 0 && run.out == expected) ++passed;
  }
  std::cout << "buildkit parser positive cases: " << passed << "/" << dirs.size() << " passed\n";
  EXPECT_EQ(dirs.size(), 33u) << "the conformance data should hold 33 positive cases";
}

TEST(BuildkitParser, NegativeCasesAreRejected) {
  int rejected = 0;
  const auto dirs = case_dirs(parser_dir() / "testfiles-negative");
  for (const auto& dir : dirs) {
    ParseRun run = run_parse(dir / "Dockerfile");
    EXPECT_EQ(run.status, 1) << dir.filename() << ": should be refused";
    if (run.status == 1) ++rejected;
  }
  std::cout << "buildkit parser negative cases: " << rejected << "/" << dirs.size()
            << " rejected\n";
  EXPECT_EQ(dirs.size(), 4u);
}

TEST(BuildkitParser, LineNumbersMatch) {
  ParseRun run = run_parse(parser_dir() / "testfile-line/Dockerfile", "--json");
  ASSERT_EQ(run.status, 0);
  auto json = nlohmann::json::parse(run.out);
  const auto& nodes = json["instructions"];
  ASSERT_EQ(nodes.size(), 3u);
  EXPECT_EQ(nodes[0]["keyword"], "FROM");
  EXPECT_EQ(nodes[0]["start_line"], 5);
  EXPECT_EQ(nodes[0]["end_line"], 5);
  EXPECT_EQ(nodes[1]["start_line"], 11);
  EXPECT_EQ(nodes[1]["end_line"], 12);
  EXPECT_EQ(nodes[2]["start_line"], 17);
  EXPECT_EQ(nodes[2]["end_line"], 31);
  std::cout << "buildkit parser line-number case: passed\n";
}

}  // namespace
