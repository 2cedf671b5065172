#include "download.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <memory>

#include "cairn/base/digest.hpp"
#include "cairn/base/error.hpp"
#include "cairn/base/sys.hpp"
#include "cairn/registry/curl_api.hpp"

namespace cairn::build {
namespace fs = std::filesystem;

bool is_url(const std::string& source) {
  return source.rfind("http://", 0) == 0 || source.rfind("https://", 0) == 0;
}

bool is_git_source(const std::string& source) {
  const std::string path = source.substr(0, source.find_first_of("?#"));
  return source.rfind("git@", 0) == 0 || source.rfind("git://", 0) == 0 ||
         source.rfind("ssh://", 0) == 0 ||
         (is_url(source) && path.size() > 4 && path.compare(path.size() - 4, 4, ".git") == 0);
}

std::string url_file_name(const std::string& url) {
  std::string path = url.substr(url.find("://") + 3);
  path = path.substr(0, path.find_first_of("?#"));
  const auto slash = path.find('/');
  const std::string name = slash == std::string::npos ? "" : path.substr(path.rfind('/') + 1);
  if (name.empty() || name == "." || name == "..")
    throw Error("ADD " + url + ": cannot determine a file name from the URL")
        .hint("give the URL of the file itself (ending in its name)");
  return name;
}

namespace {

struct Sink {
  int fd;
  Sha256 sum;
  int error = 0;
};

size_t write_body(char* data, size_t size, size_t count, void* user) {
  auto* sink = static_cast<Sink*>(user);
  const std::string_view chunk(data, size * count);
  try {
    sys::write_all(sink->fd, chunk, "download");
  } catch (const Error&) {
    sink->error = errno ? errno : EIO;
    return 0;
  }
  sink->sum.update(chunk);
  return chunk.size();
}

}  // namespace

fs::path download(const std::string& url, const fs::path& dir,
                  const std::optional<std::string>& checksum) {
  if (checksum && !is_sha256_digest(*checksum))
    throw Error("ADD --checksum=" + *checksum + ": give sha256:<64 hex digits>");
  const fs::path file = dir / url_file_name(url);
  const UniqueFd out = sys::open(file.string(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  Sink sink{out.get(), {}};
  std::unique_ptr<CURL, void (*)(CURL*)> curl(curl::api().easy_init(), curl::api().easy_cleanup);
  if (!curl) throw Error("ADD " + url + ": libcurl could not make a handle");
  char message[CURL_ERROR_SIZE] = "";
  curl::api().easy_setopt(curl.get(), CURLOPT_URL, url.c_str());
  curl::api().easy_setopt(curl.get(), CURLOPT_FOLLOWLOCATION, 1L);
  curl::api().easy_setopt(curl.get(), CURLOPT_MAXREDIRS, 10L);
  curl::api().easy_setopt(curl.get(), CURLOPT_FAILONERROR, 1L);
  curl::api().easy_setopt(curl.get(), CURLOPT_FILETIME, 1L);
  curl::api().easy_setopt(curl.get(), CURLOPT_CONNECTTIMEOUT, 30L);
  curl::api().easy_setopt(curl.get(), CURLOPT_LOW_SPEED_LIMIT, 1L);  // abort a stalled transfer
  curl::api().easy_setopt(curl.get(), CURLOPT_LOW_SPEED_TIME, 60L);
  curl::api().easy_setopt(curl.get(), CURLOPT_USERAGENT, "cairn/" CAIRN_VERSION);
  curl::api().easy_setopt(curl.get(), CURLOPT_ERRORBUFFER, message);
  curl::api().easy_setopt(curl.get(), CURLOPT_WRITEFUNCTION, write_body);
  curl::api().easy_setopt(curl.get(), CURLOPT_WRITEDATA, &sink);
  curl::api().easy_setopt(curl.get(), CURLOPT_NOSIGNAL, 1L);
  const CURLcode code = curl::api().easy_perform(curl.get());
  if (sink.error) throw_errno("write the download of " + url + " to", file.string(), sink.error);
  if (code != CURLE_OK)
    throw Error("ADD " + url + ": " + (message[0] ? message : curl::api().easy_strerror(code)));
  const std::string got = sink.sum.oci_digest();
  if (checksum && got != *checksum)
    throw Error("ADD " + url + ": checksum mismatch: --checksum says " + *checksum +
                ", the "
                "download is " +
                got);
  long filetime = -1;
  if (curl::api().easy_getinfo(curl.get(), CURLINFO_FILETIME, &filetime) == CURLE_OK && filetime >= 0) {
    const struct timespec times[2] = {{filetime, 0}, {filetime, 0}};
    ::futimens(out.get(), times);
  }
  return file;
}

}  // namespace cairn::build
