// fuse-overlayfs's option syntax as cairn-overlayfs parses it, and the checks that refuse
// an incoherent set before anything is mounted.
#include <gtest/gtest.h>

#include <filesystem>

#include "cairn/base/error.hpp"
#include "cairn/overlay/mount.hpp"

namespace cairn::overlay {
namespace {

TEST(OverlayOptions, LayersAreKernelFormatTopFirst) {
  const auto p = parse_overlayfs_options({"lowerdir=/a:/b,upperdir=/u,workdir=/w"});
  ASSERT_EQ(p.options.lowers.size(), 2u);
  EXPECT_EQ(p.options.lowers[0].path, "/a");
  EXPECT_EQ(p.options.lowers[1].path, "/b");
  EXPECT_EQ(p.options.lowers[0].format, Format::kernel);
  ASSERT_TRUE(p.options.upper);
  EXPECT_EQ(p.options.upper->path, "/u");
  EXPECT_EQ(p.options.workdir, "/w");
  EXPECT_TRUE(p.warnings.empty());
}

TEST(OverlayOptions, EscapedColonStaysInThePath) {
  const auto p = parse_overlayfs_options({"lowerdir=/a\\:b:/c"});
  ASSERT_EQ(p.options.lowers.size(), 2u);
  EXPECT_EQ(p.options.lowers[0].path, "/a:b");
}

TEST(OverlayOptions, WhatPodmanPassesIsAccepted) {
  // Empty elements, volatile and a mapping that starts with ':' are what containers/storage
  // really sends; options may also come in several -o groups.
  const auto p = parse_overlayfs_options(
      {"lowerdir=/l/A:/l/B,upperdir=/d/diff,workdir=/d/work,,volatile", "uidmapping=0:1000:1:1:100000:65536"});
  EXPECT_TRUE(p.warnings.empty());
  ASSERT_EQ(p.options.uid_map.size(), 2u);
  EXPECT_EQ(p.options.uid_map[1], (IdRange{1, 100000, 65536}));
}

TEST(OverlayOptions, SquashAndMappingsAreParsed) {
  const auto p = parse_overlayfs_options({"lowerdir=/a,squash_to_root,gidmapping=0:5:10"});
  EXPECT_EQ(p.options.squash_uid, 0u);
  EXPECT_EQ(p.options.squash_gid, 0u);
  ASSERT_EQ(p.options.gid_map.size(), 1u);
  EXPECT_EQ(p.options.gid_map[0], (IdRange{0, 5, 10}));
  const auto q = parse_overlayfs_options({"lowerdir=/a,squash_to_uid=7,squash_to_gid=8,ro"});
  EXPECT_EQ(q.options.squash_uid, 7u);
  EXPECT_EQ(q.options.squash_gid, 8u);
  EXPECT_TRUE(q.options.read_only);
}

TEST(OverlayOptions, UnknownOptionsAreIgnoredWithAWarning) {
  const auto p = parse_overlayfs_options({"lowerdir=/a,frobnicate=1,noatime,nodev"});
  ASSERT_EQ(p.warnings.size(), 1u);
  EXPECT_EQ(p.warnings[0], "unknown option frobnicate=1 ignored");
}

TEST(OverlayOptions, CairnFormatAppliesToEveryLayer) {
  const auto p = parse_overlayfs_options({"lowerdir=/a,upperdir=/u,cairn_format"});
  EXPECT_EQ(p.options.lowers[0].format, Format::cairn);
  EXPECT_EQ(p.options.upper->format, Format::cairn);
}

TEST(OverlayOptions, MalformedValuesAreRefused) {
  EXPECT_THROW(parse_overlayfs_options({"lowerdir=/a,uidmapping=0:1"}), Error);
  EXPECT_THROW(parse_overlayfs_options({"lowerdir=/a,uidmapping=0:x:1"}), Error);
  EXPECT_THROW(parse_overlayfs_options({"lowerdir=/a,squash_to_uid=-1"}), Error);
  EXPECT_THROW(parse_overlayfs_options({"lowerdir=/a,max_threads=99999999999"}), Error);
  EXPECT_THROW(parse_overlayfs_options({"lowerdir=/a,spin_us=soon"}), Error);
}

TEST(OverlayOptions, SpinTimeIsAnOptionThatZeroTurnsOff) {
  EXPECT_EQ(parse_overlayfs_options({"lowerdir=/a"}).options.spin_us, 200u);
  const ParsedOptions off = parse_overlayfs_options({"lowerdir=/a,spin_us=0,max_threads=1"});
  EXPECT_EQ(off.options.spin_us, 0u);
  EXPECT_EQ(off.options.max_threads, 1u);
  EXPECT_TRUE(off.warnings.empty());
  EXPECT_EQ(parse_overlayfs_options({"lowerdir=/a,spin_us=1000"}).options.spin_us, 1000u);
}

TEST(OverlayOptions, ValidateRefusesIncoherentSets) {
  MountOptions none;
  EXPECT_THROW(validate(none), Error);
  MountOptions no_work;
  no_work.lowers = {{"/", Format::kernel}};
  no_work.upper = LayerSource{"/tmp", Format::kernel};
  try {
    validate(no_work);
    FAIL() << "an upper without a workdir was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("needs a workdir"), std::string::npos);
  }
  MountOptions cairn_upper;
  cairn_upper.lowers = {{"/", Format::cairn}};
  cairn_upper.upper = LayerSource{"/tmp", Format::cairn};
  EXPECT_NO_THROW(validate(cairn_upper));  // LAYER/work is made when mounting
  MountOptions far_work = no_work;
  far_work.workdir = "/proc";  // another filesystem than /tmp's
  EXPECT_THROW(validate(far_work), Error);
}

}  // namespace
}  // namespace cairn::overlay
