// Golden error messages: each tests/data/errors/NAME.Dockerfile must fail with exactly the
// text in NAME.err (FILE:LINE:COLUMN, the line, a caret). Regenerate a golden only after
// reading the new message and agreeing with it.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "cairn/frontend/diagnostic.hpp"
#include "cairn/frontend/stages.hpp"

namespace cairn::frontend {
namespace {

namespace fs = std::filesystem;

std::string read(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

// Parse, check every instruction, plan the default target: the error the user would see.
std::string error_for(const fs::path& dockerfile) {
  try {
    Dockerfile file = parse_dockerfile(read(dockerfile), dockerfile.filename().string());
    BuildDescription build = describe_build(file, StageOptions{});
    for (int index : build.order) expand_stage(file, build, build.stages[index], {}, {});
  } catch (const DockerfileError& e) {
    return std::string(e.what()) + "\n";
  }
  return "(no error)\n";
}

TEST(ErrorGoldens, MessagesPointAtFileLineColumnWithCaret) {
  const char* data = std::getenv("CAIRN_TEST_DATA");
  ASSERT_NE(data, nullptr) << "CAIRN_TEST_DATA is not set";
  int checked = 0;
  for (const auto& entry : fs::directory_iterator(fs::path(data) / "errors")) {
    if (entry.path().extension() != ".Dockerfile") continue;
    fs::path golden = entry.path();
    golden.replace_extension(".err");
    ASSERT_TRUE(fs::exists(golden)) << "missing golden " << golden;
    EXPECT_EQ(error_for(entry.path()), read(golden)) << entry.path().filename();
    ++checked;
  }
  EXPECT_GE(checked, 16);
}

}  // namespace
}  // namespace cairn::frontend
