// The overlay's resolution logic without FUSE: which layer of a stack answers for a path,
// with which attributes, and what a merged directory lists. The FUSE filesystem is a shell
// around this, so the OCI layering rules are tested here, on plain directories.
//
// A stack is N read-only lower layers plus an optional writable upper, each in one of two
// on-disk formats:
//  - cairn: the layer format of cairn/layer.hpp: files under LAYER/root/, owners, modes,
//    device nodes, xattrs, whiteouts and opaque directories in LAYER/meta.jsonl;
//  - kernel: a plain directory as the kernel's overlayfs and fuse-overlayfs use it: owners
//    and modes are the host's, a whiteout is a 0/0 character device, an opaque directory
//    has the xattr trusted.overlay.opaque or user.overlay.opaque set to "y".
#pragma once

#include <sys/stat.h>
#include <sys/types.h>

#include <cstddef>
#include <ctime>
#include <filesystem>
#include <map>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "cairn/base/fd.hpp"
#include "cairn/layer.hpp"

namespace cairn::overlay {

enum class Format { cairn, kernel };

struct LayerSource {
  std::filesystem::path path;  // cairn: the layer directory; kernel: the tree itself
  Format format = Format::cairn;
};

// What getattr will answer.
struct Attributes {
  mode_t mode = 0;  // file type and permission bits incl. 07000, as the image has them
  uid_t uid = 0;
  gid_t gid = 0;
  dev_t rdev = 0;  // device nodes only
  off_t size = 0;
  blkcnt_t blocks = 0;
  nlink_t nlink = 0;
  struct timespec mtime = {}, ctime = {}, atime = {};
  ino_t ino = 0;       // the number the overlay reports: stable through copy-up
  ino_t host_ino = 0;  // the file on the host, e.g. to keep hard links together
  dev_t host_dev = 0;
};

struct Resolved {
  std::size_t layer = 0;       // index into the stack: 0 = upper (if any), then lowers
  std::size_t data_layer = 0;  // where the data is: `layer`, or below it for a metacopy
  std::string path;            // relative path
  Attributes attr;             // host lstat with the layer record applied
  std::map<std::string, std::string> xattrs;  // from the record (cairn format only)
};

struct DirEntry {
  std::string name;
  mode_t type = 0;        // S_IFREG, S_IFDIR, ... (device nodes as the record has them)
  std::size_t layer = 0;  // the top-most layer that has the name

  bool operator==(const DirEntry&) const = default;
};

// A merged directory's chain: the layers, top-down, whose copy of the directory shows
// through, each with an O_PATH descriptor of that copy. Lookups and listings of the
// directory's children need only this, not the path from the root.
class Chain {
 public:
  struct Level {
    std::size_t layer;
    int fd;
  };
  const std::vector<Level>& levels() const { return levels_; }
  bool empty() const { return levels_.empty(); }

 private:
  friend class Stack;
  void add(std::size_t layer, int borrowed_fd) { levels_.push_back({layer, borrowed_fd}); }
  void add(std::size_t layer, UniqueFd fd) {
    levels_.push_back({layer, fd.get()});
    owned_.push_back(std::move(fd));
  }
  std::vector<Level> levels_;
  std::vector<UniqueFd> owned_;
};

class Stack {
 public:
  // layers: top-most first; with has_upper the first one is the writable upper.
  // Opens each layer root and loads each cairn record once (the upper's too: whoever
  // writes to the upper keeps this view current through the upper_* members). Throws
  // Error naming the layer.
  Stack(std::vector<LayerSource> layers, bool has_upper);
  // Cairn-format layers: lowers top-most first (an image's layers reversed).
  Stack(std::vector<layer::LayerDir> lowers, std::optional<layer::LayerDir> upper);

  // Resolves a path ("" = root, no leading '/', no "." or ".." components) with OCI
  // semantics: the top-most layer that has the path wins; a whiteout for the path or a
  // parent in a higher layer hides it; an opaque directory hides everything below its
  // layer; a non-directory hides directories of the same name below; a parent that is
  // not a directory where it wins (a symlink included: this never follows symlinks) makes
  // the path not exist. A whiteout applies only to lower layers: a layer with both a
  // whiteout and an entry for a path shows its entry and hides the lower ones (a recreated
  // directory is therefore opaque). Throws Error only on unexpected I/O errors.
  std::optional<Resolved> lookup(std::string_view path) const;

  // The merged listing of a directory: each name once, from its top-most layer, without
  // whited-out names, sorted bytewise. Empty when `dir` is not a directory of the stack.
  std::vector<DirEntry> list(std::string_view dir) const;

  // The same, one step at a time, for callers that keep directories' chains.
  Chain root_chain() const;
  // One name in a directory (`dir` is the directory's path, `chain` its chain). For a
  // directory, `child` (if given) receives the child's chain.
  std::optional<Resolved> lookup_in(const Chain& chain, const std::string& dir,
                                    std::string_view name, Chain* child) const;
  // The attributes of a directory from its chain (one fstat); attr.ino is its top copy's.
  Resolved directory(const Chain& chain, const std::string& path) const;
  // Unsorted, in layer order.
  std::vector<DirEntry> list(const Chain& chain, const std::string& dir) const;
  // Whether the layers below the upper show `name` in the directory (what a removal must
  // then hide with a whiteout).
  bool lookup_in_lowers(const Chain& chain, const std::string& dir, std::string_view name) const;
  // Descriptor of a path's parent directory in one layer, O_PATH, never through symlinks.
  UniqueFd open_dir(std::size_t layer, const std::string& dir) const;
  // O_PATH descriptor of an entry itself ("" = the layer root), never through a symlink;
  // empty when the layer has no such entry.
  UniqueFd open_entry(std::size_t layer, const std::string& path) const;

  std::size_t layers() const { return layers_.size(); }
  bool has_upper() const { return has_upper_; }
  Format format(std::size_t layer) const { return layers_[layer]->format; }
  int root_fd(std::size_t layer) const { return layers_[layer]->root.get(); }
  std::string where(std::size_t layer, const std::string& path) const;

  // The upper's record (cairn format), safe against concurrent lookups.
  std::optional<layer::EntryMeta> upper_meta(const std::string& path) const;
  void set_upper_meta(const std::string& path, layer::EntryMeta meta);
  void erase_upper_meta(const std::string& path);
  // Moves the entries of `from` and everything below it to `to` (a rename).
  void move_upper_meta(const std::string& from, const std::string& to);
  // Drops the entries of `path` and everything below it.
  void erase_upper_meta_tree(const std::string& path);
  // Drops whiteouts and opaque markers strictly below `dir`.
  void clear_upper_markers_below(const std::string& dir);
  void save_upper_record() const;

  // Paths in a lower layer that are hard links of the host inode `ino` (its index is built
  // on first use: only a copy-up of a multiply linked file needs it).
  std::vector<std::string> links_in_layer(std::size_t layer, ino_t ino) const;

 private:
  struct Layer {
    Format format = Format::cairn;
    std::filesystem::path path;
    std::filesystem::path record_file;  // cairn format only
    UniqueFd root;                      // O_PATH descriptor of the tree
    unsigned dev_slot = 0;  // distinct host filesystems get distinct inode ranges
    layer::Record record;
    bool opaque_root = false;
    // Paths whose record hides lower layers → true for a whiteout, false for opaque.
    std::unordered_map<std::string, bool> markers;
    // Directory → names whited out in it, so list() need not scan the record.
    std::unordered_map<std::string, std::unordered_set<std::string>> whiteouts;
    // Directories holding device nodes: only there can a placeholder file be a device.
    std::unordered_set<std::string> device_dirs;
    // Hard link index (lazily built).
    mutable std::once_flag links_once;
    mutable std::unordered_map<ino_t, std::vector<std::string>> links;
  };

  static std::unique_ptr<Layer> open_layer(const LayerSource& source);
  static void index_meta(Layer& l, const std::string& path, const layer::EntryMeta& meta);
  static void unindex_meta(Layer& l, const std::string& path);
  const layer::EntryMeta* meta(std::size_t layer, const std::string& path) const;
  std::optional<bool> marker(std::size_t layer, const std::string& path) const;
  bool hides_below(std::size_t layer, const std::string& path, int dirfd,
                   std::string_view name) const;
  bool is_whiteout(std::size_t layer, const struct stat& st) const;
  Resolved resolved(std::size_t layer, std::string path, const struct stat& st) const;
  void list_layer(std::size_t layer, int dirfd, const std::string& dir,
                  std::unordered_set<std::string>& seen, std::vector<DirEntry>& out) const;
  mode_t entry_type(std::size_t layer, int dirfd, const std::string& dir, const char* name,
                    unsigned char d_type, bool& whiteout) const;
  void build_link_index(const Layer& l) const;

  std::vector<std::unique_ptr<Layer>> layers_;
  bool has_upper_ = false;
  // Guards the upper layer's record and marker maps (lower layers never change).
  mutable std::shared_mutex upper_mutex_;
};

}  // namespace cairn::overlay
