// Resolution over plain directories in the kernel's overlay format (what cairn-overlayfs
// serves): 0/0 character-device whiteouts, opaque xattrs, and the AUFS-style .wh. files
// containers/storage writes for mount programs.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "cairn/overlay/stack.hpp"

namespace cairn::overlay {
namespace {

namespace fs = std::filesystem;

class KernelFormat : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("cairn-kernel-format-" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "lower" / "d");
    fs::create_directories(dir_ / "upper");
    write("lower/a", "a");
    write("lower/b", "b");
    write("lower/d/x", "x");
    write("lower/d/y", "y");
  }
  void TearDown() override { fs::remove_all(dir_); }

  void write(const std::string& path, const std::string& data) {
    std::ofstream(dir_ / path) << data;
  }
  // A 0/0 character device: allowed without CAP_MKNOD since Linux 5.8.
  bool whiteout(const std::string& path) {
    return ::mknod((dir_ / path).c_str(), S_IFCHR, makedev(0, 0)) == 0;
  }
  Stack stack() const {
    return Stack({{dir_ / "upper", Format::kernel}, {dir_ / "lower", Format::kernel}}, true);
  }
  static std::vector<std::string> names(const Stack& s, std::string_view dir) {
    std::vector<std::string> out;
    for (const DirEntry& e : s.list(dir)) out.push_back(e.name);
    return out;
  }

  fs::path dir_;
};

TEST_F(KernelFormat, CharacterDeviceZeroZeroIsAWhiteout) {
  if (!whiteout("upper/a")) GTEST_SKIP() << "mknod of a whiteout is refused here";
  const Stack s = stack();
  EXPECT_FALSE(s.lookup("a"));
  EXPECT_TRUE(s.lookup("b"));
  EXPECT_EQ(names(s, ""), (std::vector<std::string>{"b", "d"}));
}

TEST_F(KernelFormat, OpaqueXattrHidesTheLowerDirectory) {
  fs::create_directories(dir_ / "upper" / "d");
  write("upper/d/new", "n");
  if (::setxattr((dir_ / "upper/d").c_str(), "user.overlay.opaque", "y", 1, 0) != 0)
    GTEST_SKIP() << "no user xattrs on " << dir_;
  const Stack s = stack();
  EXPECT_EQ(names(s, "d"), (std::vector<std::string>{"new"}));
  EXPECT_FALSE(s.lookup("d/x"));
}

TEST_F(KernelFormat, AufsWhiteoutFilesHideOnlyLowerLayers) {
  write("upper/.wh.a", "");
  fs::create_directories(dir_ / "upper" / "d");
  write("upper/d/.wh..wh..opq", "");
  write("upper/d/mine", "m");
  const Stack s = stack();
  EXPECT_FALSE(s.lookup("a"));
  EXPECT_FALSE(s.lookup(".wh.a"));  // the marker itself is never an entry
  EXPECT_EQ(names(s, ""), (std::vector<std::string>{"b", "d"}));
  EXPECT_EQ(names(s, "d"), (std::vector<std::string>{"mine"}));
}

TEST_F(KernelFormat, OwnersAndModesAreTheHostsAndInodeNumbersTheFiles) {
  ::chmod((dir_ / "lower/b").c_str(), 0640);
  const Stack s = stack();
  const auto b = s.lookup("b");
  ASSERT_TRUE(b);
  struct stat st;
  ASSERT_EQ(::lstat((dir_ / "lower/b").c_str(), &st), 0);
  EXPECT_EQ(b->attr.mode, st.st_mode);
  EXPECT_EQ(b->attr.uid, st.st_uid);
  EXPECT_EQ(b->attr.ino, st.st_ino);
  EXPECT_EQ(b->layer, 1u);
}

}  // namespace
}  // namespace cairn::overlay
