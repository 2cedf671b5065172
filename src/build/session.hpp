// What `cairn run` and a build's RUN steps share (private to src/build): the overlay served
// while the sandbox runs, the ownership recorder of single-id mode, the scaffold layer of
// mount points, and reading the image's own files through the mounted root.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <string>
#include <vector>

#include "cairn/layer.hpp"
#include "cairn/overlay/mount.hpp"
#include "cairn/sandbox/identity.hpp"
#include "cairn/sandbox/sandbox.hpp"

namespace cairn::build {

// A file of the root, read with every symlink resolved inside it ("" when missing).
std::string read_in_root(const std::filesystem::path& rootfs, const std::string& path);

// Whether an image has apt (its configuration directory in any layer).
bool has_apt(const std::vector<overlay::LayerSource>& lowers);

// What the scaffold layer holds besides the sandbox's own mount points: directories and
// empty files where a step mounts something (RUN --mount targets), absolute paths.
struct ScaffoldPoints {
  std::vector<std::string> directories;
  std::vector<std::string> files;
};

// The mount points a sandbox needs, as a lower layer below the image's: where the image has
// them they win, where it lacks them they exist without being written into the upper. In
// single-id mode with apt, it also holds the apt option that keeps apt from switching to
// its _apt user (see session.cpp).
overlay::LayerSource make_scaffold_layer(const std::filesystem::path& dir, bool apt_as_root,
                                         const ScaffoldPoints& points = {});

// The overlay a sandbox runs on: the image's layers (top-most first), the scaffold layer
// made in `scratch`/scaffold, and `upper` (created) as the writable layer; in single-id mode
// everything is shown as 0:0 (the one mapped id).
overlay::MountOptions sandbox_overlay(const std::vector<layer::LayerDir>& lowers,
                                      const layer::LayerDir& upper,
                                      const std::filesystem::path& scratch, sandbox::IdMode mode,
                                      const ScaffoldPoints& points = {});

// 12 hex digits, as docker names a container's host.
std::string random_hostname();

// USER resolved through the mounted root's /etc/passwd and /etc/group.
sandbox::User resolve_user_in(const std::filesystem::path& rootfs, const std::string& user);

// The overlay's side of the single-id ownership record (sandbox::Recorder): the overlay
// consumes these two xattrs into the upper's record (never storing them as xattrs).
class OverlayRecorder : public sandbox::Recorder {
 public:
  int record_owner(int fd, long uid, long gid) override;
  int record_device(int dirfd, const std::string& name, mode_t mode, dev_t rdev) override;
};

// The overlay, served by threads of this process while the sandbox runs, in a descriptor
// table of their own (Mount::serve_on_own_thread): cairn itself reads and writes the mount
// (the image's /etc/passwd, mount points, the supervisor's ownership records), and must
// still end when killed while it waits for an answer.
class ServedMount {
 public:
  ServedMount(overlay::MountOptions options, const std::filesystem::path& at);
  ServedMount(const ServedMount&) = delete;
  ServedMount& operator=(const ServedMount&) = delete;
  ~ServedMount();
  // Unmounts and waits for the server, which writes the upper's record as it ends.
  void stop();

 private:
  overlay::Mount mount_;
  std::filesystem::path at_;
  bool stopped_ = false;
};

}  // namespace cairn::build
