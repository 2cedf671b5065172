// The thin syscall layer: every descriptor it creates is close-on-exec, every failure
// becomes a cairn::Error naming the operation, the path and the errno.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <utility>

#include "cairn/base/fd.hpp"

namespace cairn::sys {

UniqueFd open(const std::string& path, int flags, mode_t mode = 0);
UniqueFd openat(int dirfd, const std::string& path, int flags, mode_t mode = 0);
// {read end, write end}
std::pair<UniqueFd, UniqueFd> pipe();
// A connected AF_UNIX stream pair: unlike a pipe, a writer whose reader has gone gets EPIPE
// from send(MSG_NOSIGNAL) instead of SIGPIPE.
std::pair<UniqueFd, UniqueFd> socketpair();
UniqueFd pidfd_open(pid_t pid);
// openat2 with RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS: `path` must
// resolve below `dirfd` without following any symlink (untrusted archives).
UniqueFd open_beneath(int dirfd, const std::string& path, int flags, mode_t mode = 0);
// The same without throwing: a descriptor, or -errno.
int try_open_beneath(int dirfd, const std::string& path, int flags, mode_t mode = 0);
// openat2 with the given RESOLVE_* flags (retrying on EINTR/EAGAIN): a descriptor, or -errno.
int try_openat2(int dirfd, const std::string& path, int flags, std::uint64_t resolve,
                mode_t mode = 0);
// A copy of descriptor `fd` of the process behind `pidfd` (pidfd_getfd).
UniqueFd pidfd_getfd(int pidfd, int fd);
// An anonymous memory file (memfd_create); `name` shows in /proc/PID/fd.
UniqueFd memfd(const char* name);
// Duplicates `fd` to a new close-on-exec descriptor.
UniqueFd dup(int fd);
// An epoll instance watching `fd` for `events` (EPOLLIN, EPOLLEXCLUSIVE, ...).
UniqueFd epoll_watch(int fd, std::uint32_t events);
// Adds `fd` to the epoll instance `epoll_fd`.
void epoll_add(int epoll_fd, int fd, std::uint32_t events);
// A non-blocking eventfd counter starting at 0.
UniqueFd eventfd();

// Reads until EOF in chunks of up to `chunk_size` bytes, handing each to `consume`
// (retrying on EINTR); `what` names the source in errors.
void read_chunks(int fd, std::string_view what,
                 const std::function<void(std::string_view)>& consume,
                 std::size_t chunk_size = 1 << 20);
// Reads until EOF; `what` names the source in errors.
std::string read_all(int fd, std::string_view what);
std::string read_file(const std::string& path);
// Writes all of `data`, retrying on EINTR and short writes.
void write_all(int fd, std::string_view data, std::string_view what);
// Replaces `path` atomically: temp file, fsync, rename, fsync dir. The temp file goes into
// `temp_dir` when given (same filesystem; a killed process then leaves nothing beside the
// target), else beside `path`.
void write_file_atomic(const std::string& path, std::string_view data, mode_t mode = 0644,
                       const std::string& temp_dir = "");

}  // namespace cairn::sys
