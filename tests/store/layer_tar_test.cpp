#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "cairn/base/digest.hpp"
#include "cairn/base/error.hpp"
#include "cairn/base/sys.hpp"
#include "cairn/store/layer_tar.hpp"
#include "tar_fixture.hpp"

namespace cairn::store {
namespace {

namespace fs = std::filesystem;
using testing::list_tar;
using testing::make_tar;
using testing::TarEntry;

class LayerTar : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/cairn-layer-test-XXXXXX";
    dir_ = ::mkdtemp(tmpl);
  }
  void TearDown() override {
    // Directories may have been left without write permission for the owner by a test.
    std::error_code ec;
    for (auto it = fs::recursive_directory_iterator(dir_, ec); it != fs::end(it); ++it)
      if (it->is_directory(ec) && !it->is_symlink(ec)) fs::permissions(it->path(), fs::perms::owner_all, fs::perm_options::add, ec);
    fs::remove_all(dir_, ec);
  }

  // Writes `tar` to a file and unpacks it into a fresh layer directory.
  UnpackResult unpack(const std::string& tar, const std::string& name = "layer") {
    const fs::path file = dir_ / (name + ".tar");
    sys::write_file_atomic(file.string(), tar);
    UniqueFd fd = sys::open(file.string(), O_RDONLY);
    return unpack_layer(fd.get(), layer::LayerDir{dir_ / name}, limits_);
  }

  std::string pack(const std::string& name, PackOptions options = {}) {
    const fs::path out = dir_ / (name + ".out");
    PackResult r;
    {
      UniqueFd fd = sys::open(out.string(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      r = pack_layer(layer::LayerDir{dir_ / name}, fd.get(), options);
    }
    last_pack_ = r;
    return sys::read_file(out.string());
  }

  std::string refusal(const std::string& tar) {
    try {
      unpack(tar, "refused");
    } catch (const Error& e) {
      return e.what();
    }
    return "(accepted)";
  }

  fs::path dir_;
  UnpackLimits limits_;
  PackResult last_pack_;
};

std::vector<TarEntry> sample_layer() {
  return {
      {"bin/", S_IFDIR | 0755},
      {"bin/passwd", S_IFREG | 04755, "binary"},
      {"bin/ping", S_IFREG | 0755, "ping", "", false, 0, 0, 1700000000, 0,
       {{"security.capability", std::string("\x01\x00\x00\x02\x00\x20\x00\x00", 8)}}},
      {"bin/x", S_IFREG | 0755, "hard"},
      {"bin/y", S_IFREG | 0755, "", "bin/x", true},
      {"dev/", S_IFDIR | 0755},
      {"dev/null", S_IFCHR | 0666, "", "", false, 0, 0, 1700000000, makedev(1, 3)},
      {"dev/sda", S_IFBLK | 0660, "", "", false, 0, 6, 1700000000, makedev(8, 0)},
      {"etc/", S_IFDIR | 0755},
      {"etc/shadow", S_IFREG | 0640, "root:*:", "", false, 0, 42},
      {"etc/unreadable", S_IFREG | 0000, "secret"},
      {"home/", S_IFDIR | 0755},
      {"home/app/", S_IFDIR | 02750, "", "", false, 1000, 1000},
      {"home/app/.wh.old", S_IFREG | 0644},
      {"opt/", S_IFDIR | 0755},
      {"opt/.wh..wh..opq", S_IFREG | 0644},
      {"opt/new", S_IFREG | 0644, "n", "", false, 1, 2, 1600000000, 0, {{"user.note", "v"}, {"trusted.x", "t"}}},
      {"tmp/", S_IFDIR | 01777},
      {"usr/", S_IFDIR | 0755},
      {"usr/lib", S_IFLNK | 0777, "", "../lib", false, 0, 0},
      {"var/", S_IFDIR | 0755},
      {"var/fifo", S_IFIFO | 0644, ""},
  };
}

TEST_F(LayerTar, RoundTripKeepsEveryAttribute) {
  const std::string original = make_tar(sample_layer());
  UnpackResult r = unpack(original);
  EXPECT_EQ(r.compression, Compression::none);
  EXPECT_EQ(r.entries, sample_layer().size());
  const std::string packed = pack("layer", {Compression::none});
  EXPECT_EQ(list_tar(packed), list_tar(original));
}

TEST_F(LayerTar, HostFilesStayOwnedAndUsableByTheUser) {
  unpack(make_tar(sample_layer()));
  const fs::path root = dir_ / "layer/root";
  struct stat st;
  ASSERT_EQ(::stat((root / "etc/unreadable").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0600, 0600u);           // readable for the commit
  EXPECT_EQ(st.st_uid, ::getuid());
  ASSERT_EQ(::stat((root / "bin/passwd").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07000, 0u);             // no setuid bit on the host
  ASSERT_EQ(::lstat((root / "dev/null").c_str(), &st), 0);
  EXPECT_TRUE(S_ISREG(st.st_mode));              // placeholder for the device node
  ASSERT_EQ(::stat((root / "bin/x").c_str(), &st), 0);
  EXPECT_EQ(st.st_nlink, 2u);                    // hard link kept
  EXPECT_FALSE(fs::exists(root / "home/app/.wh.old"));  // whiteouts live in the record
  auto record = layer::Record::load(dir_ / "layer/meta.jsonl");
  ASSERT_NE(record.find("home/app/old"), nullptr);
  EXPECT_TRUE(record.find("home/app/old")->whiteout);
  EXPECT_TRUE(record.find("opt")->opaque);
  EXPECT_EQ(record.find("bin/passwd")->mode, S_IFREG | 04755);
  EXPECT_EQ(record.find("etc/shadow")->gid, 42u);
  EXPECT_EQ(record.find("dev/null")->rdev, makedev(1, 3));
  EXPECT_EQ(record.find("bin/ping")->xattrs.count("security.capability"), 1u);
  EXPECT_EQ(record.find("etc/passwd"), nullptr);  // defaults are not recorded
}

TEST_F(LayerTar, CompressedInputIsDetectedAndDigestsAreComputed) {
  const std::string plain = make_tar(sample_layer());
  for (const char* filter : {"gzip", "zstd"}) {
    const std::string tar = make_tar(sample_layer(), filter);
    UnpackResult r = unpack(tar, std::string("l-") + filter);
    EXPECT_EQ(compression_name(r.compression), filter);
    EXPECT_EQ(r.size, tar.size());
    EXPECT_EQ(r.digest, "sha256:" + sha256_hex(tar));
    EXPECT_EQ(r.diff_id, "sha256:" + sha256_hex(plain));
  }
}

TEST_F(LayerTar, PackIsDeterministicAndDigestsMatchOutput) {
  unpack(make_tar(sample_layer()));
  for (Compression c : {Compression::none, Compression::gzip, Compression::zstd}) {
    const std::string a = pack("layer", {c});
    const PackResult first = last_pack_;
    const std::string b = pack("layer", {c});
    EXPECT_EQ(a, b) << compression_name(c);
    EXPECT_EQ(first.digest, "sha256:" + sha256_hex(a));
    EXPECT_EQ(first.size, a.size());
    // The diff_id is the digest of the uncompressed tar whatever the compression.
    EXPECT_EQ(first.diff_id, last_pack_.diff_id);
  }
  EXPECT_EQ(list_tar(pack("layer", {Compression::gzip})), list_tar(make_tar(sample_layer())));
}

TEST_F(LayerTar, SourceDateEpochClampsMtimes) {
  unpack(make_tar(sample_layer()));
  PackOptions options{Compression::none};
  options.source_date_epoch = 1650000000;
  for (const auto& line : list_tar(pack("layer", options))) {
    if (line[0] == 'h') continue;
    EXPECT_EQ(line.find(" 1700000000 "), std::string::npos) << line;
  }
}

TEST_F(LayerTar, ReservedXattrsAreDroppedWithAWarning) {
  UnpackResult r = unpack(make_tar({{"f", S_IFREG | 0644, "x", "", false, 0, 0, 1, 0,
                                     {{"trusted.overlay.opaque", "y"}, {"user.overlay.x", "z"},
                                      {"user.keep", "k"}}}}));
  ASSERT_EQ(r.warnings.size(), 2u);
  auto record = layer::Record::load(dir_ / "layer/meta.jsonl");
  ASSERT_NE(record.find("f"), nullptr);
  EXPECT_EQ(record.find("f")->xattrs.size(), 1u);
}

TEST_F(LayerTar, WhiteoutAndNewEntryOfTheSameNameInOneLayerRoundTrip) {
  // OCI: a whiteout hides only lower layers, so ".wh.d" with a new "d/" replaces d.
  for (bool whiteout_first : {true, false}) {
    std::vector<TarEntry> entries = {{"d/", S_IFDIR | 0750, "", "", false, 5, 6},
                                     {"d/new", S_IFREG | 0644, "n"}};
    const TarEntry whiteout{".wh.d", S_IFREG | 0644};
    entries.insert(whiteout_first ? entries.begin() : entries.end(), whiteout);
    const std::string name = whiteout_first ? "first" : "last";
    const std::string original = make_tar(entries);
    unpack(original, name);
    auto record = layer::Record::load(dir_ / name / "meta.jsonl");
    ASSERT_NE(record.find("d"), nullptr) << name;
    EXPECT_TRUE(record.find("d")->whiteout) << name;
    EXPECT_EQ(record.find("d")->mode, S_IFDIR | 0750u) << name;
    EXPECT_EQ(record.find("d")->uid, 5u) << name;
    EXPECT_EQ(list_tar(pack(name, {Compression::none})), list_tar(original)) << name;
  }
}

TEST_F(LayerTar, DirectoryTimesIncludingTheRootAreSetLast) {
  unpack(make_tar({{"./", S_IFDIR | 0755, "", "", false, 0, 0, 1500000000},
                   {"d/", S_IFDIR | 0755, "", "", false, 0, 0, 1600000000},
                   {"d/f", S_IFREG | 0644, "x"}}));
  struct stat st;
  ASSERT_EQ(::stat((dir_ / "layer/root").c_str(), &st), 0);
  EXPECT_EQ(st.st_mtim.tv_sec, 1500000000);
  ASSERT_EQ(::stat((dir_ / "layer/root/d").c_str(), &st), 0);
  EXPECT_EQ(st.st_mtim.tv_sec, 1600000000);
}

TEST_F(LayerTar, AbsoluteNamesAreTakenRelativeToTheRoot) {
  unpack(make_tar({{"/etc/", S_IFDIR | 0755}, {"/etc/hosts", S_IFREG | 0644, "h"}}));
  EXPECT_TRUE(fs::exists(dir_ / "layer/root/etc/hosts"));
}

TEST_F(LayerTar, LaterDuplicateReplacesEarlier) {
  unpack(make_tar({{"f", S_IFREG | 0644, "one"}, {"f", S_IFREG | 0600, "two"}}));
  EXPECT_EQ(sys::read_file((dir_ / "layer/root/f").string()), "two");
}

TEST_F(LayerTar, HostileArchivesAreRefusedNamingTheEntry) {
  auto expect = [&](const std::vector<TarEntry>& entries, const std::string& needle) {
    const std::string message = refusal(make_tar(entries));
    EXPECT_NE(message.find(needle), std::string::npos) << message;
    fs::remove_all(dir_ / "refused");
  };
  expect({{"../escape", S_IFREG | 0644, "x"}}, "\"../escape\": its path climbs out");
  expect({{"a/../../escape", S_IFREG | 0644, "x"}}, "climbs out");
  expect({{"link", S_IFLNK | 0777, "", "/etc"}, {"link/passwd", S_IFREG | 0644, "x"}},
         "\"link/passwd\": its parent link goes through a symlink");
  expect({{"link", S_IFLNK | 0777, "", "sub"}, {"sub/", S_IFDIR | 0755}, {"link/f", S_IFREG | 0644, "x"}},
         "goes through a symlink");
  expect({{"h", S_IFREG | 0644, "", "../../etc/passwd", true}}, "hard-link target climbs out");
  expect({{"h", S_IFREG | 0644, "", "missing", true}}, "\"h\": its hard-link target missing is not in the layer");
  expect({{"d/", S_IFDIR | 0755}, {"d", S_IFREG | 0644, "x"}}, "changes its type");
  expect({{"f", S_IFREG | 0644, "x"}, {"f/", S_IFDIR | 0755}}, "changes its type");
  expect({{".wh..", S_IFREG | 0644}}, "a whiteout must name one entry");
  expect({{"d/.wh.", S_IFREG | 0644}}, "a whiteout must name one entry");
  expect({{"f", S_IFREG | 0644, "x"}, {"f/g", S_IFREG | 0644, "x"}}, "is not a directory");
}

TEST_F(LayerTar, CorruptAndTruncatedStreamsAreRefused) {
  const std::string gz = make_tar(sample_layer(), "gzip");
  std::string bad_crc = gz;
  bad_crc[bad_crc.size() - 6] ^= 0x55;  // inside the CRC32 trailer
  EXPECT_NE(refusal(bad_crc).find("gzip"), std::string::npos);
  fs::remove_all(dir_ / "refused");
  EXPECT_NE(refusal(gz.substr(0, gz.size() / 2)).find("truncated"), std::string::npos);
  fs::remove_all(dir_ / "refused");
  const std::string zst = make_tar(sample_layer(), "zstd");
  EXPECT_NE(refusal(zst.substr(0, zst.size() - 10)).find("zstd"), std::string::npos);
  fs::remove_all(dir_ / "refused");
  const std::string plain = make_tar(sample_layer());
  EXPECT_NE(refusal(plain.substr(0, 700)).find("layer tar"), std::string::npos);
}

TEST_F(LayerTar, UnpackedSizeLimitStopsBombs) {
  limits_.max_unpacked_bytes = 1000;
  const std::string message =
      refusal(make_tar({{"big", S_IFREG | 0644, std::string(5000, 'z')}}, "gzip"));
  EXPECT_NE(message.find("exceeds the limit of 1000 bytes"), std::string::npos) << message;
}

}  // namespace
}  // namespace cairn::store
