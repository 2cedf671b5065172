// One layer on disk: a directory of files plus a metadata record for what an unprivileged
// user cannot store on the host filesystem (owners, device nodes, setuid/setgid/sticky
// bits the host refused, xattrs, OCI whiteouts and opaque directories). The store writes
// it when it unpacks a tar and reads it when it packs one; the overlay serves lower layers
// from it and records its upper in the same format, so a finished upper becomes a lower
// layer by rename.
//
// On disk:   LAYER/root/...    the files, owned by the user, permissions at least u+rw(x)
//            LAYER/meta.jsonl  the record: one JSON object per line, sorted by path
// The record never depends on user xattrs, which NFS and Lustre homes often lack.
#pragma once

#include <sys/stat.h>
#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace cairn::layer {

// What the record knows about one path (relative to the layer root, no leading '/').
struct EntryMeta {
  uid_t uid = 0;
  gid_t gid = 0;
  mode_t mode = 0;  // full st_mode: file type bits and permission bits incl. 07000
  dev_t rdev = 0;   // device nodes, which exist on disk only as empty placeholder files
  std::map<std::string, std::string> xattrs;  // raw values
  bool whiteout = false;  // the path is deleted in lower layers (no file on disk, unless
                          // this layer also has a new entry of the same name)
  bool opaque = false;    // directory hides everything below it in lower layers
  // mtimes of the ".wh." entries as the tar had them, so that a pack reproduces them.
  std::int64_t whiteout_mtime = 0;
  std::int64_t opaque_mtime = 0;
  // The overlay's inode number for an entry it copied up from a lower layer, so that the
  // number stays the same through copy-up and across remounts (0 = the file's own).
  std::uint64_t origin = 0;
  // Only metadata was copied up (chmod, chown, utimes or an xattr on an unchanged lower
  // file): the file on disk is an empty placeholder and the data is the next lower layer's
  // file at the same path. Only a live overlay upper has these; a commit fills them in.
  bool metacopy = false;

  bool is_device() const { return S_ISCHR(mode) || S_ISBLK(mode); }
  bool operator==(const EntryMeta&) const = default;
};

class Record {
 public:
  // Reads LAYER/meta.jsonl; a missing file is an empty record. Throws Error on corruption,
  // naming the file and line.
  static Record load(const std::filesystem::path& file);
  // Writes atomically (temp, fsync, rename).
  void save(const std::filesystem::path& file) const;

  const EntryMeta* find(std::string_view path) const;
  EntryMeta& operator[](const std::string& path) { return entries_[path]; }
  void set(std::string path, EntryMeta meta) { entries_[std::move(path)] = std::move(meta); }
  void erase(const std::string& path) { entries_.erase(path); }
  std::size_t size() const { return entries_.size(); }
  const std::unordered_map<std::string, EntryMeta>& entries() const { return entries_; }

 private:
  std::unordered_map<std::string, EntryMeta> entries_;
};

// Paths inside a layer directory.
struct LayerDir {
  std::filesystem::path path;
  std::filesystem::path root() const { return path / "root"; }
  std::filesystem::path record() const { return path / "meta.jsonl"; }
};

// xattr namespaces that are never taken from an image: cairn's own and overlayfs's.
bool is_reserved_xattr(std::string_view name);

}  // namespace cairn::layer
