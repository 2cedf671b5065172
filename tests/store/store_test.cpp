#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <thread>

#include "cairn/base/error.hpp"
#include "cairn/base/sys.hpp"
#include "cairn/store/image.hpp"
#include "cairn/store/store.hpp"
#include "tar_fixture.hpp"

namespace cairn::store {
namespace {

namespace fs = std::filesystem;

class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/cairn-store-test-XXXXXX";
    dir_ = ::mkdtemp(tmpl);
  }
  void TearDown() override { fs::remove_all(dir_); }

  ImageEntry import(Store& s, const std::vector<testing::TarEntry>& entries,
                    std::vector<std::string> names) {
    const fs::path tar = dir_ / "in.tar";
    sys::write_file_atomic(tar.string(), testing::make_tar(entries));
    UniqueFd fd = sys::open(tar.string(), O_RDONLY);
    ImportOptions options;
    options.names = std::move(names);
    options.source_date_epoch = 1700000000;
    return import_rootfs(s, fd.get(), options);
  }

  fs::path dir_;
};

TEST_F(StoreTest, NewStoreIsAnOciLayout) {
  Store s(dir_ / "store");
  EXPECT_EQ(sys::read_file((dir_ / "store/oci-layout").string()), R"({"imageLayoutVersion":"1.0.0"})");
  auto index = nlohmann::json::parse(sys::read_file((dir_ / "store/index.json").string()));
  EXPECT_EQ(index["schemaVersion"], 2);
  EXPECT_TRUE(index["manifests"].empty());
  EXPECT_TRUE(fs::is_directory(dir_ / "store/blobs/sha256"));
}

TEST_F(StoreTest, BlobsAreContentAddressedAndVerifiedOnRead) {
  Store s(dir_ / "store");
  const std::string digest = s.put_blob("hello");
  EXPECT_EQ(digest, "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824");
  EXPECT_EQ(s.read_blob(digest), "hello");
  sys::write_file_atomic(s.blob_path(digest).string(), "tampered");
  EXPECT_THROW(s.read_blob(digest), Error);
  EXPECT_THROW(s.blob_path("sha256:xyz"), Error);
}

TEST_F(StoreTest, ImportNamesResolveAndIdsWork) {
  Store s(dir_ / "store");
  ImageEntry image = import(s, {{"etc/", S_IFDIR | 0755}, {"etc/hostname", S_IFREG | 0644, "x"}},
                            {"busybox"});
  ASSERT_EQ(s.images().size(), 1u);
  EXPECT_EQ(s.images()[0].names, (std::vector<std::string>{"docker.io/library/busybox:latest"}));
  const std::string id = image_config_digest(s, image);
  EXPECT_EQ(s.resolve("busybox")->manifest_digest, image.manifest_digest);
  EXPECT_EQ(s.resolve("docker.io/library/busybox:latest")->manifest_digest, image.manifest_digest);
  EXPECT_EQ(s.resolve(id)->manifest_digest, image.manifest_digest);
  EXPECT_EQ(s.resolve(id.substr(7, 12))->manifest_digest, image.manifest_digest);
  EXPECT_FALSE(s.resolve("alpine"));
  auto config = read_config(s, image);
  EXPECT_EQ(config["created"], "2023-11-14T22:13:20Z");  // SOURCE_DATE_EPOCH
  EXPECT_EQ(config["rootfs"]["diff_ids"].size(), 1u);
  EXPECT_TRUE(s.has_layer(config["rootfs"]["diff_ids"][0].get<std::string>()));
}

TEST_F(StoreTest, TagMovesNamesAndRmiUntags) {
  Store s(dir_ / "store");
  ImageEntry a = import(s, {{"a", S_IFREG | 0644, "a"}}, {"app:1"});
  ImageEntry b = import(s, {{"b", S_IFREG | 0644, "b"}}, {"app:2"});
  s.add_image(a.manifest_digest, a.manifest_size, {"app:latest"});
  s.add_image(b.manifest_digest, b.manifest_size, {"app:latest"});  // the name moves to b
  EXPECT_EQ(s.resolve("app:latest")->manifest_digest, b.manifest_digest);
  EXPECT_EQ(s.resolve("app:1")->names, (std::vector<std::string>{"docker.io/library/app:1"}));
  EXPECT_TRUE(s.remove_name("app:1"));
  EXPECT_FALSE(s.remove_name("app:1"));
  // Untagged, but still there until removed.
  EXPECT_EQ(s.images().size(), 2u);
  s.remove_image(a.manifest_digest);
  EXPECT_EQ(s.images().size(), 1u);
}

TEST_F(StoreTest, PruneRemovesOnlyUnreferencedContent) {
  Store s(dir_ / "store");
  ImageEntry keep = import(s, {{"keep", S_IFREG | 0644, "k"}}, {"keep"});
  ImageEntry drop = import(s, {{"drop", S_IFREG | 0644, "d"}}, {"drop"});
  const std::string stray = s.put_blob("stray");
  s.remove_image(drop.manifest_digest);
  PruneReport report = s.prune();
  EXPECT_EQ(report.blobs_removed, 4u);  // stray + drop's manifest, config, layer
  EXPECT_EQ(report.layers_removed, 1u);
  EXPECT_FALSE(s.has_blob(stray));
  EXPECT_TRUE(s.has_blob(keep.manifest_digest));
  EXPECT_TRUE(s.verify().problems.empty());
  EXPECT_EQ(s.prune().blobs_removed, 0u);
}

TEST_F(StoreTest, VerifyFindsCorruptionAndMissingLayers) {
  Store s(dir_ / "store");
  ImageEntry image = import(s, {{"f", S_IFREG | 0644, "f"}}, {"x"});
  EXPECT_TRUE(s.verify().problems.empty());
  const auto diff_id = read_config(s, image)["rootfs"]["diff_ids"][0].get<std::string>();
  // A layer kept only as its blob (as a pull leaves it) is unpacked at first use: no loss.
  fs::remove_all(s.layer_dir(diff_id).path);
  EXPECT_TRUE(s.verify().problems.empty());
  // Without the blob too, the layer is lost.
  const auto digest = read_manifest(s, image)["layers"][0]["digest"].get<std::string>();
  fs::remove(s.blob_path(digest));
  EXPECT_FALSE(s.verify().problems.empty());
}

TEST_F(StoreTest, EnsureUnpackedRestoresALayerFromItsBlob) {
  Store s(dir_ / "store");
  ImageEntry image = import(s, {{"f", S_IFREG | 0644, "content"}}, {"x"});
  const auto diff_id = read_config(s, image)["rootfs"]["diff_ids"][0].get<std::string>();
  fs::remove_all(s.layer_dir(diff_id).path);
  ASSERT_FALSE(s.has_layer(diff_id));
  ensure_unpacked(s, image);
  ASSERT_TRUE(s.has_layer(diff_id));
  EXPECT_TRUE(fs::is_regular_file(s.layer_dir(diff_id).root() / "f"));
  // Without the blob there is nothing to unpack from.
  fs::remove_all(s.layer_dir(diff_id).path);
  fs::remove(s.blob_path(read_manifest(s, image)["layers"][0]["digest"].get<std::string>()));
  EXPECT_THROW(ensure_unpacked(s, image), Error);
}

TEST_F(StoreTest, StaleTempIsClearedOnlyWhenNoOtherProcessUsesTheStore) {
  {
    Store s(dir_ / "store");
    fs::create_directory(dir_ / "store/cairn/tmp/leftover");
  }
  {
    Store s(dir_ / "store");
    EXPECT_FALSE(fs::exists(dir_ / "store/cairn/tmp/leftover"));
    fs::create_directory(dir_ / "store/cairn/tmp/in-use");
    Store second(dir_ / "store");  // another user of the store: must not clear it
    EXPECT_TRUE(fs::exists(dir_ / "store/cairn/tmp/in-use"));
  }
}

TEST_F(StoreTest, ConcurrentWritersKeepTheIndexConsistent) {
  Store setup(dir_ / "store");
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      Store s(dir_ / "store");
      for (int i = 0; i < 10; ++i) {
        const std::string digest = s.put_blob("manifest " + std::to_string(t) + "/" + std::to_string(i));
        s.add_image(digest, 10, {"img" + std::to_string(t) + ":" + std::to_string(i)});
      }
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(setup.images().size(), 40u);
}

}  // namespace
}  // namespace cairn::store
