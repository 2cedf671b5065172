// One HTTP connection through libcurl (private to src/registry): a request in, status,
// headers and body out. Retries and authentication live a level up (client.cpp).
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace cairn::registry {

struct HttpRequest {
  std::string method = "GET";
  std::string url;
  std::vector<std::string> headers;  // "Name: value"
  // The body to send: `body`, or `body_size` bytes of `body_fd` from `body_offset`.
  std::string body;
  int body_fd = -1;
  std::uint64_t body_offset = 0;
  std::uint64_t body_size = 0;
  // Receives the response body of a 2xx answer as it arrives, with the answer's status
  // (other answers' bodies are kept in HttpResponse::body for their error message); returns
  // false to abort the transfer.
  std::function<bool(long status, std::string_view)> sink;
  std::function<void(std::uint64_t sent)> upload_progress;
  bool verify_tls = true;
  std::filesystem::path ca_file;  // extra CA certificates (PEM), added to the system's
  long timeout_seconds = 30;      // connect, and no byte moving for this long
};

struct HttpResponse {
  long status = 0;
  std::map<std::string, std::string> headers;  // names lower-cased; a repeated one: the last
  std::string body;
  std::string effective_url;
  std::uint64_t received = 0;  // body bytes handed to the sink (or kept)

  // Set when the transfer itself failed (no complete answer): curl's code and message.
  int transport_error = 0;
  std::string transport_message;
  bool aborted_by_sink = false;

  bool ok() const { return transport_error == 0 && status >= 200 && status < 300; }
  std::string header(const std::string& lower_name) const;
};

class Http {
 public:
  Http();
  ~Http();
  Http(Http&&) noexcept;
  Http(const Http&) = delete;
  Http& operator=(const Http&) = delete;
  Http& operator=(Http&&) = delete;

  // Never throws for HTTP or transport failures: the caller decides (retry, resume, error).
  HttpResponse perform(const HttpRequest& request);

 private:
  struct Handle;
  std::unique_ptr<Handle> handle_;  // one curl easy handle: connections stay open
};

// Transport errors worth another attempt (connection refused/reset, timeouts, partial
// transfers), as opposed to TLS verification or bad URLs.
bool is_transient_transport_error(int curl_code);
bool is_tls_error(int curl_code);
bool is_connect_error(int curl_code);

// "Bearer realm=\"https://auth.docker.io/token\",service=\"registry.docker.io\"" parsed into
// its scheme ("bearer", lower-cased) and parameters (names lower-cased).
struct Challenge {
  std::string scheme;
  std::map<std::string, std::string> params;
};
std::vector<Challenge> parse_challenges(std::string_view header);

// Percent-encodes a query value.
std::string url_encode(std::string_view value);

}  // namespace cairn::registry
