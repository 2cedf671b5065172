#include "copy_paths.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <unistd.h>

#include <memory>

#include "cairn/base/digest.hpp"
#include "cairn/base/error.hpp"
#include "cairn/base/sys.hpp"

namespace cairn::build {

std::vector<std::string> split_path(const std::string& path) {
  std::vector<std::string> parts;
  std::size_t start = 0;
  while (start <= path.size()) {
    std::size_t end = path.find('/', start);
    if (end == std::string::npos) end = path.size();
    const std::string part = path.substr(start, end - start);
    if (part == "..") {
      if (!parts.empty()) parts.pop_back();
    } else if (!part.empty() && part != ".") {
      parts.push_back(part);
    }
    start = end + 1;
  }
  return parts;
}

std::string clean_relative(const std::string& path) {
  std::string out;
  for (const std::string& part : split_path(path))
    out += (out.empty() ? "" : "/") + part;
  return out;
}

std::string parent_of(const std::string& path) {
  const auto slash = path.rfind('/');
  return slash == std::string::npos ? std::string() : path.substr(0, slash);
}

std::string join_to_workdir(const std::string& workdir, const std::string& path) {
  if (!path.empty() && path.front() == '/') return path;
  if (workdir.empty()) return "/" + path;
  return workdir + (workdir.back() == '/' ? "" : "/") + path;
}

ParentDir parent_dir(const overlay::Stack& image, const std::string& path, uid_t uid, gid_t gid) {
  ParentDir dir{path, 0755, uid, gid, {}, false};
  if (const auto r = image.lookup(path); r && S_ISDIR(r->attr.mode)) {
    dir.mode = r->attr.mode & 07777;
    dir.uid = r->attr.uid;
    dir.gid = r->attr.gid;
    dir.mtime = r->attr.mtime;
    dir.from_image = true;
  }
  return dir;
}

std::string read_link(const overlay::Stack& stack, std::size_t layer, const std::string& path) {
  char buffer[4096];
  const ssize_t n = ::readlinkat(stack.root_fd(layer), path.c_str(), buffer, sizeof buffer);
  if (n < 0) throw_errno("read symlink", "/" + path, errno);
  return std::string(buffer, static_cast<std::size_t>(n));
}

std::string file_digest(const overlay::Stack& stack, std::size_t layer, const std::string& path) {
  const int fd =
      sys::try_openat2(stack.root_fd(layer), path, O_RDONLY, RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS);
  if (fd < 0) throw_errno("open", "/" + path, -fd);
  const UniqueFd file(fd);
  Sha256 sum;
  char buffer[1 << 16];
  for (;;) {
    const ssize_t n = ::read(file.get(), buffer, sizeof buffer);
    if (n == 0) break;
    if (n < 0) {
      if (errno == EINTR) continue;
      throw_errno("read", "/" + path, errno);
    }
    sum.update(std::string_view(buffer, static_cast<std::size_t>(n)));
  }
  return sum.hex_digest();
}

UniqueFd tar_directory(const std::string& dir, const std::filesystem::path& scratch) {
  UniqueFd out = sys::open(scratch.string(), O_TMPFILE | O_RDWR, 0600);
  std::unique_ptr<archive, int (*)(archive*)> disk(archive_read_disk_new(), archive_read_free);
  std::unique_ptr<archive, int (*)(archive*)> tar(archive_write_new(), archive_write_free);
  archive_write_set_format_pax_restricted(tar.get());
  if (archive_write_open_fd(tar.get(), out.get()) != ARCHIVE_OK ||
      archive_read_disk_open(disk.get(), dir.c_str()) != ARCHIVE_OK)
    throw Error("archive " + dir + ": " + archive_error_string(disk.get()));
  const std::string prefix = dir + "/";
  for (;;) {
    archive_entry* entry = archive_entry_new();
    const int r = archive_read_next_header2(disk.get(), entry);
    if (r == ARCHIVE_EOF) {
      archive_entry_free(entry);
      break;
    }
    if (r != ARCHIVE_OK) {
      archive_entry_free(entry);
      throw Error("archive " + dir + ": " + archive_error_string(disk.get()));
    }
    archive_read_disk_descend(disk.get());
    std::string name = archive_entry_pathname(entry);
    name = name.rfind(prefix, 0) == 0 ? name.substr(prefix.size()) : name == dir ? "." : name;
    archive_entry_set_pathname(entry, name.c_str());
    archive_write_header(tar.get(), entry);
    if (archive_entry_filetype(entry) == AE_IFREG && archive_entry_size(entry) > 0) {
      const UniqueFd in = sys::open(archive_entry_sourcepath(entry), O_RDONLY);
      char buffer[1 << 16];
      ssize_t n;
      while ((n = ::read(in.get(), buffer, sizeof buffer)) > 0)
        archive_write_data(tar.get(), buffer, static_cast<std::size_t>(n));
    }
    archive_entry_free(entry);
  }
  archive_write_close(tar.get());
  ::lseek(out.get(), 0, SEEK_SET);
  return out;
}

bool looks_like_tar_archive(int fd) {
  std::unique_ptr<archive, int (*)(archive*)> a(archive_read_new(), archive_read_free);
  archive_read_support_format_tar(a.get());
  archive_read_support_filter_all(a.get());
  // libarchive reads the caller's descriptor and leaves it open (the caller opened it for this).
  if (archive_read_open_fd(a.get(), fd, 1 << 16) != ARCHIVE_OK) return false;
  archive_entry* entry = nullptr;
  return archive_read_next_header(a.get(), &entry) == ARCHIVE_OK;
}

}  // namespace cairn::build
