// Layer directory + metadata record → deterministic layer tar.
#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <thread>

#include "cairn/base/digest.hpp"
#include "cairn/base/error.hpp"
#include "cairn/base/sys.hpp"
#include "cairn/store/layer_tar.hpp"
#include "stream.hpp"

namespace cairn::store {
namespace {

constexpr std::string_view kOpaqueMarker = ".wh..wh..opq";

struct WriteFree {
  void operator()(archive* a) const { archive_write_free(a); }
};
struct EntryFree {
  void operator()(archive_entry* e) const { archive_entry_free(e); }
};

struct TarSink {
  Sha256 hash;
  ChunkQueue* queue;
};

la_ssize_t write_chunk(struct archive*, void* data, const void* buffer, size_t size) {
  auto* sink = static_cast<TarSink*>(data);
  const std::string_view bytes(static_cast<const char*>(buffer), size);
  sink->hash.update(bytes);
  if (!sink->queue->push(std::string(bytes))) return -1;
  return static_cast<la_ssize_t>(size);
}

std::vector<std::string> sorted_names(int dirfd, const std::string& where) {
  UniqueFd copy = sys::openat(dirfd, ".", O_RDONLY | O_DIRECTORY);
  DIR* dir = ::fdopendir(copy.release());
  if (!dir) throw Error("opendir", where, errno);
  std::vector<std::string> names;
  errno = 0;
  while (dirent* d = ::readdir(dir)) {
    if (std::strcmp(d->d_name, ".") == 0 || std::strcmp(d->d_name, "..") == 0) continue;
    names.emplace_back(d->d_name);
  }
  ::closedir(dir);
  return names;
}

class Packer {
 public:
  Packer(const layer::LayerDir& dir, const PackOptions& options, archive* a, PackResult& result)
      : record_(layer::Record::load(dir.record())), options_(options), a_(a), result_(result) {
    root_ = sys::open(dir.root().string(), O_RDONLY | O_DIRECTORY);
    for (const auto& [path, meta] : record_.entries()) {
      if (!meta.whiteout) continue;
      const auto slash = path.rfind('/');
      const std::string parent = slash == std::string::npos ? "" : path.substr(0, slash);
      whiteouts_[parent].push_back(".wh." + path.substr(slash == std::string::npos ? 0 : slash + 1));
    }
  }

  void run() { walk(root_.get(), ""); }

 private:
  void walk(int dirfd, const std::string& dir_path) {
    std::vector<std::string> names = sorted_names(dirfd, dir_path.empty() ? "/" : dir_path);
    if (auto it = whiteouts_.find(dir_path); it != whiteouts_.end())
      names.insert(names.end(), it->second.begin(), it->second.end());
    const layer::EntryMeta* self = record_.find(dir_path);
    if (self && self->opaque) names.emplace_back(kOpaqueMarker);
    std::sort(names.begin(), names.end());
    for (const auto& name : names) {
      const std::string path = dir_path.empty() ? name : dir_path + "/" + name;
      if (name.rfind(".wh.", 0) == 0) {
        whiteout_entry(dir_path, path);
        continue;
      }
      struct stat st;
      if (::fstatat(dirfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0)
        throw Error("stat", path, errno).context("pack layer");
      emit(dirfd, name, path, st);
      if (S_ISDIR(st.st_mode)) {
        UniqueFd child = sys::openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
        walk(child.get(), path);
      }
    }
  }

  std::int64_t clamp(std::int64_t mtime) const {
    if (options_.source_date_epoch && mtime > *options_.source_date_epoch)
      return *options_.source_date_epoch;
    return mtime;
  }

  void emit(int dirfd, const std::string& name, const std::string& path, const struct stat& st) {
    std::unique_ptr<archive_entry, EntryFree> e(archive_entry_new());
    const layer::EntryMeta* meta = record_.find(path);
    mode_t mode = meta ? meta->mode : st.st_mode;
    if (!meta) mode = (st.st_mode & S_IFMT) | (st.st_mode & 0777);
    if (S_ISLNK(st.st_mode)) mode = S_IFLNK | 0777;
    archive_entry_set_pathname(e.get(), (S_ISDIR(st.st_mode) ? path + "/" : path).c_str());
    archive_entry_set_mode(e.get(), mode);
    archive_entry_set_uid(e.get(), meta ? meta->uid : 0);
    archive_entry_set_gid(e.get(), meta ? meta->gid : 0);
    archive_entry_set_mtime(e.get(), clamp(st.st_mtim.tv_sec), 0);
    if (meta)
      for (const auto& [key, value] : meta->xattrs)
        archive_entry_xattr_add_entry(e.get(), key.c_str(), value.data(), value.size());
    ++result_.entries;
    if (meta && meta->is_device()) {
      archive_entry_set_rdev(e.get(), meta->rdev);
      return header(e.get(), path);
    }
    if (S_ISREG(st.st_mode) && st.st_nlink > 1) {
      auto [it, first] = links_.try_emplace({st.st_dev, st.st_ino}, path);
      if (!first) {
        archive_entry_set_hardlink(e.get(), it->second.c_str());
        archive_entry_set_size(e.get(), 0);
        return header(e.get(), path);
      }
    }
    if (S_ISLNK(st.st_mode)) {
      std::string target(static_cast<std::size_t>(st.st_size) + 1, '\0');
      const ssize_t n = ::readlinkat(dirfd, name.c_str(), target.data(), target.size());
      if (n < 0) throw Error("readlink", path, errno).context("pack layer");
      target.resize(static_cast<std::size_t>(n));
      archive_entry_set_symlink(e.get(), target.c_str());
    }
    if (S_ISREG(st.st_mode)) {
      archive_entry_set_size(e.get(), st.st_size);
      header(e.get(), path);
      return data(dirfd, name, path, st.st_size);
    }
    header(e.get(), path);
  }

  // ".wh.NAME" and ".wh..wh..opq" get the mtime the layer tar gave them (0 when the
  // overlay made them), never a time of this unpack, so packing is reproducible.
  void whiteout_entry(const std::string& dir_path, const std::string& path) {
    const std::string name = path.substr(path.rfind('/') + 1);
    std::int64_t mtime = 0;
    if (name == kOpaqueMarker) {
      if (const layer::EntryMeta* m = record_.find(dir_path)) mtime = m->opaque_mtime;
    } else {
      const std::string hidden = (dir_path.empty() ? "" : dir_path + "/") + name.substr(4);
      if (const layer::EntryMeta* m = record_.find(hidden)) mtime = m->whiteout_mtime;
    }
    std::unique_ptr<archive_entry, EntryFree> e(archive_entry_new());
    archive_entry_set_pathname(e.get(), path.c_str());
    archive_entry_set_mode(e.get(), S_IFREG | 0644);
    archive_entry_set_mtime(e.get(), clamp(mtime), 0);
    archive_entry_set_size(e.get(), 0);
    ++result_.entries;
    header(e.get(), path);
  }

  void header(archive_entry* e, const std::string& path) {
    if (archive_write_header(a_, e) != ARCHIVE_OK)
      throw Error("pack layer: writing the header of " + path + ": " + archive_error_string(a_));
  }

  void data(int dirfd, const std::string& name, const std::string& path, off_t size) {
    UniqueFd fd = sys::openat(dirfd, name, O_RDONLY | O_NOFOLLOW);
    std::string buffer(1 << 20, '\0');
    off_t left = size;
    while (left > 0) {
      const ssize_t n = ::read(fd.get(), buffer.data(),
                               static_cast<std::size_t>(std::min<off_t>(left, buffer.size())));
      if (n < 0) {
        if (errno == EINTR) continue;
        throw Error("read", path, errno).context("pack layer");
      }
      if (n == 0) throw Error("pack layer: " + path + " shrank while it was being read");
      if (archive_write_data(a_, buffer.data(), static_cast<std::size_t>(n)) < 0)
        throw Error("pack layer: writing " + path + ": " + archive_error_string(a_));
      left -= n;
    }
  }

  layer::Record record_;
  const PackOptions& options_;
  archive* a_;
  PackResult& result_;
  UniqueFd root_;
  std::map<std::string, std::vector<std::string>> whiteouts_;
  std::map<std::pair<dev_t, ino_t>, std::string> links_;
};

// Thread 2: compress the tar stream, hash what is written, write it out.
void compress(ChunkQueue& queue, int out_fd, const PackOptions& options, PackResult& result) {
  Sha256 hash;
  auto encoder = Encoder::create(options.compression, options.level);
  auto sink = [&](std::string_view bytes) {
    if (bytes.empty()) return;
    hash.update(bytes);
    result.size += bytes.size();
    sys::write_all(out_fd, bytes, "layer blob");
  };
  std::string chunk;
  while (queue.pop(chunk)) encoder->feed(chunk, sink);
  encoder->finish(sink);
  result.digest = hash.oci_digest();
}

}  // namespace

PackResult pack_layer(const layer::LayerDir& dir, int out_fd, const PackOptions& options) {
  PackResult result;
  ChunkQueue queue;
  std::exception_ptr compress_error;
  std::thread compressor([&] {
    try {
      compress(queue, out_fd, options, result);
    } catch (...) {
      compress_error = std::current_exception();
      queue.fail(compress_error);
    }
  });
  try {
    // The sink outlives the archive: archive_write_free flushes into it, also when an
    // exception unwinds this scope.
    TarSink sink{Sha256(), &queue};
    std::unique_ptr<archive, WriteFree> a(archive_write_new());
    archive_write_set_format_pax_restricted(a.get());
    archive_write_add_filter_none(a.get());
    if (archive_write_open(a.get(), &sink, nullptr, write_chunk, nullptr) != ARCHIVE_OK)
      throw Error(std::string("pack layer: ") + archive_error_string(a.get()));
    Packer(dir, options, a.get(), result).run();
    if (archive_write_close(a.get()) != ARCHIVE_OK)
      throw Error(std::string("pack layer: ") + archive_error_string(a.get()));
    result.diff_id = sink.hash.oci_digest();
    queue.close();
    compressor.join();
    if (compress_error) std::rethrow_exception(compress_error);
  } catch (...) {
    queue.fail(std::current_exception());
    if (compressor.joinable()) compressor.join();
    if (compress_error) std::rethrow_exception(compress_error);
    throw;
  }
  return result;
}

}  // namespace cairn::store
