// Conformance suite entry: the data lives outside the repository (../shared/conformance);
// when it is missing the whole suite is skipped (exit 77) with the reason.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>

int main(int argc, char** argv) {
  const char* dir = std::getenv("CAIRN_CONFORMANCE_DIR");
  if (dir == nullptr || !std::filesystem::is_directory(std::filesystem::path(dir) / "buildkit")) {
    std::fprintf(stderr, "SKIP: conformance data not found (CAIRN_CONFORMANCE_DIR=%s); "
                         "configure with -Dconformance_dir=PATH\n", dir ? dir : "<unset>");
    return 77;
  }
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
