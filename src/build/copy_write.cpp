// Writing a COPY/ADD plan into a new layer directory, and resolving destinations through
// the image's symlinks.
#include <archive.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <memory>

#include "cairn/base/error.hpp"
#include "cairn/base/sys.hpp"
#include "cairn/store/layer_tar.hpp"
#include "copy.hpp"
#include "copy_paths.hpp"

namespace cairn::build {
namespace fs = std::filesystem;

std::string resolve_in_image(const overlay::Stack& image, const std::string& path,
                             bool follow_last) {
  std::vector<std::string> pending = split_path(path);
  std::reverse(pending.begin(), pending.end());  // a stack: next component at the back
  std::vector<std::string> done;
  int hops = 0;
  while (!pending.empty()) {
    const std::string part = pending.back();
    pending.pop_back();
    std::string candidate;
    for (const auto& d : done)
      candidate += d + "/";
    candidate += part;
    const auto r = image.lookup(candidate);
    const bool follow = r && S_ISLNK(r->attr.mode) && (!pending.empty() || follow_last);
    if (!follow) {
      done.push_back(part);
      continue;
    }
    if (++hops > 40) throw Error("too many levels of symbolic links in " + path);
    const std::string target = read_link(image, r->layer, r->path);
    if (!target.empty() && target.front() == '/') done.clear();
    std::vector<std::string> parts;
    for (std::size_t start = 0; start <= target.size();) {
      std::size_t end = target.find('/', start);
      if (end == std::string::npos) end = target.size();
      parts.push_back(target.substr(start, end - start));
      start = end + 1;
    }
    for (auto it = parts.rbegin(); it != parts.rend(); ++it) {
      if (it->empty() || *it == ".") continue;
      pending.push_back(*it);
    }
    // ".." components are applied as they come off the stack.
    while (!pending.empty() && pending.back() == "..") {
      pending.pop_back();
      if (!done.empty()) done.pop_back();
    }
  }
  std::string out;
  for (const auto& d : done)
    out += (out.empty() ? "" : "/") + d;
  return out;
}

namespace {

constexpr mode_t kDirDiskBits = 0700;  // the user can always enter and change what it wrote
constexpr mode_t kFileDiskBits = 0600;

class LayerWriter {
 public:
  LayerWriter(const SourceTree& tree, const layer::LayerDir& out)
      : tree_(tree), out_(out), record_(layer::Record::load(out.record())) {
    fs::create_directories(out.root());
    root_ = sys::open(out.root().string(), O_PATH | O_DIRECTORY);
  }

  void parent(const ParentDir& p) {
    make_dir(p.path, p.mode);
    note(p.path, S_IFDIR | p.mode, p.uid, p.gid, S_IFDIR | (p.mode | kDirDiskBits), true);
    if (p.from_image) dir_times_.emplace_back(p.path, p.mtime);
  }

  void item(const CopyItem& it) {
    switch (it.kind) {
      case CopyItem::Kind::directory:
        make_dir(it.dest, it.mode);
        note(it.dest, S_IFDIR | it.mode, it.uid, it.gid, S_IFDIR | (it.mode | kDirDiskBits), true);
        dir_times_.emplace_back(it.dest, it.mtime);
        return;
      case CopyItem::Kind::file:
        copy_file(it);
        note(it.dest, S_IFREG | it.mode, it.uid, it.gid, S_IFREG | (it.mode | kFileDiskBits),
             false);
        set_time(it.dest, it.mtime);
        return;
      case CopyItem::Kind::symlink:
        replace(it.dest);
        if (::symlinkat(it.link_target.c_str(), root_.get(), it.dest.c_str()) != 0)
          throw_errno("create symlink", "/" + it.dest, errno);
        note(it.dest, S_IFLNK | 0777, it.uid, it.gid, S_IFLNK | 0777, false);
        set_time(it.dest, it.mtime);
        return;
      case CopyItem::Kind::archive:
        extract(it);
        return;
    }
  }

  void finish() {
    for (auto it = dir_times_.rbegin(); it != dir_times_.rend(); ++it)
      set_time(it->first, it->second);
    record_.save(out_.record());
  }

 private:
  void make_dir(const std::string& path, mode_t mode) {
    if (::mkdirat(root_.get(), path.c_str(), (mode | kDirDiskBits) & 07777) == 0) return;
    struct stat st {};
    if (errno == EEXIST && ::fstatat(root_.get(), path.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) {
      if (S_ISDIR(st.st_mode)) {
        ::fchmodat(root_.get(), path.c_str(), (mode | kDirDiskBits) & 07777, 0);
        return;
      }
      replace(path);
      if (::mkdirat(root_.get(), path.c_str(), (mode | kDirDiskBits) & 07777) == 0) return;
    }
    throw_errno("create directory", "/" + path, errno);
  }

  // A later source replaces what an earlier one put at the same path.
  void replace(const std::string& path) {
    struct stat st {};
    if (::fstatat(root_.get(), path.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) return;
    std::error_code ec;
    fs::remove_all(out_.root() / path, ec);
    if (ec) throw Error("replace /" + path + ": " + ec.message());
  }

  void copy_file(const CopyItem& it) {
    replace(it.dest);
    const int in_fd = sys::try_openat2(tree_.stack->root_fd(it.layer), it.source, O_RDONLY,
                                       RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS);
    if (in_fd < 0) throw_errno("open", tree_.name + ": /" + it.source, -in_fd);
    const UniqueFd in(in_fd);
    const UniqueFd out = sys::openat(root_.get(), it.dest, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW,
                                     (it.mode | kFileDiskBits) & 0777);
    for (;;) {
      const ssize_t n = ::copy_file_range(in.get(), nullptr, out.get(), nullptr, 1 << 30, 0);
      if (n == 0) break;
      if (n < 0 && (errno == EXDEV || errno == ENOSYS || errno == EINVAL)) {
        copy_by_reading(in.get(), out.get(), it.source);
        break;
      }
      if (n < 0) throw_errno("copy", "/" + it.source + " to /" + it.dest, errno);
    }
    if (::fchmod(out.get(), (it.mode | kFileDiskBits) & 07777) != 0)
      throw_errno("chmod", "/" + it.dest, errno);
  }

  static void copy_by_reading(int in, int out, const std::string& what) {
    char buffer[1 << 16];
    for (;;) {
      const ssize_t n = ::read(in, buffer, sizeof buffer);
      if (n == 0) return;
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) throw_errno("read", "/" + what, errno);
      sys::write_all(out, std::string_view(buffer, static_cast<std::size_t>(n)), what);
    }
  }

  void note(const std::string& path, mode_t mode, uid_t uid, gid_t gid, mode_t disk_mode,
            bool is_dir) {
    (void)is_dir;
    if (uid == 0 && gid == 0 && mode == disk_mode) {
      record_.erase(path);
      return;
    }
    layer::EntryMeta meta;
    meta.uid = uid;
    meta.gid = gid;
    meta.mode = mode;
    record_.set(path, meta);
  }

  void set_time(const std::string& path, const struct timespec& mtime) {
    const struct timespec times[2] = {mtime, mtime};
    ::utimensat(root_.get(), path.c_str(), times, AT_SYMLINK_NOFOLLOW);
  }

  // ADD of a local archive: unpacked beside the layer (the store's hardened unpacker),
  // then moved under the destination, its record entries with it.
  void extract(const CopyItem& it) {
    const layer::LayerDir unpacked{out_.path / ("add-" + std::to_string(++archives_))};
    with_context("ADD " + it.source + ": extract the archive", [&] {
      const UniqueFd tar = decompressed(it);
      store::unpack_layer(tar.get(), unpacked);
    });
    const layer::Record added = layer::Record::load(unpacked.record());
    merge_tree(unpacked.root(), out_.root() / it.dest);
    for (const auto& [path, meta] : added.entries())
      if (!path.empty()) record_.set(it.dest.empty() ? path : it.dest + "/" + path, meta);
    std::error_code ec;
    fs::remove_all(unpacked.path, ec);
  }

  // unpack_layer reads plain, gzip and zstd tars; bzip2, xz and the rest that libarchive
  // knows are decompressed into an unlinked temporary file first.
  UniqueFd decompressed(const CopyItem& it) {
    const int fd = sys::try_openat2(tree_.stack->root_fd(it.layer), it.source, O_RDONLY,
                                    RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS);
    if (fd < 0) throw_errno("open", "/" + it.source, -fd);
    UniqueFd in(fd);
    unsigned char magic[6] = {};
    const ssize_t n = ::pread(in.get(), magic, sizeof magic, 0);
    const bool direct =
        n >= 2 &&
        ((magic[0] == 0x1f && magic[1] == 0x8b) ||
         (n >= 4 && magic[0] == 0x28 && magic[1] == 0xb5 && magic[2] == 0x2f && magic[3] == 0xfd));
    if (direct || !compressed_otherwise(in.get())) return in;
    return raw_stream(in.get(), it.source);
  }

  static bool compressed_otherwise(int fd) {
    std::unique_ptr<archive, int (*)(archive*)> a(archive_read_new(), archive_read_free);
    archive_read_support_filter_all(a.get());
    archive_read_support_format_raw(a.get());
    const UniqueFd dup = sys::dup(fd);
    ::lseek(dup.get(), 0, SEEK_SET);
    archive_entry* entry = nullptr;
    const bool ok = archive_read_open_fd(a.get(), dup.get(), 1 << 16) == ARCHIVE_OK &&
                    archive_read_next_header(a.get(), &entry) == ARCHIVE_OK;
    const bool filtered = ok && archive_filter_count(a.get()) > 1;
    ::lseek(fd, 0, SEEK_SET);
    return filtered;
  }

  UniqueFd raw_stream(int fd, const std::string& what) {
    std::unique_ptr<archive, int (*)(archive*)> a(archive_read_new(), archive_read_free);
    archive_read_support_filter_all(a.get());
    archive_read_support_format_raw(a.get());
    archive_entry* entry = nullptr;
    if (archive_read_open_fd(a.get(), fd, 1 << 16) != ARCHIVE_OK ||
        archive_read_next_header(a.get(), &entry) != ARCHIVE_OK)
      throw Error("ADD " + what + ": " + archive_error_string(a.get()));
    UniqueFd out = sys::open(out_.path.string(), O_TMPFILE | O_RDWR, 0600);
    char buffer[1 << 16];
    for (;;) {
      const la_ssize_t n = archive_read_data(a.get(), buffer, sizeof buffer);
      if (n == 0) break;
      if (n < 0) throw Error("ADD " + what + ": " + archive_error_string(a.get()));
      sys::write_all(out.get(), std::string_view(buffer, static_cast<std::size_t>(n)), what);
    }
    ::lseek(out.get(), 0, SEEK_SET);
    return out;
  }

  void merge_tree(const fs::path& from, const fs::path& to) {
    fs::create_directories(to);
    for (const auto& entry : fs::directory_iterator(from)) {
      const fs::path target = to / entry.path().filename();
      std::error_code ec;
      const auto st = fs::symlink_status(target, ec);
      if (!ec && fs::is_directory(st) && entry.is_directory() && !entry.is_symlink()) {
        merge_tree(entry.path(), target);
        continue;
      }
      if (!ec && fs::exists(st)) fs::remove_all(target);
      fs::rename(entry.path(), target);
    }
  }

  const SourceTree& tree_;
  const layer::LayerDir& out_;
  layer::Record record_;
  UniqueFd root_;
  std::vector<std::pair<std::string, struct timespec>> dir_times_;
  int archives_ = 0;
};

}  // namespace

void write_copy(const CopyPlan& plan, const SourceTree& tree, const layer::LayerDir& out) {
  LayerWriter writer(tree, out);
  for (const ParentDir& p : plan.parents)
    writer.parent(p);
  for (const CopyItem& it : plan.items)
    writer.item(it);
  writer.finish();
}

}  // namespace cairn::build
