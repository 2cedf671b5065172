// Layer tar → layer directory + metadata record, as an unprivileged user, refusing
// anything that could write outside the layer.
#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <set>
#include <thread>

#include "cairn/base/digest.hpp"
#include "cairn/base/error.hpp"
#include "cairn/base/sys.hpp"
#include "cairn/store/layer_tar.hpp"
#include "paths.hpp"
#include "stream.hpp"

namespace cairn::store {
namespace {

constexpr std::string_view kWhiteoutPrefix = ".wh.";
constexpr std::string_view kOpaqueMarker = ".wh..wh..opq";

std::pair<std::string, std::string> split_parent(const std::string& path) {
  const auto slash = path.rfind('/');
  if (slash == std::string::npos) return {"", path};
  return {path.substr(0, slash), path.substr(slash + 1)};
}

// Host permissions keep the owner able to read, write and search: the real mode goes
// into the record when it differs.
mode_t host_permissions(mode_t mode, bool directory) {
  return (mode & 0777) | (directory ? 0700 : 0600);
}

class Extractor {
 public:
  Extractor(const layer::LayerDir& dir, const UnpackLimits& limits, UnpackResult& result)
      : limits_(limits), result_(result), record_path_(dir.record()) {
    std::filesystem::create_directory(dir.path);
    std::filesystem::create_directory(dir.root());
    root_ = sys::open(dir.root().string(), O_PATH | O_DIRECTORY);
  }

  void entry(archive* a, archive_entry* e) {
    const char* raw = archive_entry_pathname(e);
    if (!raw) raw = archive_entry_pathname_utf8(e);
    if (!raw) throw Error("layer tar: an entry has no name");
    name_ = raw;
    auto path = clean_member_path(name_, DotDot::pop);
    if (!path) refuse("its path climbs out of the layer root with ..");
    ++result_.entries;
    auto [parent, base] = split_parent(*path);
    if (base.rfind(kWhiteoutPrefix, 0) == 0) return whiteout(parent, base, archive_entry_mtime(e));
    if (path->empty()) return root_entry(e);
    const int pfd = parent_fd(parent);
    if (const char* target = archive_entry_hardlink(e)) return hardlink(pfd, *path, base, target, e);
    const mode_t type = archive_entry_filetype(e);
    prepare_slot(pfd, base, type == AE_IFDIR);
    switch (type) {
      case AE_IFREG: regular(a, pfd, *path, base, e); break;
      case AE_IFDIR: directory(pfd, *path, base, e); break;
      case AE_IFLNK: symlink(pfd, *path, base, e); break;
      case AE_IFCHR:
      case AE_IFBLK: device(pfd, *path, base, e); break;
      case AE_IFIFO: fifo(pfd, *path, base, e); break;
      default:
        result_.warnings.push_back("skipped " + name_ + ": sockets and unknown types are not kept");
        return;
    }
  }

  void finish() {
    // Directory times last, deepest first, since filling a directory changes its mtime.
    for (auto it = dir_times_.rbegin(); it != dir_times_.rend(); ++it) {
      UniqueFd dir(open_dir(it->first, O_RDONLY));
      if (!dir) continue;
      struct timespec times[2] = {it->second, it->second};
      ::futimens(dir.get(), times);
    }
    record_.save(record_path_);
  }

 private:
  [[noreturn]] void refuse(const std::string& why) const {
    throw Error("layer tar: refusing entry \"" + name_ + "\": " + why);
  }

  void check_size(std::uint64_t more) {
    result_.unpacked_bytes += more;
    if (result_.unpacked_bytes > limits_.max_unpacked_bytes)
      throw Error("layer tar: unpacked size exceeds the limit of " +
                  std::to_string(limits_.max_unpacked_bytes) +
                  " bytes (a decompression bomb?) at entry \"" + name_ + "\"")
          .hint("raise storage.max_layer_size in cairn.toml if the layer is genuine");
  }

  // A directory of this layer ("" is its root) without following any symlink, as a new
  // close-on-exec descriptor, or -errno. The root itself is held O_PATH, which cannot
  // carry futimens; reopening "." gives a descriptor with the wanted access.
  int open_dir(const std::string& path, int flags) const {
    return sys::try_open_beneath(root_.get(), path.empty() ? "." : path, flags | O_DIRECTORY);
  }

  // Opens (creating missing directories) the parent without following any symlink.
  int parent_fd(const std::string& parent) {
    if (parent.empty()) return root_.get();
    if (parent == cached_parent_ && cached_fd_) return cached_fd_.get();
    int fd = sys::try_open_beneath(root_.get(), parent, O_PATH | O_DIRECTORY);
    if (fd == -ENOENT) fd = create_parents(parent);
    if (fd == -ELOOP || fd == -EXDEV) refuse("its parent " + parent + " goes through a symlink");
    if (fd == -ENOTDIR) refuse("its parent " + parent + " is not a directory");
    if (fd < 0) throw Error("open", parent, -fd).context("layer tar: entry \"" + name_ + "\"");
    cached_fd_.reset(fd);
    cached_parent_ = parent;
    return fd;
  }

  int create_parents(const std::string& parent) {
    std::size_t at = 0;
    for (;;) {
      const std::size_t slash = parent.find('/', at);
      const std::string prefix = parent.substr(0, slash);
      int fd = sys::try_open_beneath(root_.get(), prefix, O_PATH | O_DIRECTORY);
      if (fd == -ENOENT) {
        auto [up, name] = split_parent(prefix);
        const int upfd = open_dir(up, O_PATH);
        if (upfd < 0) return upfd;
        UniqueFd owned(upfd);
        if (::mkdirat(owned.get(), name.c_str(), 0755) != 0 && errno != EEXIST) return -errno;
        fd = sys::try_open_beneath(root_.get(), prefix, O_PATH | O_DIRECTORY);
      }
      if (fd < 0 || slash == std::string::npos) return fd;
      ::close(fd);
      at = slash + 1;
    }
  }

  // A later entry replaces an earlier one of the same name, unless that would turn a
  // directory into a non-directory or back (docker refuses those too).
  void prepare_slot(int pfd, const std::string& base, bool want_directory) {
    struct stat st;
    if (::fstatat(pfd, base.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) return;
    const bool is_directory = S_ISDIR(st.st_mode);
    if (is_directory != want_directory)
      refuse("a duplicate entry changes its type from " +
             std::string(is_directory ? "directory" : "non-directory") + " to " +
             (want_directory ? "directory" : "non-directory"));
    if (!is_directory && ::unlinkat(pfd, base.c_str(), 0) != 0)
      throw Error("unlink", name_, errno);
  }

  void note_metadata(const std::string& path, archive_entry* e, mode_t type, bool directory) {
    layer::EntryMeta meta;
    meta.uid = static_cast<uid_t>(archive_entry_uid(e));
    meta.gid = static_cast<gid_t>(archive_entry_gid(e));
    meta.mode = type | (archive_entry_perm(e) & 07777);
    if (type == S_IFCHR || type == S_IFBLK) meta.rdev = archive_entry_rdev(e);
    read_xattrs(e, meta);
    const bool needed = meta.uid != 0 || meta.gid != 0 || meta.is_device() ||
                        !meta.xattrs.empty() ||
                        (type != S_IFLNK &&
                         (meta.mode & 07777) != host_permissions(meta.mode, directory));
    // A whiteout or opaque marker met earlier in this layer still hides the lower layers:
    // OCI applies a whiteout only to lower layers, so the entry replaces what is below.
    const layer::EntryMeta* old = record_.find(path);
    meta.opaque = old && old->opaque;
    meta.whiteout = old && old->whiteout;
    if (old) {
      meta.opaque_mtime = old->opaque_mtime;
      meta.whiteout_mtime = old->whiteout_mtime;
    }
    if (needed || meta.opaque || meta.whiteout) record_.set(path, std::move(meta));
    else if (old) record_.erase(path);
  }

  void read_xattrs(archive_entry* e, layer::EntryMeta& meta) {
    archive_entry_xattr_reset(e);
    const char* name;
    const void* value;
    size_t size;
    std::set<std::string> dropped;
    while (archive_entry_xattr_next(e, &name, &value, &size) == ARCHIVE_OK) {
      if (layer::is_reserved_xattr(name)) {
        // libarchive reports an xattr once per PAX header family that carries it.
        if (!dropped.insert(name).second) continue;
        result_.warnings.push_back("dropped xattr " + std::string(name) + " of " + name_ +
                                   ": that namespace belongs to the overlay");
        continue;
      }
      meta.xattrs[name] = std::string(static_cast<const char*>(value), size);
    }
  }

  static struct timespec mtime_of(archive_entry* e) {
    struct timespec t;
    t.tv_sec = archive_entry_mtime(e);
    t.tv_nsec = archive_entry_mtime_is_set(e) ? archive_entry_mtime_nsec(e) : 0;
    return t;
  }

  void regular(archive* a, int pfd, const std::string& path, const std::string& base,
               archive_entry* e) {
    UniqueFd fd(::openat(pfd, base.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                         0600));
    if (!fd) throw Error("create", path, errno).context("layer tar");
    write_data(a, fd.get(), path);
    const mode_t perm = archive_entry_perm(e);
    ::fchmod(fd.get(), host_permissions(perm, false));
    struct timespec times[2] = {mtime_of(e), mtime_of(e)};
    ::futimens(fd.get(), times);
    note_metadata(path, e, S_IFREG, false);
  }

  void write_data(archive* a, int fd, const std::string& path) {
    const void* buffer;
    size_t size;
    la_int64_t offset;
    la_int64_t end = 0;
    for (;;) {
      const int rc = archive_read_data_block(a, &buffer, &size, &offset);
      if (rc == ARCHIVE_EOF) break;
      if (rc != ARCHIVE_OK && rc != ARCHIVE_WARN)
        throw Error("layer tar: reading data of \"" + name_ + "\": " + archive_error_string(a));
      check_size(size);
      // Holes in sparse files stay holes: pwrite at the block's offset.
      const char* p = static_cast<const char*>(buffer);
      std::size_t done = 0;
      while (done < size) {
        const ssize_t n = ::pwrite(fd, p + done, size - done, offset + static_cast<off_t>(done));
        if (n < 0) {
          if (errno == EINTR) continue;
          throw Error("write", path, errno).context("layer tar");
        }
        done += static_cast<std::size_t>(n);
      }
      end = offset + static_cast<la_int64_t>(size);
    }
    if (::ftruncate(fd, std::max<off_t>(end, lseek(fd, 0, SEEK_END))) != 0)
      throw Error("truncate", path, errno);
  }

  void directory(int pfd, const std::string& path, const std::string& base, archive_entry* e) {
    if (::mkdirat(pfd, base.c_str(), 0700) != 0 && errno != EEXIST)
      throw Error("mkdir", path, errno).context("layer tar");
    UniqueFd fd(sys::try_open_beneath(root_.get(), path, O_RDONLY | O_DIRECTORY));
    if (!fd) refuse("cannot open the directory it names");
    ::fchmod(fd.get(), host_permissions(archive_entry_perm(e), true));
    dir_times_.emplace_back(path, mtime_of(e));
    note_metadata(path, e, S_IFDIR, true);
  }

  void root_entry(archive_entry* e) {
    if (archive_entry_filetype(e) != AE_IFDIR) refuse("the layer root must be a directory");
    dir_times_.emplace_back("", mtime_of(e));
    note_metadata("", e, S_IFDIR, true);
  }

  void symlink(int pfd, const std::string& path, const std::string& base, archive_entry* e) {
    const char* target = archive_entry_symlink(e);
    if (!target) target = archive_entry_symlink_utf8(e);
    if (!target) refuse("a symbolic link without a target");
    if (::symlinkat(target, pfd, base.c_str()) != 0)
      throw Error("symlink", path, errno).context("layer tar");
    struct timespec times[2] = {mtime_of(e), mtime_of(e)};
    ::utimensat(pfd, base.c_str(), times, AT_SYMLINK_NOFOLLOW);
    note_metadata(path, e, S_IFLNK, false);
  }

  // Device nodes cannot be made without privilege: an empty placeholder file on disk, the
  // type and device number in the record.
  void device(int pfd, const std::string& path, const std::string& base, archive_entry* e) {
    UniqueFd fd(::openat(pfd, base.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                         0600));
    if (!fd) throw Error("create", path, errno).context("layer tar");
    struct timespec times[2] = {mtime_of(e), mtime_of(e)};
    ::futimens(fd.get(), times);
    note_metadata(path, e, archive_entry_filetype(e) == AE_IFCHR ? S_IFCHR : S_IFBLK, false);
  }

  void fifo(int pfd, const std::string& path, const std::string& base, archive_entry* e) {
    if (::mkfifoat(pfd, base.c_str(), host_permissions(archive_entry_perm(e), false)) != 0)
      throw Error("mkfifo", path, errno).context("layer tar");
    struct timespec times[2] = {mtime_of(e), mtime_of(e)};
    ::utimensat(pfd, base.c_str(), times, AT_SYMLINK_NOFOLLOW);
    note_metadata(path, e, S_IFIFO, false);
  }

  void hardlink(int pfd, const std::string& path, const std::string& base, const char* raw_target,
                archive_entry* e) {
    auto target = clean_member_path(raw_target, DotDot::pop);
    if (!target || target->empty()) refuse("its hard-link target climbs out of the layer root");
    auto [tparent, tbase] = split_parent(*target);
    UniqueFd tdir(open_dir(tparent, O_PATH));
    struct stat st;
    if (!tdir || ::fstatat(tdir.get(), tbase.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0)
      refuse("its hard-link target " + *target + " is not in the layer (or not yet written)");
    if (S_ISDIR(st.st_mode)) refuse("it hard-links to a directory");
    prepare_slot(pfd, base, false);
    if (::linkat(tdir.get(), tbase.c_str(), pfd, base.c_str(), 0) != 0)
      throw Error("link", path, errno).context("layer tar");
    // The link shares the target's inode and therefore its metadata.
    if (const layer::EntryMeta* meta = record_.find(*target)) record_.set(path, *meta);
    (void)e;
  }

  void whiteout(const std::string& parent, const std::string& base, std::int64_t mtime) {
    if (!parent.empty()) (void)parent_fd(parent);  // the directory exists in this layer
    if (base == kOpaqueMarker) {
      layer::EntryMeta& meta = record_[parent];
      if (meta.mode == 0) {  // no metadata of its own yet: the defaults, with its host mode
        struct stat st;
        const int pfd = parent.empty() ? root_.get() : parent_fd(parent);
        if (::fstat(pfd, &st) != 0) throw Error("stat", parent, errno);
        meta.mode = S_IFDIR | (st.st_mode & 0777);
      }
      meta.opaque = true;
      meta.opaque_mtime = mtime;
      return;
    }
    const std::string hidden = base.substr(kWhiteoutPrefix.size());
    if (hidden.empty() || hidden == "." || hidden == ".." || hidden.rfind(".wh.", 0) == 0)
      refuse("a whiteout must name one entry (\"" + base + "\" does not)");
    const std::string path = parent.empty() ? hidden : parent + "/" + hidden;
    // An entry of the same name earlier in this layer stays (the whiteout hides only the
    // lower layers): keep its metadata, with its host mode when it had none recorded.
    layer::EntryMeta& meta = record_[path];
    struct stat st;
    const int pfd = parent.empty() ? root_.get() : parent_fd(parent);
    if (meta.mode == 0 && ::fstatat(pfd, hidden.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0)
      meta.mode = (st.st_mode & S_IFMT) | (S_ISLNK(st.st_mode) ? 0777 : st.st_mode & 0777);
    meta.whiteout = true;
    meta.whiteout_mtime = mtime;
  }

  const UnpackLimits& limits_;
  UnpackResult& result_;
  std::filesystem::path record_path_;
  UniqueFd root_;
  layer::Record record_;
  std::string name_;
  std::string cached_parent_;
  UniqueFd cached_fd_;
  std::vector<std::pair<std::string, struct timespec>> dir_times_;
};

// The tar is hashed here, on the extracting thread: the decompressing thread is the
// pipeline's slowest, and the extractor waits on it.
struct ReaderState {
  ChunkQueue* queue;
  std::string current;
  Sha256 tar_hash;
};

la_ssize_t read_chunk(struct archive*, void* data, const void** buffer) {
  auto* state = static_cast<ReaderState*>(data);
  if (!state->queue->pop(state->current)) return 0;
  state->tar_hash.update(state->current);
  *buffer = state->current.data();
  return static_cast<la_ssize_t>(state->current.size());
}

// Thrown in the producer when the consumer has already failed: not an error of its own.
struct ConsumerStopped {};

// Thread 3 (optional): compress the plain tar into a blob file.
struct Compressor {
  ChunkQueue queue;
  std::thread thread;
  std::exception_ptr error;

  void start(const Recompress& how, UnpackResult& result) {
    thread = std::thread([this, how, &result] {
      try {
        Sha256 hash;
        auto encoder = Encoder::create(how.compression, -1);
        auto sink = [&](std::string_view bytes) {
          if (bytes.empty()) return;
          hash.update(bytes);
          result.recompressed_size += bytes.size();
          sys::write_all(how.fd, bytes, "compressed layer blob");
        };
        std::string chunk;
        while (queue.pop(chunk)) encoder->feed(chunk, sink);
        encoder->finish(sink);
        result.recompressed_digest = hash.oci_digest();
        result.recompressed = true;
      } catch (...) {
        error = std::current_exception();
        queue.fail(error);
      }
    });
  }
  void stop(bool ok) {
    if (!thread.joinable()) return;
    if (ok) queue.close(); else queue.fail(std::make_exception_ptr(Error("unpack stopped")));
    thread.join();
  }
};

// Thread 1: read the blob, hash it, decompress, hand chunks to the queue.
void produce(int fd, ChunkQueue& queue, UnpackResult& result, const Recompress& recompress,
             Compressor& compressor) {
  Sha256 blob_hash;
  std::unique_ptr<Decoder> decoder;
  bool tee = false;
  auto sink = [&](std::string_view plain) {
    if (plain.empty()) return;
    if (tee && !compressor.queue.push(std::string(plain)))
      std::rethrow_exception(compressor.error);
    if (!queue.push(std::string(plain))) throw ConsumerStopped{};
  };
  sys::read_chunks(fd, "layer stream", [&](std::string_view chunk) {
    if (!decoder) {
      result.compression =
          detect_compression(reinterpret_cast<const unsigned char*>(chunk.data()), chunk.size());
      decoder = Decoder::create(result.compression);
      tee = recompress.fd >= 0 && result.compression == Compression::none;
      if (tee) compressor.start(recompress, result);
    }
    blob_hash.update(chunk);
    result.size += chunk.size();
    decoder->feed(chunk, sink);
  });
  if (!decoder) throw Error("layer tar: the stream is empty");
  decoder->finish();
  result.digest = blob_hash.oci_digest();
}

struct ArchiveFree {
  void operator()(archive* a) const { archive_read_free(a); }
};

// Thread 2 (the caller): parse the tar from the queue and extract.
void consume(ChunkQueue& queue, Extractor& extractor, UnpackResult& result) {
  std::unique_ptr<archive, ArchiveFree> a(archive_read_new());
  archive_read_support_format_tar(a.get());
  archive_read_support_filter_none(a.get());
  ReaderState state{&queue, {}, {}};
  if (archive_read_open(a.get(), &state, nullptr, read_chunk, nullptr) != ARCHIVE_OK)
    throw Error(std::string("layer tar: ") + archive_error_string(a.get()));
  archive_entry* e;
  for (;;) {
    const int rc = archive_read_next_header(a.get(), &e);
    if (rc == ARCHIVE_EOF) break;
    if (rc != ARCHIVE_OK && rc != ARCHIVE_WARN)
      throw Error(std::string("layer tar: corrupt archive: ") + archive_error_string(a.get()));
    extractor.entry(a.get(), e);
  }
  // Drain what follows the end-of-archive blocks so the digests cover the whole stream.
  std::string rest;
  while (queue.pop(rest)) state.tar_hash.update(rest);
  result.diff_id = state.tar_hash.oci_digest();
}

}  // namespace

UnpackResult unpack_layer(int fd, const layer::LayerDir& dir, const UnpackLimits& limits,
                          const Recompress& recompress) {
  UnpackResult result;
  ChunkQueue queue;
  Compressor compressor;
  std::exception_ptr producer_error;
  std::thread producer([&] {
    try {
      produce(fd, queue, result, recompress, compressor);
      queue.close();
      compressor.stop(true);
      if (compressor.error) std::rethrow_exception(compressor.error);
    } catch (const ConsumerStopped&) {
      compressor.stop(false);  // the consumer's error is the one to report
    } catch (...) {
      producer_error = std::current_exception();
      compressor.stop(false);
      queue.fail(producer_error);
    }
  });
  try {
    Extractor extractor(dir, limits, result);
    consume(queue, extractor, result);
    producer.join();
    if (producer_error) std::rethrow_exception(producer_error);
    extractor.finish();
  } catch (...) {
    queue.fail(std::current_exception());
    if (producer.joinable()) producer.join();
    // A producer failure (corrupt gzip, I/O) is the cause; report it rather than the
    // consumer's consequence.
    if (producer_error) std::rethrow_exception(producer_error);
    throw;
  }
  return result;
}

}  // namespace cairn::store
