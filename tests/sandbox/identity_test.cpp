#include "cairn/sandbox/identity.hpp"

#include <gtest/gtest.h>

#include "../base/catch_error.hpp"

namespace cairn::sandbox {
using testing::catch_error;
namespace {

TEST(SubidRange, FindsTheUsersFirstRangeByNameOrId) {
  const std::string text =
      "# comment\n"
      "alice:100000:65536\n"
      "bob:165536:65536\n"
      "alice:300000:10\n"
      "1005:400000:5000\n"
      "broken line\n"
      "carol:x:5\n";
  EXPECT_EQ(find_subid_range(text, "alice", 1000), (SubidRange{100000, 65536}));
  EXPECT_EQ(find_subid_range(text, "bob", 1001), (SubidRange{165536, 65536}));
  EXPECT_EQ(find_subid_range(text, "dave", 1005), (SubidRange{400000, 5000}));
  EXPECT_EQ(find_subid_range(text, "carol", 1006), std::nullopt);
  EXPECT_EQ(find_subid_range(text, "erin", 1007), std::nullopt);
  EXPECT_EQ(find_subid_range("", "alice", 1000), std::nullopt);
}

TEST(SubidRange, TheSuggestedFreeRangeOverlapsNoOne) {
  EXPECT_EQ(free_subid_range("", ""), (SubidRange{100000, 65536}));
  EXPECT_EQ(free_subid_range("a:100000:65536\n", "b:165536:65536\n"), (SubidRange{231072, 65536}));
  EXPECT_EQ(free_subid_range("a:300000:65536\n", ""), (SubidRange{100000, 65536}));
  EXPECT_EQ(free_subid_range("a:150000:10\n", ""), (SubidRange{150010, 65536}));
}

HostIds host_with_range() {
  HostIds host;
  host.uid = 1000;
  host.gid = 1000;
  host.user_name = "alice";
  host.have_newuidmap = host.have_newgidmap = true;
  host.subuid = SubidRange{100000, 65536};
  host.subgid = SubidRange{200000, 65536};
  return host;
}

TEST(ChooseIdentity, RangeModeMapsRootToTheCallerAndTheRestToTheRange) {
  const Identity id = choose_identity(IdModeChoice::automatic, host_with_range());
  EXPECT_EQ(id.mode, IdMode::range);
  EXPECT_FALSE(id.fell_back);
  EXPECT_EQ(id.uid_map, (std::vector<IdMapEntry>{{0, 1000, 1}, {1, 100000, 65535}}));
  EXPECT_EQ(id.gid_map, (std::vector<IdMapEntry>{{0, 1000, 1}, {1, 200000, 65535}}));
}

TEST(ChooseIdentity, ASmallRangeMapsWhatThereIs) {
  HostIds host = host_with_range();
  host.subuid = SubidRange{100000, 1000};
  const Identity id = choose_identity(IdModeChoice::automatic, host);
  EXPECT_EQ(id.uid_map[1], (IdMapEntry{1, 100000, 1000}));
}

TEST(ChooseIdentity, FallsBackToSingleIdWithTheReason) {
  HostIds host = host_with_range();
  host.subuid.reset();
  const Identity id = choose_identity(IdModeChoice::automatic, host);
  EXPECT_EQ(id.mode, IdMode::single);
  EXPECT_TRUE(id.fell_back);
  EXPECT_NE(id.reason.find("/etc/subuid has no range for alice"), std::string::npos);
  EXPECT_NE(id.reason.find("usermod --add-subuids"), std::string::npos);
  EXPECT_EQ(id.uid_map, (std::vector<IdMapEntry>{{0, 1000, 1}}));

  host = host_with_range();
  host.have_newgidmap = false;
  EXPECT_NE(choose_identity(IdModeChoice::automatic, host).reason.find("apt-get install uidmap"),
            std::string::npos);
}

TEST(ChooseIdentity, SingleWhenAskedEvenWithARange) {
  const Identity id = choose_identity(IdModeChoice::single, host_with_range());
  EXPECT_EQ(id.mode, IdMode::single);
  EXPECT_FALSE(id.fell_back);
}

TEST(ChooseIdentity, RangeDemandedButImpossibleIsAnError) {
  HostIds host = host_with_range();
  host.subgid.reset();
  const Error e = catch_error([&] { choose_identity(IdModeChoice::range, host); });
  EXPECT_NE(std::string(e.what()).find("/etc/subgid has no range"), std::string::npos);
  EXPECT_NE(std::string(e.what()).find("--userns=single"), std::string::npos);
}

TEST(ChooseIdentity, RootNeedsNoRangeAndGetsNoNotice) {
  HostIds host;
  const Identity id = choose_identity(IdModeChoice::automatic, host);
  EXPECT_EQ(id.mode, IdMode::single);
  EXPECT_FALSE(id.fell_back);
}

TEST(IdModeChoice, Parses) {
  EXPECT_EQ(parse_id_mode_choice("auto"), IdModeChoice::automatic);
  EXPECT_EQ(parse_id_mode_choice("single"), IdModeChoice::single);
  EXPECT_EQ(parse_id_mode_choice("range"), IdModeChoice::range);
  EXPECT_EQ(parse_id_mode_choice("keep-id"), std::nullopt);
}

constexpr const char* kPasswd =
    "root:x:0:0:root:/root:/bin/bash\n"
    "daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n"
    "app:x:1000:1000:App:/home/app:/bin/sh\n"
    "nohome:x:1001:1001::::\n";
constexpr const char* kGroup =
    "root:x:0:\n"
    "daemon:x:1:\n"
    "app:x:1000:\n"
    "audio:x:29:app,other\n"
    "video:x:44:other\n"
    "staff:x:50:app\n";

TEST(ResolveUser, ByNameWithSupplementaryGroups) {
  const User u = resolve_user("app", kPasswd, kGroup);
  EXPECT_EQ(u.uid, 1000u);
  EXPECT_EQ(u.gid, 1000u);
  EXPECT_EQ(u.home, "/home/app");
  EXPECT_EQ(u.name, "app");
  EXPECT_EQ(u.groups, (std::vector<gid_t>{29, 50}));
}

TEST(ResolveUser, ByUidFindsTheEntry) {
  const User u = resolve_user("1000", kPasswd, kGroup);
  EXPECT_EQ(u.name, "app");
  EXPECT_EQ(u.home, "/home/app");
}

TEST(ResolveUser, AnUnknownNumericUidIsAllowedWithGroupZeroAndHomeSlash) {
  const User u = resolve_user("4242", kPasswd, kGroup);
  EXPECT_EQ(u.uid, 4242u);
  EXPECT_EQ(u.gid, 0u);
  EXPECT_EQ(u.home, "/");
  EXPECT_TRUE(u.groups.empty());
}

TEST(ResolveUser, AGroupGivenReplacesPrimaryAndSupplementaryGroups) {
  User u = resolve_user("app:video", kPasswd, kGroup);
  EXPECT_EQ(u.gid, 44u);
  EXPECT_TRUE(u.groups.empty());
  u = resolve_user("daemon:4000", kPasswd, kGroup);
  EXPECT_EQ(u.uid, 1u);
  EXPECT_EQ(u.gid, 4000u);
  u = resolve_user("1000:1000", "", "");
  EXPECT_EQ(u.uid, 1000u);
  EXPECT_EQ(u.gid, 1000u);
}

TEST(ResolveUser, MissingEntriesAreErrorsAsDockerWordsThem) {
  EXPECT_NE(std::string(catch_error([] { resolve_user("nobody", kPasswd, kGroup); }).what())
                .find("unable to find user nobody: no matching entries in passwd file"),
            std::string::npos);
  EXPECT_NE(std::string(catch_error([] { resolve_user("app:wheel", kPasswd, kGroup); }).what())
                .find("unable to find group wheel"),
            std::string::npos);
  EXPECT_NE(std::string(catch_error([] { resolve_user(":1", kPasswd, kGroup); }).what())
                .find("no user name"),
            std::string::npos);
}

TEST(ResolveUser, AnEntryWithoutHomeGetsSlash) {
  EXPECT_EQ(resolve_user("nohome", kPasswd, kGroup).home, "/");
}

}  // namespace
}  // namespace cairn::sandbox
