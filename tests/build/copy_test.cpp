// COPY/ADD planning on plain directories: docker's source and destination rules, the
// image's symlinks and directories on the way, .dockerignore, and what the cache key sees.
#include "../../src/build/copy.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "cairn/base/error.hpp"

namespace cairn::build {
namespace {
namespace fs = std::filesystem;

class CopyPlanTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/cairn-copy-test.XXXXXX";
    root_ = ::mkdtemp(pattern);
    context_ = root_ / "context";
    image_ = root_ / "image";
    fs::create_directories(context_ / "dir/sub");
    fs::create_directories(image_ / "usr/lib");
    fs::create_directories(image_ / "app");
    fs::create_symlink("usr/lib", image_ / "lib");
    write(context_ / "a.txt", "A");
    write(context_ / "b.txt", "B");
    write(context_ / "dir/sub/c.txt", "C");
    write(context_ / "dir/skip.log", "L");
  }
  void TearDown() override { fs::remove_all(root_); }

  static void write(const fs::path& p, const std::string& text) { std::ofstream(p) << text; }

  CopyPlan plan(CopyRequest request, const frontend::IgnoreMatcher* ignore = nullptr) {
    context_stack_ = std::make_unique<overlay::Stack>(
        std::vector<overlay::LayerSource>{{context_, overlay::Format::kernel}}, false);
    image_stack_ = std::make_unique<overlay::Stack>(
        std::vector<overlay::LayerSource>{{image_, overlay::Format::kernel}}, false);
    tree_ = SourceTree{context_stack_.get(), ignore, true, "build context"};
    return plan_copy(request, tree_, *image_stack_);
  }

  static CopyRequest copy(std::vector<std::string> sources, std::string dest) {
    CopyRequest r;
    r.sources = std::move(sources);
    r.destination_is_dir = !dest.empty() && dest.back() == '/';
    r.destination = std::move(dest);
    return r;
  }

  static std::vector<std::string> dests(const CopyPlan& p) {
    std::vector<std::string> out;
    for (const auto& it : p.items)
      out.push_back(it.dest);
    return out;
  }

  fs::path root_, context_, image_;
  std::unique_ptr<overlay::Stack> context_stack_, image_stack_;
  SourceTree tree_;
};

using Strings = std::vector<std::string>;

TEST_F(CopyPlanTest, AFileToAPathWithoutSlashIsThatFile) {
  EXPECT_EQ(dests(plan(copy({"a.txt"}, "/dst"))), (Strings{"dst"}));
}

TEST_F(CopyPlanTest, AFileToADirectoryKeepsItsName) {
  EXPECT_EQ(dests(plan(copy({"a.txt"}, "/dst/"))), (Strings{"dst/a.txt"}));
  // An existing directory of the image counts as one without the slash.
  EXPECT_EQ(dests(plan(copy({"a.txt"}, "/app"))), (Strings{"app/a.txt"}));
}

TEST_F(CopyPlanTest, ADirectoryCopiesItsContents) {
  EXPECT_EQ(dests(plan(copy({"dir"}, "/x"))), (Strings{"x/skip.log", "x/sub", "x/sub/c.txt"}));
}

TEST_F(CopyPlanTest, WildcardsMatchNamesAndNeedADirectory) {
  EXPECT_EQ(dests(plan(copy({"*.txt"}, "/w/"))), (Strings{"w/a.txt", "w/b.txt"}));
  EXPECT_THROW(plan(copy({"a.txt", "b.txt"}, "/w")), Error);
}

TEST_F(CopyPlanTest, AMissingSourceIsAnErrorNamingIt) {
  try {
    plan(copy({"nope.txt"}, "/x"));
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("nope.txt"), std::string::npos) << e.what();
  }
  EXPECT_THROW(plan(copy({"*.none"}, "/x/")), Error);
}

TEST_F(CopyPlanTest, SourcesCannotClimbOutOfTheContext) {
  EXPECT_EQ(dests(plan(copy({"../../a.txt"}, "/y"))), (Strings{"y"}));
}

TEST_F(CopyPlanTest, DestinationsFollowTheImagesSymlinks) {
  const CopyPlan p = plan(copy({"a.txt"}, "/lib/x/"));
  EXPECT_EQ(dests(p), (Strings{"usr/lib/x/a.txt"}));
  ASSERT_EQ(p.parents.size(), 3u);
  EXPECT_TRUE(p.parents[0].from_image);   // usr
  EXPECT_TRUE(p.parents[1].from_image);   // usr/lib
  EXPECT_FALSE(p.parents[2].from_image);  // usr/lib/x, created
  EXPECT_EQ(p.parents[2].mode, 0755u);
}

TEST_F(CopyPlanTest, DockerignoreExcludesAndExceptionsReinclude) {
  const auto ignore = frontend::IgnoreMatcher::parse("**/*.log\ndir/sub\n!dir/sub/c.txt\n");
  EXPECT_EQ(dests(plan(copy({"dir"}, "/x"), &ignore)), (Strings{"x/sub", "x/sub/c.txt"}));
}

TEST_F(CopyPlanTest, ChownAndChmodApplyToEveryCopiedEntry) {
  CopyRequest r = copy({"dir"}, "/x");
  r.uid = 1500;
  r.gid = 1500;
  r.chmod = 0700;
  for (const CopyItem& it : plan(r).items) {
    EXPECT_EQ(it.uid, 1500u) << it.dest;
    EXPECT_EQ(it.mode, 0700u) << it.dest;
  }
}

TEST_F(CopyPlanTest, TheDigestSeesContentNotTimes) {
  const std::string before = plan_digest(plan(copy({"dir"}, "/x")), tree_, true);
  fs::last_write_time(context_ / "dir/sub/c.txt",
                      fs::file_time_type::clock::now() - std::chrono::hours(5));
  EXPECT_EQ(plan_digest(plan(copy({"dir"}, "/x")), tree_, true), before);
  write(context_ / "dir/sub/c.txt", "changed");
  EXPECT_NE(plan_digest(plan(copy({"dir"}, "/x")), tree_, true), before);
}

TEST_F(CopyPlanTest, MkdirTakesExistingParentsFromTheImage) {
  image_stack_ = std::make_unique<overlay::Stack>(
      std::vector<overlay::LayerSource>{{image_, overlay::Format::kernel}}, false);
  const CopyPlan p = plan_mkdir("/app/work/dir", *image_stack_, 0, 0);
  ASSERT_EQ(p.parents.size(), 3u);
  EXPECT_TRUE(p.parents[0].from_image);
  EXPECT_FALSE(p.parents[1].from_image);
  EXPECT_EQ(p.parents[2].path, "app/work/dir");
}

TEST_F(CopyPlanTest, ResolveInImageStopsAtTheRoot) {
  image_stack_ = std::make_unique<overlay::Stack>(
      std::vector<overlay::LayerSource>{{image_, overlay::Format::kernel}}, false);
  // Destinations are cleaned lexically first, as docker's filepath.Clean does.
  EXPECT_EQ(resolve_in_image(*image_stack_, "/lib/../../../etc", true), "etc");
  EXPECT_EQ(resolve_in_image(*image_stack_, "/lib/x/../y", true), "usr/lib/y");
  EXPECT_EQ(resolve_in_image(*image_stack_, "/lib", false), "lib");
  EXPECT_EQ(resolve_in_image(*image_stack_, "/lib", true), "usr/lib");
}

}  // namespace
}  // namespace cairn::build
