#include "http.hpp"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstring>

#include "cairn/base/error.hpp"
#include "cairn/registry/curl_api.hpp"

namespace cairn::registry {
namespace {

std::string lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

std::string trim(std::string_view text) {
  const auto begin = text.find_first_not_of(" \t\r\n");
  if (begin == std::string_view::npos) return "";
  const auto end = text.find_last_not_of(" \t\r\n");
  return std::string(text.substr(begin, end - begin + 1));
}

// What the callbacks of one transfer share.
struct Transfer {
  const HttpRequest& request;
  HttpResponse& response;
  long status = 0;  // of the answer being received (redirects have their own)
  std::uint64_t sent = 0;
};

constexpr std::size_t kKeptErrorBody = 64 * 1024;

size_t on_header(char* data, size_t size, size_t count, void* user) {
  auto* t = static_cast<Transfer*>(user);
  const std::string_view line(data, size * count);
  if (line.rfind("HTTP/", 0) == 0) {
    // A new answer (after a redirect or a 100 Continue): forget the previous headers.
    t->response.headers.clear();
    const auto space = line.find(' ');
    t->status = space == std::string_view::npos ? 0 : std::atol(std::string(line.substr(space + 1, 3)).c_str());
    return line.size();
  }
  const auto colon = line.find(':');
  if (colon != std::string_view::npos)
    t->response.headers[lower(trim(line.substr(0, colon)))] = trim(line.substr(colon + 1));
  return line.size();
}

size_t on_body(char* data, size_t size, size_t count, void* user) {
  auto* t = static_cast<Transfer*>(user);
  const std::string_view chunk(data, size * count);
  const bool success = t->status >= 200 && t->status < 300;
  if (success && t->request.sink) {
    if (!t->request.sink(t->status, chunk)) {
      t->response.aborted_by_sink = true;
      return 0;
    }
  } else if (t->response.body.size() < kKeptErrorBody || success) {
    t->response.body.append(chunk);
  }
  t->response.received += chunk.size();
  return chunk.size();
}

size_t on_read(char* buffer, size_t size, size_t count, void* user) {
  auto* t = static_cast<Transfer*>(user);
  const HttpRequest& r = t->request;
  const std::uint64_t total = r.body_fd >= 0 ? r.body_size : r.body.size();
  const std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(size * count, total - t->sent));
  if (want == 0) return 0;
  std::size_t got = 0;
  if (r.body_fd >= 0) {
    const ssize_t n = ::pread(r.body_fd, buffer, want, static_cast<off_t>(r.body_offset + t->sent));
    if (n <= 0) return CURL_READFUNC_ABORT;
    got = static_cast<std::size_t>(n);
  } else {
    std::memcpy(buffer, r.body.data() + t->sent, want);
    got = want;
  }
  t->sent += got;
  if (r.upload_progress) r.upload_progress(t->sent);
  return got;
}

int seek_body(void* user, curl_off_t offset, int origin) {
  auto* t = static_cast<Transfer*>(user);
  if (origin != SEEK_SET) return CURL_SEEKFUNC_CANTSEEK;
  t->sent = static_cast<std::uint64_t>(offset);
  return CURL_SEEKFUNC_OK;
}

// Adds the certificates of a PEM file to the connection's trust store, beside the system's.
CURLcode add_ca_file(CURL*, void* ssl_ctx, void* user) {
  const auto* path = static_cast<const std::filesystem::path*>(user);
  BIO* bio = BIO_new_file(path->c_str(), "r");
  if (!bio) return CURLE_SSL_CACERT_BADFILE;
  X509_STORE* store = SSL_CTX_get_cert_store(static_cast<SSL_CTX*>(ssl_ctx));
  int added = 0;
  while (X509* cert = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr)) {
    if (X509_STORE_add_cert(store, cert) == 1) ++added;
    X509_free(cert);
  }
  BIO_free(bio);
  ERR_clear_error();  // the loop ends on a "no start line" error
  return added > 0 ? CURLE_OK : CURLE_SSL_CACERT_BADFILE;
}

void set_method(CURL* curl, const HttpRequest& r, curl_slist*& headers) {
  const bool has_body = r.body_fd >= 0 || !r.body.empty();
  if (r.method == "HEAD") {
    curl::api().easy_setopt(curl, CURLOPT_NOBODY, 1L);
  } else if (has_body) {
    curl::api().easy_setopt(curl, CURLOPT_UPLOAD, 1L);
    curl::api().easy_setopt(curl, CURLOPT_INFILESIZE_LARGE,
                     static_cast<curl_off_t>(r.body_fd >= 0 ? r.body_size : r.body.size()));
    // No "Expect: 100-continue" round trip before each upload.
    headers = curl::api().slist_append(headers, "Expect:");
    if (r.method != "PUT") curl::api().easy_setopt(curl, CURLOPT_CUSTOMREQUEST, r.method.c_str());
  } else if (r.method == "POST") {
    curl::api().easy_setopt(curl, CURLOPT_POST, 1L);
    curl::api().easy_setopt(curl, CURLOPT_POSTFIELDSIZE, 0L);
  } else if (r.method == "PUT") {
    curl::api().easy_setopt(curl, CURLOPT_UPLOAD, 1L);
    curl::api().easy_setopt(curl, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(0));
  } else if (r.method != "GET") {
    curl::api().easy_setopt(curl, CURLOPT_CUSTOMREQUEST, r.method.c_str());
  }
  // Only reads follow redirects (blob downloads are often redirected to a storage host).
  const bool read = r.method == "GET" || r.method == "HEAD";
  curl::api().easy_setopt(curl, CURLOPT_FOLLOWLOCATION, read ? 1L : 0L);
  curl::api().easy_setopt(curl, CURLOPT_MAXREDIRS, 10L);
}

}  // namespace

struct Http::Handle {
  std::unique_ptr<CURL, void (*)(CURL*)> curl{nullptr, curl::api().easy_cleanup};
};

Http::Http() : handle_(std::make_unique<Handle>()) {
  handle_->curl.reset(curl::api().easy_init());
  if (!handle_->curl) throw Error("registry: libcurl could not make a handle");
}
Http::~Http() = default;
Http::Http(Http&&) noexcept = default;

HttpResponse Http::perform(const HttpRequest& request) {
  CURL* curl = handle_->curl.get();
  // Resets the options only: the connection (and TLS session) stays for the next request.
  curl::api().easy_reset(curl);
  HttpResponse response;
  Transfer transfer{request, response};
  char message[CURL_ERROR_SIZE] = "";
  curl_slist* headers = nullptr;
  for (const auto& h : request.headers) headers = curl::api().slist_append(headers, h.c_str());
  set_method(curl, request, headers);
  curl::api().easy_setopt(curl, CURLOPT_URL, request.url.c_str());
  curl::api().easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl::api().easy_setopt(curl, CURLOPT_ERRORBUFFER, message);
  curl::api().easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
  curl::api().easy_setopt(curl, CURLOPT_HEADERDATA, &transfer);
  curl::api().easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
  curl::api().easy_setopt(curl, CURLOPT_WRITEDATA, &transfer);
  curl::api().easy_setopt(curl, CURLOPT_READFUNCTION, on_read);
  curl::api().easy_setopt(curl, CURLOPT_READDATA, &transfer);
  curl::api().easy_setopt(curl, CURLOPT_SEEKFUNCTION, seek_body);
  curl::api().easy_setopt(curl, CURLOPT_SEEKDATA, &transfer);
  curl::api().easy_setopt(curl, CURLOPT_USERAGENT, "cairn/" CAIRN_VERSION);
  curl::api().easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl::api().easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, request.timeout_seconds);
  // A stalled transfer (under 1 byte/s for the timeout) fails; a slow one does not.
  curl::api().easy_setopt(curl, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl::api().easy_setopt(curl, CURLOPT_LOW_SPEED_TIME, request.timeout_seconds);
  curl::api().easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
  curl::api().easy_setopt(curl, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  curl::api().easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, request.verify_tls ? 1L : 0L);
  curl::api().easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, request.verify_tls ? 2L : 0L);
  if (!request.ca_file.empty()) {
    curl::api().easy_setopt(curl, CURLOPT_SSL_CTX_FUNCTION, add_ca_file);
    curl::api().easy_setopt(curl, CURLOPT_SSL_CTX_DATA, &request.ca_file);
  }
  const CURLcode code = curl::api().easy_perform(curl);
  curl::api().slist_free_all(headers);
  response.status = transfer.status;
  char* effective = nullptr;
  curl::api().easy_getinfo(curl, CURLINFO_EFFECTIVE_URL, &effective);
  if (effective) response.effective_url = effective;
  if (code != CURLE_OK) {
    response.transport_error = static_cast<int>(code);
    response.transport_message = *message ? message : curl::api().easy_strerror(code);
  }
  return response;
}

std::string HttpResponse::header(const std::string& lower_name) const {
  const auto it = headers.find(lower_name);
  return it == headers.end() ? "" : it->second;
}

bool is_transient_transport_error(int code) {
  switch (static_cast<CURLcode>(code)) {
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_PARTIAL_FILE:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_COULDNT_RESOLVE_HOST:
      return true;
    default:
      return false;
  }
}

bool is_tls_error(int code) {
  switch (static_cast<CURLcode>(code)) {
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_ISSUER_ERROR:
      return true;
    default:
      return false;
  }
}

bool is_connect_error(int code) {
  return code == CURLE_COULDNT_CONNECT || code == CURLE_COULDNT_RESOLVE_HOST;
}

std::vector<Challenge> parse_challenges(std::string_view header) {
  std::vector<Challenge> out;
  std::size_t i = 0;
  auto skip_space = [&] {
    while (i < header.size() && (header[i] == ' ' || header[i] == '\t' || header[i] == ',')) ++i;
  };
  while (true) {
    skip_space();
    if (i >= header.size()) break;
    const std::size_t scheme_end = header.find_first_of(" \t", i);
    Challenge c;
    c.scheme = lower(header.substr(i, scheme_end == std::string_view::npos ? std::string_view::npos : scheme_end - i));
    i = scheme_end == std::string_view::npos ? header.size() : scheme_end;
    // name=value pairs until a token that is not followed by '=' (the next scheme).
    while (true) {
      skip_space();
      const std::size_t eq = header.find('=', i);
      const std::size_t next_space = header.find_first_of(" \t,", i);
      if (i >= header.size() || eq == std::string_view::npos ||
          (next_space != std::string_view::npos && next_space < eq))
        break;
      const std::string name = lower(trim(header.substr(i, eq - i)));
      i = eq + 1;
      std::string value;
      if (i < header.size() && header[i] == '"') {
        for (++i; i < header.size() && header[i] != '"'; ++i) {
          if (header[i] == '\\' && i + 1 < header.size()) ++i;
          value += header[i];
        }
        ++i;
      } else {
        const std::size_t end = header.find_first_of(", \t", i);
        value = std::string(header.substr(i, end == std::string_view::npos ? std::string_view::npos : end - i));
        i = end == std::string_view::npos ? header.size() : end;
      }
      c.params[name] = value;
    }
    out.push_back(std::move(c));
  }
  return out;
}

std::string url_encode(std::string_view value) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : value) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

}  // namespace cairn::registry
