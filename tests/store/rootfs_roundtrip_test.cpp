// Real root filesystems through unpack and pack: the listing (type, path, owner, group,
// mode with setuid/setgid/sticky, size, mtime, link target, hard-link groups, xattrs)
// must come back unchanged. CAIRN_ROOTFS_TARS names the tarballs (':'-separated); the
// fixtures are made by tools/make-test-images.sh.
#include <fcntl.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <algorithm>
#include <filesystem>
#include <iterator>

#include "cairn/base/sys.hpp"
#include "cairn/store/layer_tar.hpp"
#include "tar_fixture.hpp"

namespace cairn::store {
namespace {

namespace fs = std::filesystem;

std::vector<std::string> rootfs_tars() {
  std::vector<std::string> out;
  const char* list = std::getenv("CAIRN_ROOTFS_TARS");
  if (!list) return out;
  std::string all = list;
  std::size_t start = 0;
  while (start <= all.size()) {
    std::size_t colon = all.find(':', start);
    if (colon == std::string::npos) colon = all.size();
    if (colon > start) out.push_back(all.substr(start, colon - start));
    start = colon + 1;
  }
  return out;
}

TEST(RootfsRoundTrip, ListingIsUnchanged) {
  const auto tars = rootfs_tars();
  if (tars.empty()) GTEST_SKIP() << "CAIRN_ROOTFS_TARS is not set (tools/make-test-images.sh)";
  char tmpl[] = "/tmp/cairn-rootfs-XXXXXX";
  const fs::path dir = ::mkdtemp(tmpl);
  for (const auto& tar : tars) {
    SCOPED_TRACE(tar);
    const layer::LayerDir layer{dir / "layer"};
    {
      UniqueFd in = sys::open(tar, O_RDONLY);
      unpack_layer(in.get(), layer);
    }
    const fs::path out = dir / "out.tar";
    {
      UniqueFd fd = sys::open(out.string(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      pack_layer(layer, fd.get(), {Compression::none});
    }
    auto before = testing::list_tar_linkgroups(sys::read_file(tar));
    // The original's "./" root entry is not part of a layer diff.
    before.erase(std::remove_if(before.begin(), before.end(),
                                [](const std::string& l) { return l.rfind(". ", 0) == 0 || l.rfind("  ", 0) == 0 || l[0] == ' '; }),
                 before.end());
    const auto after = testing::list_tar_linkgroups(sys::read_file(out.string()));
    if (after != before) {
      // Keep both listings for a diff; gtest would print only the first few entries.
      std::vector<std::string> missing, extra;
      std::set_difference(before.begin(), before.end(), after.begin(), after.end(),
                          std::back_inserter(missing));
      std::set_difference(after.begin(), after.end(), before.begin(), before.end(),
                          std::back_inserter(extra));
      for (std::size_t i = 0; i < std::min<std::size_t>(missing.size(), 20); ++i)
        ADD_FAILURE() << "lost or changed: " << missing[i];
      for (std::size_t i = 0; i < std::min<std::size_t>(extra.size(), 20); ++i)
        ADD_FAILURE() << "new or changed:  " << extra[i];
    }
    std::cout << tar << ": " << after.size() << " entries round-tripped\n";
    fs::remove_all(dir / "layer");
  }
  fs::remove_all(dir);
}

}  // namespace
}  // namespace cairn::store
