// COPY and ADD (private to src/build), as docker defines them: sources from the context
// (filtered by .dockerignore) or from a stage or image, wildcards, directories copy their
// contents, docker's destination rules, --chown/--chmod, --parents, --exclude, and ADD's
// extraction of local tar archives. Planned first (what goes where, with which owner and
// mode: the cache key is computed from the plan), then written straight into a new layer
// directory, with no sandbox.
#pragma once

#include <sys/stat.h>
#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "cairn/frontend/dockerignore.hpp"
#include "cairn/layer.hpp"
#include "cairn/overlay/stack.hpp"

namespace cairn::build {

// Where sources come from: a stack whose merged view is the context directory or the root
// filesystem of a stage or image.
struct SourceTree {
  const overlay::Stack* stack = nullptr;
  const frontend::IgnoreMatcher* ignore = nullptr;  // the context's .dockerignore
  bool is_context = false;
  std::string name;  // for messages: "build context", "stage build", "image busybox"
};

struct CopyRequest {
  std::vector<std::string> sources;  // as written (expanded), relative to the tree's root
  std::string destination;           // absolute (joined with WORKDIR by the caller)
  bool destination_is_dir = false;   // ended with '/' (or several sources)
  std::optional<uid_t> uid;          // --chown, resolved
  std::optional<gid_t> gid;
  std::optional<mode_t> chmod;        // --chmod
  bool parents = false;               // --parents
  std::vector<std::string> excludes;  // --exclude patterns
  bool is_add = false;                // ADD: extract local tar archives
};

// One entry to create in the new layer.
struct CopyItem {
  enum class Kind { directory, file, symlink, archive } kind = Kind::file;
  std::size_t layer = 0;  // where the data is in the source stack
  std::string source;     // relative path in the source tree
  std::string dest;       // relative path in the new layer (symlinks of the image resolved)
  mode_t mode = 0;        // permission bits incl. 07000
  uid_t uid = 0;
  gid_t gid = 0;
  std::string link_target;
  struct timespec mtime = {};
};

// A directory on the way to the destination: taken over from the image with its owner and
// mode, or created.
struct ParentDir {
  std::string path;
  mode_t mode = 0755;
  uid_t uid = 0;
  gid_t gid = 0;
  struct timespec mtime = {};
  bool from_image = false;
};

struct CopyPlan {
  std::vector<ParentDir> parents;
  std::vector<CopyItem> items;  // parents before their children
};

// Decides what a COPY/ADD writes. `image` is the stack of the image being built (for the
// destination's symlinks, existing directories and their owners). Throws Error for a
// source that does not exist or leaves the tree, and for docker's destination rules.
CopyPlan plan_copy(const CopyRequest& request, const SourceTree& tree, const overlay::Stack& image);

// A digest of everything the plan writes (paths, types, modes, owners, link targets and,
// with `with_content`, the data): the cache key of a COPY whose sources are in the context.
std::string plan_digest(const CopyPlan& plan, const SourceTree& tree, bool with_content);

// Writes the plan into `out` (a new layer directory: files under out.root(), the record).
void write_copy(const CopyPlan& plan, const SourceTree& tree, const layer::LayerDir& out);

// A directory created by WORKDIR when the image lacks it: parents as the image has them.
CopyPlan plan_mkdir(const std::string& path, const overlay::Stack& image, uid_t uid, gid_t gid);

// Resolves the symlinks of an absolute path inside the image's root, as a process inside
// the container would (absolute links restart at the root; ".." stops at the root). The
// last component is followed only when `follow_last`. Returns the path relative to root.
std::string resolve_in_image(const overlay::Stack& image, const std::string& path,
                             bool follow_last);

}  // namespace cairn::build
