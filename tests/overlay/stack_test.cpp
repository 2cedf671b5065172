#include "cairn/overlay/stack.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <stdexcept>

#include "../store/tar_fixture.hpp"
#include "cairn/base/error.hpp"
#include "cairn/base/sys.hpp"
#include "cairn/store/layer_tar.hpp"

namespace cairn::overlay {
namespace {

namespace fs = std::filesystem;
using store::testing::make_tar;
using store::testing::TarEntry;

TarEntry dir(const std::string& path, mode_t perm = 0755) {
  return {path + "/", S_IFDIR | perm};
}
TarEntry file(const std::string& path, const std::string& data = "", mode_t perm = 0644) {
  return {path, S_IFREG | perm, data};
}
TarEntry symlink(const std::string& path, const std::string& target) {
  return {.path = path, .mode = S_IFLNK | 0777, .link = target};
}
// `.wh.NAME` beside the path it deletes.
TarEntry whiteout(const std::string& path) {
  const auto slash = path.rfind('/');
  if (slash == std::string::npos) return file(".wh." + path);
  return file(path.substr(0, slash + 1) + ".wh." + path.substr(slash + 1));
}
TarEntry opaque(const std::string& dir) {
  return file(dir.empty() ? ".wh..wh..opq" : dir + "/.wh..wh..opq");
}

// make_tar writes pax, whose headers must be UTF-8; plain ustar keeps names as raw bytes.
std::string ustar(const std::vector<TarEntry>& entries) {
  std::unique_ptr<archive, decltype(&archive_write_free)> a(archive_write_new(),
                                                            archive_write_free);
  archive_write_set_format_ustar(a.get());
  archive_write_set_bytes_in_last_block(a.get(), 1);
  std::string out;
  std::size_t used = 0;
  out.resize(1 << 20);
  if (archive_write_open_memory(a.get(), out.data(), out.size(), &used) != ARCHIVE_OK)
    throw std::runtime_error(archive_error_string(a.get()));
  for (const TarEntry& t : entries) {
    std::unique_ptr<archive_entry, decltype(&archive_entry_free)> e(archive_entry_new(),
                                                                    archive_entry_free);
    archive_entry_copy_pathname(e.get(), t.path.c_str());
    archive_entry_set_mode(e.get(), t.mode);
    archive_entry_set_uid(e.get(), t.uid);
    archive_entry_set_gid(e.get(), t.gid);
    archive_entry_set_size(e.get(), static_cast<la_int64_t>(t.data.size()));
    if (archive_write_header(a.get(), e.get()) != ARCHIVE_OK)
      throw std::runtime_error(archive_error_string(a.get()));
    archive_write_data(a.get(), t.data.data(), t.data.size());
  }
  archive_write_close(a.get());
  out.resize(used);
  return out;
}

using Names = std::vector<std::string>;

Names names(const Stack& stack, std::string_view dir) {
  Names out;
  for (const DirEntry& e : stack.list(dir))
    out.push_back(e.name);
  return out;
}

// The layer that answers for `path`, or -1 when the path does not exist.
long layer_of(const Stack& stack, std::string_view path) {
  const auto r = stack.lookup(path);
  return r ? static_cast<long>(r->layer) : -1;
}

class OverlayStack : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/cairn-overlay-test-XXXXXX";
    dir_ = ::mkdtemp(tmpl);
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  // A layer directory unpacked from a tar of `entries`, as the store makes them.
  layer::LayerDir layer(const std::string& name, const std::vector<TarEntry>& entries) {
    return layer_from(name, make_tar(entries));
  }
  layer::LayerDir layer_from(const std::string& name, const std::string& tar_bytes) {
    const fs::path tar = dir_ / (name + ".tar");
    sys::write_file_atomic(tar.string(), tar_bytes);
    const UniqueFd fd = sys::open(tar.string(), O_RDONLY);
    const layer::LayerDir dir{dir_ / name};
    store::unpack_layer(fd.get(), dir);
    return dir;
  }

  fs::path dir_;
};

TEST_F(OverlayStack, FileInALowerLayerIsVisible) {
  const Stack stack({layer("base", {dir("etc"), file("etc/hostname", "box\n")})}, std::nullopt);
  EXPECT_EQ(stack.layers(), 1u);
  const auto r = stack.lookup("etc/hostname");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->layer, 0u);
  EXPECT_EQ(r->path, "etc/hostname");
  EXPECT_TRUE(S_ISREG(r->attr.mode));
  EXPECT_EQ(r->attr.size, 4);
  EXPECT_TRUE(S_ISDIR(stack.lookup("etc")->attr.mode));
  EXPECT_FALSE(stack.lookup("etc/missing"));
}

TEST_F(OverlayStack, UpperOverridesLower) {
  const auto lower = layer("lower", {dir("etc"), file("etc/hostname", "lower"), file("etc/keep")});
  const auto upper = layer("upper", {dir("etc"), file("etc/hostname", "up")});
  const Stack stack({lower}, upper);
  EXPECT_EQ(stack.layers(), 2u);
  const auto r = stack.lookup("etc/hostname");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->layer, 0u);
  EXPECT_EQ(r->attr.size, 2);
  struct stat st;
  ASSERT_EQ(::lstat((upper.root() / "etc/hostname").c_str(), &st), 0);
  EXPECT_EQ(r->attr.host_ino, st.st_ino);
  EXPECT_EQ(r->attr.host_dev, st.st_dev);
  EXPECT_EQ(layer_of(stack, "etc/keep"), 1);
  EXPECT_EQ(layer_of(stack, "etc"), 0);
}

TEST_F(OverlayStack, WhiteoutHidesALowerFile) {
  const auto lower = layer("lower", {dir("etc"), file("etc/old"), file("etc/keep")});
  const auto upper = layer("upper", {dir("etc"), whiteout("etc/old")});
  const Stack stack({lower}, upper);
  EXPECT_FALSE(stack.lookup("etc/old"));
  EXPECT_FALSE(stack.lookup("etc/.wh.old"));  // the marker itself is hidden too
  EXPECT_EQ(layer_of(stack, "etc/keep"), 1);
  EXPECT_EQ(names(stack, "etc"), Names{"keep"});
}

TEST_F(OverlayStack, WhiteoutOfADirectoryHidesItsWholeSubtree) {
  const auto lower = layer("lower", {dir("a"), dir("a/b"), file("a/b/c"), file("z")});
  const auto upper = layer("upper", {whiteout("a")});
  const Stack stack({lower}, upper);
  EXPECT_FALSE(stack.lookup("a"));
  EXPECT_FALSE(stack.lookup("a/b"));
  EXPECT_FALSE(stack.lookup("a/b/c"));
  EXPECT_TRUE(stack.list("a").empty());
  EXPECT_EQ(names(stack, ""), Names{"z"});
}

TEST_F(OverlayStack, WhiteoutInAMiddleLayerHidesOnlyTheLayersBelowIt) {
  const auto bottom = layer("bottom", {dir("a"), file("a/x")});
  const auto middle = layer("middle", {whiteout("a")});
  const auto top = layer("top", {dir("a"), file("a/y")});
  const Stack stack({top, middle, bottom}, std::nullopt);
  EXPECT_EQ(layer_of(stack, "a"), 0);
  EXPECT_EQ(layer_of(stack, "a/y"), 0);
  EXPECT_FALSE(stack.lookup("a/x"));
  EXPECT_EQ(names(stack, "a"), Names{"y"});
}

TEST_F(OverlayStack, OpaqueDirectoryHidesOnlyTheLayersBelowIt) {
  const auto bottom = layer("bottom", {dir("d"), file("d/old"), dir("d/sub"), file("d/sub/x")});
  const auto middle = layer("middle", {dir("d"), opaque("d"), file("d/mid")});
  const auto top = layer("top", {dir("d"), file("d/top")});
  const Stack stack({middle, bottom}, top);
  EXPECT_FALSE(stack.lookup("d/old"));
  EXPECT_FALSE(stack.lookup("d/sub"));
  EXPECT_FALSE(stack.lookup("d/sub/x"));
  EXPECT_EQ(layer_of(stack, "d/mid"), 1);
  EXPECT_EQ(layer_of(stack, "d/top"), 0);
  EXPECT_EQ(names(stack, "d"), (Names{"mid", "top"}));
  EXPECT_FALSE(stack.lookup("d/.wh..wh..opq"));
}

TEST_F(OverlayStack, OpaqueMarkerAtTheLayerRootHidesEveryLowerLayer) {
  const auto lower = layer("lower", {file("gone"), dir("etc"), file("etc/gone")});
  const auto upper = layer("upper", {opaque(""), dir("etc"), file("etc/new")});
  const Stack stack({lower}, upper);
  EXPECT_FALSE(stack.lookup("gone"));
  EXPECT_FALSE(stack.lookup("etc/gone"));
  EXPECT_EQ(names(stack, ""), Names{"etc"});
  EXPECT_EQ(names(stack, "etc"), Names{"new"});
}

TEST_F(OverlayStack, FileInAHigherLayerHidesADirectoryBelow) {
  const auto lower = layer("lower", {dir("d"), file("d/x"), dir("d/sub")});
  const auto upper = layer("upper", {file("d", "now a file")});
  const Stack stack({lower}, upper);
  const auto r = stack.lookup("d");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->layer, 0u);
  EXPECT_TRUE(S_ISREG(r->attr.mode));
  EXPECT_FALSE(stack.lookup("d/x"));
  EXPECT_FALSE(stack.lookup("d/sub"));
  EXPECT_TRUE(stack.list("d").empty());
}

// Applying the layers in order: the file replaces the bottom directory with its contents,
// then the top directory replaces the file, so nothing from the bottom comes back.
TEST_F(OverlayStack, DirectoryOverAFileDoesNotMergeWhatIsBelowTheFile) {
  const auto bottom = layer("bottom", {dir("d"), file("d/x")});
  const auto middle = layer("middle", {file("d")});
  const auto top = layer("top", {dir("d"), file("d/y")});
  const Stack stack({top, middle, bottom}, std::nullopt);
  EXPECT_TRUE(S_ISDIR(stack.lookup("d")->attr.mode));
  EXPECT_FALSE(stack.lookup("d/x"));
  EXPECT_EQ(names(stack, "d"), Names{"y"});
}

// OCI: "Whiteout files MUST only apply to resources in lower/parent layers. Files that are
// present in the same layer as a whiteout file can only be hidden by whiteout files in
// subsequent layers." So `.wh.d` + `d/` in one layer is a fresh directory that replaces the
// lower ones, whatever the order of the two entries in the tar.
void expect_only_the_new_directory(const Stack& stack) {
  EXPECT_EQ(layer_of(stack, "d"), 0);
  EXPECT_EQ(layer_of(stack, "d/new"), 0);
  EXPECT_FALSE(stack.lookup("d/old"));
  EXPECT_FALSE(stack.lookup("d/sub/x"));
  EXPECT_EQ(stack.list("d"), (std::vector<DirEntry>{{"new", S_IFREG, 0}}));
  EXPECT_EQ(stack.list(""), (std::vector<DirEntry>{{"d", S_IFDIR, 0}}));
}

std::vector<TarEntry> old_directory() {
  return {dir("d"), file("d/old"), dir("d/sub"), file("d/sub/x")};
}

TEST_F(OverlayStack, DirectoryRecreatedAfterItsWhiteoutInOneLayerShowsOnlyThatLayer) {
  const auto upper = layer("upper", {dir("d"), file("d/new"), whiteout("d")});
  expect_only_the_new_directory(Stack({layer("lower", old_directory())}, upper));
}

// How the overlay will record `rm -r d; mkdir d` in its upper: the directory on disk, its
// record entry marked as a whiteout.
TEST_F(OverlayStack, UpperRecordOfARecreatedDirectoryShowsOnlyTheUpper) {
  const auto upper = layer("upper", {dir("d"), file("d/new")});
  layer::Record record = layer::Record::load(upper.record());
  record["d"].mode = S_IFDIR | 0755;
  record["d"].whiteout = true;
  record.save(upper.record());
  expect_only_the_new_directory(Stack({layer("lower", old_directory())}, upper));
}

// The order the spec recommends (whiteouts first): unpack_layer keeps the whiteout when a
// same-layer entry of the same name follows it.
TEST_F(OverlayStack, DirectoryRecreatedAfterAnEarlierWhiteoutInTheTar) {
  const auto upper = layer("upper", {whiteout("d"), dir("d"), file("d/new")});
  expect_only_the_new_directory(Stack({layer("lower", old_directory())}, upper));
}

// The same rule for a file: the layer's own file stays, the whiteout hides the one below.
TEST_F(OverlayStack, FileRecreatedAfterItsWhiteoutInOneLayerIsVisible) {
  const auto lower = layer("lower", {dir("etc"), file("etc/conf", "old")});
  const auto upper = layer("upper", {dir("etc"), whiteout("etc/conf"), file("etc/conf", "new!")});
  const Stack stack({lower}, upper);
  const auto r = stack.lookup("etc/conf");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->layer, 0u);
  EXPECT_EQ(r->attr.size, 4);
  EXPECT_EQ(stack.list("etc"), (std::vector<DirEntry>{{"conf", S_IFREG, 0}}));
}

TEST_F(OverlayStack, FourLayersResolveTopDown) {
  const auto l3 = layer("l3", {dir("usr"), dir("usr/bin"), file("usr/bin/sh", "sh3"),
                               file("usr/bin/ls"), file("usr/bin/cat")});
  const auto l2 = layer("l2", {dir("usr"), dir("usr/bin"), file("usr/bin/sh", "sh2-")});
  const auto l1 = layer("l1", {dir("usr"), dir("usr/bin"), whiteout("usr/bin/cat")});
  const auto l0 = layer("l0", {dir("usr"), dir("usr/bin"), file("usr/bin/vi")});
  const Stack stack({l1, l2, l3}, l0);
  EXPECT_EQ(stack.layers(), 4u);
  EXPECT_EQ(layer_of(stack, "usr/bin/vi"), 0);
  EXPECT_EQ(layer_of(stack, "usr/bin/sh"), 2);
  EXPECT_EQ(stack.lookup("usr/bin/sh")->attr.size, 4);
  EXPECT_EQ(layer_of(stack, "usr/bin/ls"), 3);
  EXPECT_EQ(layer_of(stack, "usr/bin/cat"), -1);
  const std::vector<DirEntry> expected = {
      {"ls", S_IFREG, 3}, {"sh", S_IFREG, 2}, {"vi", S_IFREG, 0}};
  EXPECT_EQ(stack.list("usr/bin"), expected);
}

TEST_F(OverlayStack, WithoutAnUpperTheTopLowerIsLayerZero) {
  const auto bottom = layer("bottom", {file("a"), file("b")});
  const auto top = layer("top", {file("b")});
  const Stack stack({top, bottom}, std::nullopt);
  EXPECT_EQ(stack.layers(), 2u);
  EXPECT_EQ(layer_of(stack, "a"), 1);
  EXPECT_EQ(layer_of(stack, "b"), 0);
}

TEST_F(OverlayStack, AFreshUpperNeedsNoRecordYet) {
  const auto lower = layer("lower", {file("a")});
  const layer::LayerDir upper{dir_ / "upper"};
  fs::create_directories(upper.root());
  const Stack stack({lower}, upper);
  EXPECT_EQ(layer_of(stack, "a"), 1);
  EXPECT_EQ(layer_of(stack, ""), 0);
  EXPECT_EQ(names(stack, ""), Names{"a"});
}

TEST_F(OverlayStack, OwnersModesAndXattrsComeFromTheRecord) {
  const std::string cap("\x01\x00\x00\x02\x00\x20\x00\x00", 8);
  const Stack stack(
      {layer(
          "base",
          {dir("bin"),
           file("bin/passwd", "x", 04755),
           {.path = "bin/ping", .mode = S_IFREG | 0755, .xattrs = {{"security.capability", cap}}},
           dir("etc"),
           {.path = "etc/shadow", .mode = S_IFREG | 0640, .gid = 42},
           dir("home"),
           {.path = "home/app/", .mode = S_IFDIR | 02750, .uid = 1000, .gid = 1001},
           {.path = "home/app/note",
            .mode = S_IFREG | 0600,
            .uid = 1000,
            .gid = 1000,
            .xattrs = {{"user.note", "v"}, {"trusted.x", "t"}}},
           dir("tmp", 01777),
           file("locked", "", 0000)})},
      std::nullopt);
  const auto passwd = stack.lookup("bin/passwd");
  ASSERT_TRUE(passwd);
  EXPECT_EQ(passwd->attr.mode, S_IFREG | 04755);
  EXPECT_EQ(stack.lookup("bin/ping")->xattrs,
            (std::map<std::string, std::string>{{"security.capability", cap}}));
  const auto shadow = stack.lookup("etc/shadow");
  EXPECT_EQ(shadow->attr.uid, 0u);
  EXPECT_EQ(shadow->attr.gid, 42u);
  EXPECT_EQ(shadow->attr.mode, S_IFREG | 0640);
  const auto app = stack.lookup("home/app");
  EXPECT_EQ(app->attr.mode, S_IFDIR | 02750);
  EXPECT_EQ(app->attr.uid, 1000u);
  EXPECT_EQ(app->attr.gid, 1001u);
  const auto note = stack.lookup("home/app/note");
  EXPECT_EQ(note->attr.uid, 1000u);
  EXPECT_EQ(note->xattrs,
            (std::map<std::string, std::string>{{"trusted.x", "t"}, {"user.note", "v"}}));
  EXPECT_EQ(stack.lookup("tmp")->attr.mode, S_IFDIR | 01777);
  EXPECT_EQ(stack.lookup("locked")->attr.mode, S_IFREG | 0000);  // on the host: 0600
}

TEST_F(OverlayStack, DeviceNodesComeFromTheRecord) {
  const Stack stack(
      {layer("base", {dir("dev"),
                      {.path = "dev/null", .mode = S_IFCHR | 0666, .rdev = makedev(1, 3)},
                      {.path = "dev/sda", .mode = S_IFBLK | 0660, .gid = 6, .rdev = makedev(8, 0)},
                      file("dev/plain")})},
      std::nullopt);
  const auto null = stack.lookup("dev/null");
  ASSERT_TRUE(null);
  EXPECT_EQ(null->attr.mode, S_IFCHR | 0666);
  EXPECT_EQ(null->attr.rdev, makedev(1, 3));
  EXPECT_EQ(null->attr.size, 0);
  const auto sda = stack.lookup("dev/sda");
  EXPECT_EQ(sda->attr.mode, S_IFBLK | 0660);
  EXPECT_EQ(sda->attr.rdev, makedev(8, 0));
  EXPECT_EQ(sda->attr.gid, 6u);
  const std::vector<DirEntry> expected = {
      {"null", S_IFCHR, 0}, {"plain", S_IFREG, 0}, {"sda", S_IFBLK, 0}};
  EXPECT_EQ(stack.list("dev"), expected);
}

TEST_F(OverlayStack, UnrecordedPathsAreRootOwnedWithTheirHostMode) {
  const auto base = layer("base", {dir("etc"), file("etc/hosts", "h", 0644), dir("var", 0755)});
  const Stack stack({base}, std::nullopt);
  for (const char* path : {"etc/hosts", "var", "etc"}) {
    SCOPED_TRACE(path);
    const auto r = stack.lookup(path);
    ASSERT_TRUE(r);
    struct stat st;
    ASSERT_EQ(::lstat((base.root() / path).c_str(), &st), 0);
    EXPECT_EQ(r->attr.uid, 0u);
    EXPECT_EQ(r->attr.gid, 0u);
    EXPECT_EQ(r->attr.mode, st.st_mode);
    EXPECT_EQ(r->attr.nlink, st.st_nlink);
    EXPECT_EQ(r->attr.mtime.tv_sec, st.st_mtim.tv_sec);
    EXPECT_TRUE(r->xattrs.empty());
  }
  EXPECT_EQ(stack.lookup("etc/hosts")->attr.mtime.tv_sec, 1700000000);
}

TEST_F(OverlayStack, HardLinksShareTheirHostInode) {
  const Stack stack(
      {layer("base", {file("x", "data"), {.path = "y", .link = "x", .hardlink = true}})},
      std::nullopt);
  const auto x = stack.lookup("x");
  const auto y = stack.lookup("y");
  ASSERT_TRUE(x && y);
  EXPECT_EQ(x->attr.host_ino, y->attr.host_ino);
  EXPECT_EQ(x->attr.nlink, 2u);
}

TEST_F(OverlayStack, ListMergesDeduplicatesHidesWhiteoutsAndSorts) {
  const auto bottom = layer("bottom", {dir("d"), file("d/b"), file("d/gone"), dir("d/sub"),
                                       file("d/Z"), symlink("d/link", "b")});
  const auto middle =
      layer("middle", {dir("d"), file("d/a"), file("d/b"), whiteout("d/gone"), file("d/sub")});
  const auto top = layer("top", {dir("d"), file("d/c"), whiteout("d/a")});
  const Stack stack({middle, bottom}, top);
  const std::vector<DirEntry> expected = {{"Z", S_IFREG, 2},
                                          {"b", S_IFREG, 1},
                                          {"c", S_IFREG, 0},
                                          {"link", S_IFLNK, 2},
                                          {"sub", S_IFREG, 1}};
  EXPECT_EQ(stack.list("d"), expected);
  EXPECT_EQ(names(stack, ""), Names{"d"});
  EXPECT_TRUE(stack.list("d/b").empty());  // not a directory
  EXPECT_TRUE(stack.list("missing").empty());
}

// The kernel resolves symlinks itself (readlink, then lookups of the target); a lookup that
// followed one inside a layer could leave the layer or see the wrong layer's files.
TEST_F(OverlayStack, SymlinksAreReportedAndNeverFollowed) {
  const Stack stack({layer("base", {dir("lib"), file("lib/libc.so", "elf"), dir("usr"),
                                    symlink("usr/lib", "../lib"), symlink("etc", "/etc"),
                                    symlink("dangling", "nowhere")})},
                    std::nullopt);
  const auto link = stack.lookup("usr/lib");
  ASSERT_TRUE(link);
  EXPECT_TRUE(S_ISLNK(link->attr.mode));
  EXPECT_EQ(link->attr.size, 6);  // strlen("../lib")
  EXPECT_FALSE(stack.lookup("usr/lib/libc.so"));
  EXPECT_TRUE(stack.list("usr/lib").empty());
  EXPECT_TRUE(S_ISLNK(stack.lookup("etc")->attr.mode));
  EXPECT_FALSE(stack.lookup("etc/passwd"));  // never the host's /etc
  EXPECT_TRUE(S_ISLNK(stack.lookup("dangling")->attr.mode));
  EXPECT_TRUE(stack.lookup("lib/libc.so"));
}

TEST_F(OverlayStack, SymlinkedParentInAnyLayerEndsResolutionThere) {
  // Upper: d is a symlink; the lower's directory d must not show through it.
  const auto lower = layer("lower", {dir("d"), file("d/x"), dir("real"), file("real/x")});
  const auto upper = layer("upper", {symlink("d", "real")});
  const Stack over_dir({lower}, upper);
  EXPECT_TRUE(S_ISLNK(over_dir.lookup("d")->attr.mode));
  EXPECT_FALSE(over_dir.lookup("d/x"));
  EXPECT_EQ(layer_of(over_dir, "real/x"), 1);

  // Lower: d is a symlink below the upper's directory d: the directory starts afresh.
  const auto lower2 = layer("lower2", {dir("real"), file("real/x"), symlink("d", "real")});
  const auto upper2 = layer("upper2", {dir("d"), file("d/y")});
  const Stack under_dir({lower2}, upper2);
  EXPECT_EQ(layer_of(under_dir, "d"), 0);
  EXPECT_FALSE(under_dir.lookup("d/x"));
  EXPECT_EQ(names(under_dir, "d"), Names{"y"});
}

TEST_F(OverlayStack, NamesThatAreNotUtf8AreBytes) {
  const std::string latin1 = "caf\xe9";
  const std::string junk = "\xff\xfe";
  const auto lower =
      layer_from("lower", ustar({dir(latin1), file(latin1 + "/" + junk, "j"), file(junk)}));
  const auto upper =
      layer_from("upper", ustar({dir(latin1),
                                 whiteout(latin1 + "/" + junk),
                                 {.path = latin1 + "/n\x80", .mode = S_IFREG | 04711, .uid = 7}}));
  const Stack stack({lower}, upper);
  EXPECT_FALSE(stack.lookup(latin1 + "/" + junk));
  const auto r = stack.lookup(latin1 + "/n\x80");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->attr.mode, S_IFREG | 04711);  // the record found it under its raw bytes
  EXPECT_EQ(r->attr.uid, 7u);
  EXPECT_EQ(names(stack, latin1), Names{"n\x80"});
  EXPECT_EQ(names(stack, ""), (Names{latin1, junk}));
}

TEST_F(OverlayStack, RootAttributesComeFromTheTopLayer) {
  const auto lower = layer("lower", {{.path = "./", .mode = S_IFDIR | 0700, .uid = 5}, file("a")});
  const Stack alone({lower}, std::nullopt);
  const auto root = alone.lookup("");
  ASSERT_TRUE(root);
  EXPECT_EQ(root->layer, 0u);
  EXPECT_EQ(root->path, "");
  EXPECT_EQ(root->attr.mode, S_IFDIR | 0700);
  EXPECT_EQ(root->attr.uid, 5u);

  const auto upper = layer("upper", {file("b")});  // no "./" entry: root-owned, host mode
  const Stack stacked({lower}, upper);
  const auto top = stacked.lookup("");
  ASSERT_TRUE(top);
  EXPECT_EQ(top->layer, 0u);
  EXPECT_TRUE(S_ISDIR(top->attr.mode));
  EXPECT_EQ(top->attr.uid, 0u);
  EXPECT_EQ(names(stacked, ""), (Names{"a", "b"}));
}

TEST_F(OverlayStack, PathsTheKernelNeverSendsDoNotResolve) {
  const Stack stack({layer("base", {dir("etc"), file("etc/hosts")})}, std::nullopt);
  for (const std::string& path :
       std::vector<std::string>{"/etc", "etc/", "etc//hosts", "..", "etc/../etc", "./etc", "etc/.",
                                std::string("etc\0x", 5)}) {
    SCOPED_TRACE(path);
    EXPECT_FALSE(stack.lookup(path));
    EXPECT_TRUE(stack.list(path).empty());
  }
}

TEST_F(OverlayStack, BadLayerDirectoriesAreRefusedNamingTheLayer) {
  EXPECT_THROW(Stack({}, std::nullopt), Error);
  try {
    Stack({layer::LayerDir{dir_ / "missing"}}, std::nullopt);
    FAIL() << "accepted a missing layer";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("missing"), std::string::npos) << e.what();
  }
  // LAYER/root must not be a symlink (it could point anywhere).
  fs::create_directories(dir_ / "elsewhere");
  fs::create_directories(dir_ / "linked");
  fs::create_directory_symlink(dir_ / "elsewhere", dir_ / "linked/root");
  EXPECT_THROW(Stack({layer::LayerDir{dir_ / "linked"}}, std::nullopt), Error);
}

}  // namespace
}  // namespace cairn::overlay
