// The overlay's resolution logic without FUSE: which layer of a stack answers for a path,
// with which attributes, and what a merged directory lists. The FUSE filesystem will be a
// thin shell around this, so the OCI layering rules are tested here, on plain directories.
//
// A stack is N read-only lower layers plus an optional writable upper, all in the on-disk
// layer format (cairn/layer.hpp): files under LAYER/root/, owners, modes, device nodes,
// xattrs, whiteouts and opaque directories in LAYER/meta.jsonl.
#pragma once

#include <sys/stat.h>
#include <sys/types.h>

#include <cstddef>
#include <ctime>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "cairn/base/fd.hpp"
#include "cairn/layer.hpp"

namespace cairn::overlay {

// What getattr will answer.
struct Attributes {
  mode_t mode = 0;  // file type and permission bits incl. 07000, as the image has them
  uid_t uid = 0;
  gid_t gid = 0;
  dev_t rdev = 0;  // device nodes only
  off_t size = 0;
  nlink_t nlink = 0;
  struct timespec mtime = {}, ctime = {}, atime = {};
  ino_t host_ino = 0;  // the file on the host, e.g. to keep hard links together
  dev_t host_dev = 0;
};

struct Resolved {
  std::size_t layer = 0;  // index into the stack: 0 = upper (if any), then lowers top-down
  std::string path;       // relative path
  Attributes attr;        // host lstat with the layer record applied
  std::map<std::string, std::string> xattrs;  // from the record
};

struct DirEntry {
  std::string name;
  mode_t type = 0;        // S_IFREG, S_IFDIR, ... (device nodes as the record has them)
  std::size_t layer = 0;  // the top-most layer that has the name

  bool operator==(const DirEntry&) const = default;
};

class Stack {
 public:
  // lowers: top-most first (the order of an image's layers reversed); upper optional.
  // Opens each layer root and loads each record once (the upper's too: whoever writes to
  // the upper must keep this view current); throws Error naming the layer. The const
  // members share no mutable state, so concurrent calls are safe.
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

  std::size_t layers() const { return layers_.size(); }

 private:
  struct Layer {
    layer::LayerDir dir;
    UniqueFd root;         // O_PATH descriptor of LAYER/root
    layer::Record record;  // loaded once: lower layers never change while mounted
    bool opaque_root = false;
    // Paths whose record hides lower layers → true for a whiteout, false for opaque.
    std::unordered_map<std::string, bool> markers;
    // Directory → names whited out in it, so list() need not scan the record.
    std::unordered_map<std::string, std::vector<std::string>> whiteouts;
    // Directories holding device nodes: only there can a placeholder file be a device.
    std::unordered_set<std::string> device_dirs;
  };
  struct Level;  // one layer's directory on a path

  static Layer open_layer(layer::LayerDir dir);
  std::vector<Level> chain(const std::vector<std::string>& prefixes, std::size_t depth) const;
  bool present_hides(std::size_t layer, const std::vector<std::string>& prefixes,
                     std::size_t depth) const;
  bool absent_hides(std::size_t layer, const std::vector<std::string>& prefixes,
                    std::size_t depth) const;
  bool is_directory(std::size_t layer, const std::string& path) const;
  Resolved resolved(std::size_t layer, std::string_view path, const struct stat& st) const;
  const layer::EntryMeta* meta(std::size_t layer, const std::string& path) const;
  void list_layer(std::size_t layer, int dirfd, const std::string& dir,
                  std::unordered_set<std::string>& seen, std::vector<DirEntry>& out) const;
  mode_t entry_type(std::size_t layer, int dirfd, const std::string& dir, const char* name,
                    unsigned char d_type) const;
  std::string where(std::size_t layer, const std::string& path) const;

  std::vector<Layer> layers_;
};

}  // namespace cairn::overlay
