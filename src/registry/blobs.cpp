// Blob transfers: resumed, verified downloads; existence checks; cross-repository mounts;
// monolithic and chunked uploads; manifests out. And the public Client forwarding to Impl.
#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <exception>

#include "cairn/base/digest.hpp"
#include "cairn/base/fd.hpp"
#include "cairn/base/sys.hpp"
#include "client_impl.hpp"

namespace cairn::registry {
namespace fs = std::filesystem;

namespace {

Error digest_mismatch(const std::string& what, const std::string& actual) {
  return std::move(Error(fmt::format("{}: digest mismatch: the registry sent bytes whose digest is "
                                     "{}; the blob was discarded",
                                     what, actual))
                       .hint("the registry's copy (or something between it and you) is corrupt"));
}

// What a download has written so far, and its running digest.
struct Download {
  int fd;
  std::uint64_t size;
  const Client::BlobSink& sink;
  const ProgressFn& progress;
  std::uint64_t offset = 0;
  Sha256 sum;
  bool first_chunk = true;
  std::exception_ptr failure;  // from the sink: curl's callbacks must not throw

  // Feeds a partial file left by an earlier attempt (or process) back through the digest
  // and the sink, so that both see the blob from its first byte.
  void replay_existing() {
    struct stat st {};
    if (::fstat(fd, &st) != 0) throw_errno("stat", "partial blob", errno);
    if (static_cast<std::uint64_t>(st.st_size) > size) {
      restart();
      return;
    }
    std::uint64_t left = static_cast<std::uint64_t>(st.st_size);
    std::string buffer(1 << 20, '\0');
    while (left > 0) {
      const ssize_t n = ::pread(fd, buffer.data(), std::min<std::uint64_t>(buffer.size(), left),
                                static_cast<off_t>(offset));
      if (n <= 0) throw_errno("read", "partial blob", n < 0 ? errno : EIO);
      advance(std::string_view(buffer.data(), static_cast<std::size_t>(n)));
      left -= static_cast<std::uint64_t>(n);
    }
  }

  // Bytes now in the file at `offset`: through the digest and to the sink.
  void advance(std::string_view chunk) {
    sum.update(chunk);
    if (sink.data) sink.data(chunk);
    offset += chunk.size();
  }

  void restart() {
    if (::ftruncate(fd, 0) != 0) throw_errno("truncate", "partial blob", errno);
    offset = 0;
    sum = Sha256();
    if (sink.restart) sink.restart();
  }

  bool take(long status, std::string_view chunk) {
    try {
      // A registry that ignores the Range header sends the whole blob again.
      if (first_chunk && offset > 0 && status == 200) restart();
      first_chunk = false;
      if (offset + chunk.size() > size) return false;
      if (::pwrite(fd, chunk.data(), chunk.size(), static_cast<off_t>(offset)) !=
          static_cast<ssize_t>(chunk.size()))
        throw_errno("write", "blob", errno ? errno : ENOSPC);
      advance(chunk);
      if (progress) progress(offset, size);
      return true;
    } catch (...) {
      failure = std::current_exception();
      return false;
    }
  }
};

}  // namespace

void Client::Impl::fetch_blob(const std::string& digest, std::uint64_t size, const fs::path& file,
                              const Client::BlobSink& sink, const ProgressFn& progress) {
  const std::string what = "blob " + digest;
  UniqueFd fd = sys::open(file.string(), O_RDWR | O_CREAT, 0644);
  Download d{fd.get(), size, sink, progress};
  d.replay_existing();
  on_each_endpoint([&] {
    HttpRequest request;
    request.sink = [&d](long status, std::string_view chunk) { return d.take(status, chunk); };
    auto prepare = [&d](HttpRequest& r) {
      d.first_chunk = true;
      if (d.offset > 0) r.headers.push_back(fmt::format("Range: bytes={}-", d.offset));
    };
    if (d.offset == size && size > 0) return;
    const HttpResponse r = send(request, url("blobs", digest), what, {}, prepare);
    if (d.failure) std::rethrow_exception(d.failure);
    if (r.aborted_by_sink)
      throw Error(fmt::format("{}: the registry sent more than the {} bytes the manifest gives", what, size));
    if (r.status == 416 && d.offset == size) return;  // complete already
    if (!r.ok()) throw failure(what, r);
  });
  if (d.offset != size)
    throw Error(fmt::format("{}: the registry sent {} of its {} bytes", what, d.offset, size));
  const std::string actual = d.sum.oci_digest();
  if (actual != digest) {
    fd.reset();
    std::error_code ec;
    fs::remove(file, ec);
    throw digest_mismatch(what, actual);
  }
}

std::string Client::Impl::absolute(const std::string& location) {
  if (location.empty()) throw Error("registry " + host() + ": an upload answer has no Location header");
  if (location.rfind("http://", 0) == 0 || location.rfind("https://", 0) == 0) return location;
  return endpoint().base() + (location[0] == '/' ? "" : "/") + location;
}

std::string Client::Impl::start_upload(const std::string& what, const std::string& query,
                                       const std::vector<std::string>& extra_scopes, long* status) {
  HttpRequest request;
  request.method = "POST";
  const HttpResponse r =
      send(request, "/v2/" + repo.path + "/blobs/uploads/" + (query.empty() ? "" : "?" + query), what,
           extra_scopes);
  if (status) *status = r.status;
  if (r.status == 201 && status) return "";
  if (r.status != 202) throw failure(what, r);
  return absolute(r.header("location"));
}

namespace {
std::string with_query(const std::string& url, const std::string& query) {
  return url + (url.find('?') == std::string::npos ? "?" : "&") + query;
}
}  // namespace

void Client::Impl::upload(const std::string& digest, int fd, std::uint64_t size,
                          const std::string& bytes, const ProgressFn& progress) {
  const std::string what = "upload blob " + digest + " to " + repo.str();
  std::string location = start_upload(what);
  const std::uint64_t chunk = state.settings.chunk_size;
  auto body = [&](HttpRequest& request, std::uint64_t offset, std::uint64_t length) {
    if (fd >= 0) {
      request.body_fd = fd;
      request.body_offset = offset;
      request.body_size = length;
    } else {
      request.body = bytes.substr(offset, length);
    }
    if (progress) request.upload_progress = [&progress, offset, size](std::uint64_t sent) { progress(offset + sent, size); };
  };
  std::uint64_t offset = 0;
  if (chunk > 0 && size > chunk) {
    for (; offset < size; offset += chunk) {
      const std::uint64_t length = std::min(chunk, size - offset);
      HttpRequest patch;
      patch.method = "PATCH";
      patch.headers = {"Content-Type: application/octet-stream",
                       fmt::format("Content-Range: {}-{}", offset, offset + length - 1)};
      body(patch, offset, length);
      const HttpResponse r = send(patch, location, what);
      if (r.status != 202) throw failure(what, r);
      location = absolute(r.header("location"));
    }
  }
  HttpRequest put;
  put.method = "PUT";
  put.headers = {"Content-Type: application/octet-stream"};
  if (offset < size) body(put, offset, size - offset);
  const HttpResponse r = send(put, with_query(location, "digest=" + url_encode(digest)), what);
  if (r.status != 201) throw failure(what, r);
}

Client::Client(Session& session, Repository repository, Access access, bool mirrors)
    : impl_(std::make_unique<Impl>(session, std::move(repository), access, mirrors)) {}
Client::~Client() = default;
Client::Client(Client&&) noexcept = default;

const Repository& Client::repository() const { return impl_->repo; }

void Client::ping() {
  const std::string what = "check credentials";
  HttpRequest request;
  const HttpResponse r = impl_->send(request, "/v2/", what);
  if (!r.ok()) throw impl_->failure(what, r);
}

Manifest Client::get_manifest(const std::string& reference) {
  return *impl_->get_manifest(reference, false);
}

std::optional<Manifest> Client::find_manifest(const std::string& reference) {
  return impl_->get_manifest(reference, true);
}

std::string Client::put_manifest(const std::string& reference, const std::string& bytes,
                                 const std::string& media_type) {
  const std::string what = "push manifest " + impl_->repo.str() + ":" + reference;
  HttpRequest request;
  request.method = "PUT";
  request.headers = {"Content-Type: " + media_type};
  request.body = bytes;
  const HttpResponse r = impl_->send(request, impl_->url("manifests", reference), what);
  if (r.status != 201 && r.status != 200) throw impl_->failure(what, r);
  const std::string digest = "sha256:" + sha256_hex(bytes);
  const std::string claimed = r.header("docker-content-digest");
  if (!claimed.empty() && claimed != digest)
    throw Error(fmt::format("{}: the registry stored it as {} but its digest is {}", what, claimed, digest));
  return digest;
}

void Client::fetch_blob(const std::string& digest, std::uint64_t size, const fs::path& file,
                        const BlobSink& sink, const ProgressFn& progress) {
  impl_->fetch_blob(digest, size, file, sink, progress);
}

std::string Client::fetch_blob_bytes(const std::string& digest) {
  const std::string what = "blob " + digest;
  return impl_->on_each_endpoint([&] {
    HttpRequest request;
    const HttpResponse r = impl_->send(request, impl_->url("blobs", digest), what);
    if (!r.ok()) throw impl_->failure(what, r);
    const std::string actual = "sha256:" + sha256_hex(r.body);
    if (actual != digest) throw digest_mismatch(what, actual);
    return r.body;
  });
}

bool Client::has_blob(const std::string& digest) {
  const std::string what = "check blob " + digest + " in " + impl_->repo.str();
  HttpRequest request;
  request.method = "HEAD";
  const HttpResponse r = impl_->send(request, impl_->url("blobs", digest), what);
  if (r.status == 404) return false;
  if (!r.ok()) throw impl_->failure(what, r);
  return true;
}

bool Client::mount_blob(const std::string& digest, const std::string& from_path) {
  const std::string what = "mount blob " + digest + " from " + from_path;
  long status = 0;
  impl_->start_upload(what, "mount=" + url_encode(digest) + "&from=" + url_encode(from_path),
                      {"repository:" + from_path + ":pull"}, &status);
  return status == 201;
}

void Client::upload_blob(const std::string& digest, const fs::path& file, const ProgressFn& progress) {
  UniqueFd fd = sys::open(file.string(), O_RDONLY);
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) throw_errno("stat", file.string(), errno);
  impl_->upload(digest, fd.get(), static_cast<std::uint64_t>(st.st_size), "", progress);
}

void Client::upload_blob_bytes(const std::string& digest, const std::string& bytes) {
  impl_->upload(digest, -1, bytes.size(), bytes, {});
}

}  // namespace cairn::registry
