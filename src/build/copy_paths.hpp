// Path and file helpers of COPY/ADD (private to src/build).
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "cairn/overlay/stack.hpp"
#include "copy.hpp"

namespace cairn::build {

// "a/./b/../c/" → "a/c"; a leading '/' is dropped and ".." never climbs above the root,
// as docker cleans source paths against the context root.
std::string clean_relative(const std::string& path);
std::vector<std::string> split_path(const std::string& path);  // cleaned components
std::string parent_of(const std::string& path);                // "" for a top-level name
// A path of a Dockerfile relative to the working directory (an absolute one as it is).
std::string join_to_workdir(const std::string& workdir, const std::string& path);

// A directory on the way to a destination: the image's (owner, mode, mtime kept) when it
// has one, else a new one owned by uid:gid with mode 0755.
ParentDir parent_dir(const overlay::Stack& image, const std::string& path, uid_t uid, gid_t gid);

std::string read_link(const overlay::Stack& stack, std::size_t layer, const std::string& path);
// sha256 hex of a file's data in one layer of a stack.
std::string file_digest(const overlay::Stack& stack, std::size_t layer, const std::string& path);
// A directory as an uncompressed tar in an unlinked file of `scratch`, read from its start.
UniqueFd tar_directory(const std::string& dir, const std::filesystem::path& scratch);

// A tar archive, plain or compressed in any way libarchive knows (docker's ADD rule).
bool looks_like_tar_archive(int fd);

}  // namespace cairn::build
