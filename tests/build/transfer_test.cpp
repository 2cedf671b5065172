// The pure parts of pull and push: --platform values and the references an image name
// stands for under `registry.search`.
#include "cairn/build/transfer.hpp"

#include <gtest/gtest.h>

#include <stdexcept>
#include <string>
#include <vector>

#include "../base/catch_error.hpp"
#include "cairn/base/error.hpp"
#include "cairn/store/image.hpp"

namespace cairn::build {
namespace {

using cairn::testing::catch_error;

std::vector<std::string> strs(const std::vector<store::Reference>& refs) {
  std::vector<std::string> out;
  for (const auto& r : refs) out.push_back(r.str());
  return out;
}

// --- parse_platform ---------------------------------------------------------------------

TEST(ParsePlatform, OsAndArchitecture) {
  const Platform p = parse_platform("linux/amd64");
  EXPECT_EQ(p.os, "linux");
  EXPECT_EQ(p.architecture, "amd64");
  EXPECT_EQ(p.variant, "");
  EXPECT_EQ(p.str(), "linux/amd64");
}

TEST(ParsePlatform, WithVariant) {
  const Platform p = parse_platform("linux/arm64/v8");
  EXPECT_EQ(p.os, "linux");
  EXPECT_EQ(p.architecture, "arm64");
  EXPECT_EQ(p.variant, "v8");
  EXPECT_EQ(p.str(), "linux/arm64/v8");
}

TEST(ParsePlatform, OtherOs) {
  const Platform p = parse_platform("windows/amd64");
  EXPECT_EQ(p.os, "windows");
  EXPECT_EQ(p.architecture, "amd64");
}

TEST(ParsePlatform, ArchitectureAloneMeansLinux) {
  const Platform p = parse_platform("arm64");
  EXPECT_EQ(p.os, "linux");
  EXPECT_EQ(p.architecture, "arm64");
  EXPECT_EQ(p.variant, "");
  EXPECT_EQ(p.str(), "linux/arm64");
}

TEST(ParsePlatform, EmptyIsThisMachine) {
  const Platform p = parse_platform("");
  EXPECT_EQ(p.os, "linux");
  EXPECT_EQ(p.architecture, store::host_architecture());
  EXPECT_FALSE(p.architecture.empty());
  EXPECT_EQ(p.variant, "");
}

TEST(ParsePlatform, MalformedIsAnErrorShowingTheForm) {
  for (const std::string text : {"linux//amd64", "a/b/c/d", "/amd64", "linux/", "linux/amd64/",
                                 "/", "linux/amd 64", "linux\t/amd64"}) {
    const Error e = catch_error([&] { (void)parse_platform(text); });
    EXPECT_NE(std::string(e.what()).find("os/arch[/variant]"), std::string::npos)
        << text << ": " << e.what();
    EXPECT_NE(std::string(e.what()).find(text), std::string::npos) << text << ": " << e.what();
  }
}

TEST(Platform, StrOmitsAnEmptyVariant) {
  Platform p;
  p.architecture = "arm";
  EXPECT_EQ(p.str(), "linux/arm");
  p.variant = "v7";
  EXPECT_EQ(p.str(), "linux/arm/v7");
  p.os = "freebsd";
  EXPECT_EQ(p.str(), "freebsd/arm/v7");
}

// --- pull_candidates --------------------------------------------------------------------

TEST(PullCandidates, QualifiedNamesStandForThemselves) {
  const std::vector<std::string> search = {"quay.io", "docker.io"};
  EXPECT_EQ(strs(pull_candidates("localhost:5000/x", search)),
            std::vector<std::string>{"localhost:5000/x:latest"});
  EXPECT_EQ(strs(pull_candidates("quay.io/a/b:1", search)),
            std::vector<std::string>{"quay.io/a/b:1"});
  EXPECT_EQ(strs(pull_candidates("localhost/app", search)),
            std::vector<std::string>{"localhost/app:latest"});
  EXPECT_EQ(strs(pull_candidates("docker.io/library/busybox:1.36", search)),
            std::vector<std::string>{"docker.io/library/busybox:1.36"});
  EXPECT_EQ(strs(pull_candidates("[::1]:5000/x", search)),
            std::vector<std::string>{"[::1]:5000/x:latest"});
}

TEST(PullCandidates, UnqualifiedOnDockerHubGetsLibraryAndLatest) {
  const auto c = pull_candidates("busybox", {"docker.io"});
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].domain, "docker.io");
  EXPECT_EQ(c[0].path, "library/busybox");
  EXPECT_EQ(c[0].tag, "latest");
  EXPECT_EQ(c[0].str(), "docker.io/library/busybox:latest");
}

TEST(PullCandidates, EachSearchRegistryInOrder) {
  EXPECT_EQ(strs(pull_candidates("busybox", {"quay.io", "docker.io"})),
            (std::vector<std::string>{"quay.io/busybox:latest",
                                      "docker.io/library/busybox:latest"}));
  EXPECT_EQ(strs(pull_candidates("busybox:1.36", {"docker.io", "localhost:5000"})),
            (std::vector<std::string>{"docker.io/library/busybox:1.36",
                                      "localhost:5000/busybox:1.36"}));
}

TEST(PullCandidates, UnqualifiedUserRepository) {
  // "user" has neither '.' nor ':' and is not localhost: a path component, not a domain.
  EXPECT_EQ(strs(pull_candidates("user/app", {"quay.io", "docker.io"})),
            (std::vector<std::string>{"quay.io/user/app:latest", "docker.io/user/app:latest"}));
}

TEST(PullCandidates, DigestsAreKept) {
  const std::string digest = "sha256:" + std::string(64, 'a');
  const auto c = pull_candidates("busybox@" + digest, {"quay.io", "docker.io"});
  ASSERT_EQ(c.size(), 2u);
  EXPECT_EQ(c[0].domain, "quay.io");
  EXPECT_EQ(c[0].digest, digest);
  EXPECT_EQ(c[1].str(), "docker.io/library/busybox@" + digest);
}

TEST(PullCandidates, NoSearchRegistriesMeansDockerHub) {
  EXPECT_EQ(strs(pull_candidates("busybox", {})),
            std::vector<std::string>{"docker.io/library/busybox:latest"});
}

TEST(PullCandidates, InvalidNamesThrowInvalidArgument) {
  EXPECT_THROW(pull_candidates("BusyBox", {"docker.io"}), std::invalid_argument);
  EXPECT_THROW(pull_candidates("quay.io/a/b:", {"docker.io"}), std::invalid_argument);
  EXPECT_THROW(pull_candidates("", {"docker.io"}), std::invalid_argument);
}

}  // namespace
}  // namespace cairn::build
