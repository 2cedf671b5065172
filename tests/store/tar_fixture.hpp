// Test helpers: build layer tars entry by entry with libarchive, and list a tar the way
// the round-trip checks compare them.
#pragma once

#include <archive.h>
#include <archive_entry.h>
#include <sys/stat.h>

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace cairn::store::testing {

struct TarEntry {
  std::string path;
  mode_t mode = S_IFREG | 0644;  // type and permission bits
  std::string data;               // regular files
  std::string link;               // symlink target, or hard-link target when hardlink
  bool hardlink = false;
  long uid = 0;
  long gid = 0;
  long long mtime = 1700000000;
  dev_t rdev = 0;
  std::map<std::string, std::string> xattrs;
};

// A tar (pax) of the entries, in the order given, compressed as asked ("none", "gzip",
// "zstd").
std::string make_tar(const std::vector<TarEntry>& entries, const std::string& filter = "none");

// One line per entry: "type path uid:gid mode size mtime link xattrs", hard links as
// "h path -> target"; sorted by path.
std::vector<std::string> list_tar(const std::string& tar);

// Like list_tar, but independent of which member of a hard-link group the tar stores as
// the file: every member is listed with the file's attributes and "group=<first path>".
std::vector<std::string> list_tar_linkgroups(const std::string& tar);

}  // namespace cairn::store::testing
