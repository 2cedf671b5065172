#include <gtest/gtest.h>
#include <sys/mount.h>

#include <algorithm>

#include "../../src/sandbox/internal.hpp"

namespace cairn::sandbox {
namespace {

Spec spec() {
  Spec s;
  s.rootfs = "/r";
  s.runtime_dir = "/rt";
  s.hostname = "box";
  return s;
}

const MountOp* find(const std::vector<MountOp>& ops, MountOp::Kind kind, const std::string& target) {
  const auto it = std::find_if(ops.begin(), ops.end(), [&](const MountOp& op) {
    return op.kind == kind && op.target == target;
  });
  return it == ops.end() ? nullptr : &*it;
}

std::ptrdiff_t index_of(const std::vector<MountOp>& ops, const MountOp* op) { return op - ops.data(); }

TEST(MountPlan, ProcDevAndTheRuntimeFilesUnderTheRoot) {
  const auto ops = plan_mounts(spec());
  const MountOp* proc = find(ops, MountOp::Kind::mount, "/r/proc");
  ASSERT_NE(proc, nullptr);
  EXPECT_EQ(proc->fstype, "proc");
  EXPECT_TRUE(proc->flags & MS_NOSUID);
  const MountOp* dev = find(ops, MountOp::Kind::mount, "/r/dev");
  ASSERT_NE(dev, nullptr);
  EXPECT_EQ(dev->fstype, "tmpfs");
  for (const char* d : {"null", "zero", "full", "random", "urandom", "tty"}) {
    const MountOp* bind = find(ops, MountOp::Kind::bind, std::string("/r/dev/") + d);
    ASSERT_NE(bind, nullptr) << d;
    EXPECT_EQ(bind->source, std::string("/dev/") + d);
    // The bind needs its file, which needs the tmpfs.
    const MountOp* file = find(ops, MountOp::Kind::make_file, std::string("/r/dev/") + d);
    ASSERT_NE(file, nullptr);
    EXPECT_LT(index_of(ops, dev), index_of(ops, file));
    EXPECT_LT(index_of(ops, file), index_of(ops, bind));
  }
  for (const char* f : {"hosts", "resolv.conf", "hostname"}) {
    const MountOp* bind = find(ops, MountOp::Kind::bind, std::string("/r/etc/") + f);
    ASSERT_NE(bind, nullptr) << f;
    EXPECT_EQ(bind->source, std::string("/rt/") + f);
    EXPECT_FALSE(bind->optional);
  }
  EXPECT_NE(find(ops, MountOp::Kind::symlink, "/r/dev/ptmx"), nullptr);
  EXPECT_NE(find(ops, MountOp::Kind::mount, "/r/dev/shm"), nullptr);
}

TEST(MountPlan, DevptsGroupOnlyWhereTheNamespaceMapsIt) {
  Spec s = spec();
  s.id_mode = IdMode::single;
  EXPECT_EQ(find(plan_mounts(s), MountOp::Kind::mount, "/r/dev/pts")->data.find("gid="),
            std::string::npos);
  s.id_mode = IdMode::range;
  EXPECT_NE(find(plan_mounts(s), MountOp::Kind::mount, "/r/dev/pts")->data.find("gid=5"),
            std::string::npos);
}

TEST(MountPlan, ReadOnlyBindsAreMadeReadOnlyAfterTheirBind) {
  Spec s = spec();
  s.binds = {{"/home/u/src", "/src", true}, {"/data", "/data", false}};
  const auto ops = plan_mounts(s);
  const MountOp* src = find(ops, MountOp::Kind::bind, "/r/src");
  const MountOp* ro = find(ops, MountOp::Kind::read_only, "/r/src");
  ASSERT_NE(src, nullptr);
  ASSERT_NE(ro, nullptr);
  EXPECT_LT(index_of(ops, src), index_of(ops, ro));
  EXPECT_TRUE(src->flags & MS_REC);
  EXPECT_NE(find(ops, MountOp::Kind::bind, "/r/data"), nullptr);
  EXPECT_EQ(find(ops, MountOp::Kind::read_only, "/r/data"), nullptr);
}

TEST(MountPlan, BindsUnderDevGetTheirMountPointsInTheDevTmpfs) {
  Spec s = spec();
  s.binds = {{"/tmp/script", "/dev/pipes/EOF", true}};
  const auto ops = plan_mounts(s);
  const MountOp* dev = find(ops, MountOp::Kind::mount, "/r/dev");
  const MountOp* dir = find(ops, MountOp::Kind::make_dir, "/r/dev/pipes");
  const MountOp* file = find(ops, MountOp::Kind::make_file, "/r/dev/pipes/EOF");
  const MountOp* bind = find(ops, MountOp::Kind::bind, "/r/dev/pipes/EOF");
  ASSERT_TRUE(dev && dir && file && bind);
  EXPECT_LT(index_of(ops, dev), index_of(ops, dir));
  EXPECT_LT(index_of(ops, dir), index_of(ops, file));
  EXPECT_LT(index_of(ops, file), index_of(ops, bind));
}

TEST(MountPlan, TmpfsMountsComeWithTheirSize) {
  Spec s = spec();
  s.tmpfs = {{"/scratch", 1 << 20}};
  const auto ops = plan_mounts(s);
  const MountOp* t = find(ops, MountOp::Kind::mount, "/r/scratch");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->fstype, "tmpfs");
  EXPECT_NE(t->data.find("size=1048576"), std::string::npos);
}

TEST(MountPlan, SysIsReadOnlyAndOptional) {
  const auto ops = plan_mounts(spec());
  const MountOp* sys = find(ops, MountOp::Kind::bind, "/r/sys");
  const MountOp* ro = find(ops, MountOp::Kind::read_only, "/r/sys");
  ASSERT_NE(sys, nullptr);
  ASSERT_NE(ro, nullptr);
  EXPECT_TRUE(sys->optional);
}

TEST(RuntimeFiles, HostsNamesLocalhostAndTheHostname) {
  const std::string hosts = hosts_file("box");
  EXPECT_NE(hosts.find("127.0.0.1\tlocalhost\n"), std::string::npos);
  EXPECT_NE(hosts.find("::1\tlocalhost"), std::string::npos);
  EXPECT_NE(hosts.find("box\n"), std::string::npos);
}

TEST(RuntimeFiles, ResolvConfIsTheHostsUnlessThereIsNoNetwork) {
  EXPECT_EQ(resolv_conf("nameserver 10.0.0.1\n", Network::host), "nameserver 10.0.0.1\n");
  EXPECT_EQ(resolv_conf("nameserver 10.0.0.1\n", Network::none), "");
}

}  // namespace
}  // namespace cairn::sandbox
