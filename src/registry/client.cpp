// The distribution API calls of one repository: finding how its host is reached, sending
// each request with the authorization it needs, retrying what is worth retrying, and
// turning the registry's answers into errors a user can act on.
#include <arpa/inet.h>
#include <fmt/format.h>
#include <netinet/in.h>

#include <algorithm>
#include <cctype>
#include <nlohmann/json.hpp>
#include <thread>

#include "cairn/base/digest.hpp"
#include "cairn/base/error.hpp"
#include "cairn/base/log.hpp"
#include "client_impl.hpp"

namespace cairn::registry {
using json = nlohmann::json;

std::string api_host(const std::string& domain) {
  return domain == "docker.io" ? "registry-1.docker.io" : domain;
}

bool is_loopback_host(const std::string& host) {
  std::string name = host;
  if (!name.empty() && name[0] == '[') {
    const auto close = name.find(']');
    if (close == std::string::npos) return false;
    in6_addr a6{};
    return inet_pton(AF_INET6, name.substr(1, close - 1).c_str(), &a6) == 1 && IN6_IS_ADDR_LOOPBACK(&a6);
  }
  name = name.substr(0, name.find(':'));
  if (name == "localhost") return true;
  // An address in 127.0.0.0/8, not a DNS name that starts with "127.".
  in_addr a4{};
  return inet_pton(AF_INET, name.c_str(), &a4) == 1 && (ntohl(a4.s_addr) >> 24) == 127;
}

namespace {

// Seconds to wait before attempt `attempt` (1, 2, ...), or what Retry-After asks (capped).
int backoff_seconds(int attempt, const HttpResponse& response) {
  const std::string retry_after = response.header("retry-after");
  if (!retry_after.empty() && std::all_of(retry_after.begin(), retry_after.end(), ::isdigit))
    return std::min(std::atoi(retry_after.c_str()), 60);
  return std::min(1 << (attempt - 1), 8);
}

bool retryable_status(long status) {
  return status == 429 || status == 500 || status == 502 || status == 503 || status == 504;
}

}  // namespace

Client::Impl::Impl(Session& session, Repository repository, Client::Access access, bool mirrors)
    : state(session.state()), repo(std::move(repository)), access(access) {
  if (mirrors)
    for (const auto& m : state.host_settings(repo.domain).mirrors) hosts.push_back(m);
  hosts.push_back(api_host(repo.domain));
}

std::string Client::Impl::scope() const {
  if (repo.path.empty()) return "";  // a registry-wide check (login)
  return "repository:" + repo.path + (access == Client::Access::push ? ":pull,push" : ":pull");
}

std::string Client::Impl::host() const { return hosts[current]; }

// A mirror is asked with its own credentials, never with those of the registry it mirrors.
std::string Client::Impl::credential_domain() const {
  return current + 1 < hosts.size() ? hosts[current] : repo.domain;
}

// The first request to a host: https (verified, with the host's CA file); for an insecure
// or loopback host plain http first — a local registry mostly speaks it, and asking costs
// less than a TLS handshake with the system's CA bundle loaded — then https when http is not
// answered, or answered as a TLS server answers it (400, or a redirect to https). GET /v2/
// also tells whether and how the host wants authentication.
Endpoint Client::Impl::endpoint() {
  const std::string h = host();
  if (auto known = state.endpoint(h)) return *known;
  const RegistryHost settings = state.host_settings(h == api_host(repo.domain) ? repo.domain : h);
  Endpoint e{h, "https", !settings.insecure, settings.ca_file, std::nullopt};
  HttpResponse r;
  if (settings.insecure || is_loopback_host(h)) {
    e.scheme = "http";
    r = ping_once(e);
    if (r.transport_error || r.status == 400 || r.effective_url.rfind("https://", 0) == 0) {
      e.scheme = "https";
      r = ping_once(e);
    }
  } else {
    r = ping_once(e);
  }
  if (r.transport_error) throw transport_error("connect", e, r);
  if (r.status == 401) {
    for (auto& c : parse_challenges(r.header("www-authenticate")))
      if (c.scheme == "bearer" || c.scheme == "basic") {
        e.challenge = std::move(c);
        break;
      }
    if (!e.challenge)
      throw Error(fmt::format("registry {}: answered 401 without a usable WWW-Authenticate challenge ({})",
                              h, r.header("www-authenticate")));
  } else if (r.status != 200) {
    throw Error(fmt::format("registry {}: GET {}/v2/ answered {}; is this a registry?", h, e.base(),
                            describe_error(r)));
  }
  state.remember(e);
  return e;
}

HttpResponse Client::Impl::ping_once(const Endpoint& e) {
  HttpRequest request;
  request.url = e.base() + "/v2/";
  request.verify_tls = e.verify_tls;
  request.ca_file = e.ca_file;
  request.timeout_seconds = state.settings.timeout_seconds;
  HttpResponse r;
  for (int attempt = 0;; ++attempt) {
    r = http.perform(request);
    const bool again = (r.transport_error && is_transient_transport_error(r.transport_error) &&
                        !is_connect_error(r.transport_error)) ||
                       (!r.transport_error && retryable_status(r.status));
    if (!again || attempt >= state.settings.retries) return r;
    std::this_thread::sleep_for(std::chrono::seconds(backoff_seconds(attempt + 1, r)));
  }
}

Error Client::Impl::transport_error(const std::string& what, const Endpoint& e,
                                    const HttpResponse& r) const {
  Error error(fmt::format("registry {}: {} {}: {}", e.host, what, e.base(), r.transport_message));
  if (is_tls_error(r.transport_error)) {
    if (r.transport_message.find("certificate") != std::string::npos)
      error.hint(fmt::format("trust the registry's CA: ca_file = \"/path/ca.pem\" under "
                             "[registry.hosts.\"{}\"] in cairn.toml (or insecure = true to skip "
                             "verification)",
                             e.host));
    else
      error.hint(fmt::format("a registry that speaks plain HTTP must be marked insecure = true "
                             "under [registry.hosts.\"{}\"] in cairn.toml",
                             e.host));
  } else if (is_connect_error(r.transport_error)) {
    error.hint("check the registry's address and that it is running");
  }
  return error;
}

// Sends a request (path relative to the host, or a full URL), authenticated, retried on
// transient failures and rate limits. `extra_scopes` are asked for beside the repository's
// own (a cross-repository mount reads another repository).
HttpResponse Client::Impl::send(HttpRequest request, const std::string& path,
                                const std::string& what, const std::vector<std::string>& extra_scopes,
                                const std::function<void(HttpRequest&)>& prepare) {
  const Endpoint e = endpoint();
  request.url = path.rfind("http", 0) == 0 ? path : e.base() + path;
  request.verify_tls = e.verify_tls;
  request.ca_file = e.ca_file;
  request.timeout_seconds = state.settings.timeout_seconds;
  std::vector<std::string> scopes;
  if (!scope().empty()) scopes.push_back(scope());
  scopes.insert(scopes.end(), extra_scopes.begin(), extra_scopes.end());
  const std::size_t plain_headers = request.headers.size();
  HttpResponse r;
  for (int attempt = 0;; ++attempt) {
    request.headers.resize(plain_headers);
    const std::string auth = authorization(state, http, e, credential_domain(), scopes);
    if (!auth.empty()) request.headers.push_back("Authorization: " + auth);
    if (prepare) prepare(request);
    r = http.perform(request);
    if (r.aborted_by_sink) return r;  // the caller's sink stopped it: the caller says why
    if (r.transport_error) {
      if (!is_transient_transport_error(r.transport_error) ||
          attempt >= state.settings.retries)
        throw transport_error(what, e, r);
    } else if (r.status == 401) {
      throw unauthorized_error(state, credential_domain(), what, r);
    } else if (!retryable_status(r.status) || attempt >= state.settings.retries) {
      return r;
    }
    const int wait = backoff_seconds(attempt + 1, r);
    log(LogLevel::info, "registry {}: {}: {}; retrying in {} s", e.host, what,
        r.transport_error ? r.transport_message : describe_error(r), wait);
    std::this_thread::sleep_for(std::chrono::seconds(wait));
  }
}

// An answer that is not the expected one, as an Error naming the operation.
Error Client::Impl::failure(const std::string& what, const HttpResponse& r) const {
  if (r.status == 429) {
    const std::string after = r.header("retry-after");
    return std::move(Error(fmt::format("{}: registry {} is rate limiting requests ({}){}", what, host(),
                                       describe_error(r),
                                       after.empty() ? "" : "; it asks to retry after " + after + " s"))
                         .hint("wait, or log in (anonymous limits are lower)"));
  }
  if (r.status == 404) return Error(fmt::format("{}: not found in {} ({})", what, repo.str(), describe_error(r)));
  if (r.status == 403)
    return std::move(Error(fmt::format("{}: registry {} denied access: {}", what, host(), describe_error(r)))
                         .hint("check that the account may " + std::string(access == Client::Access::push ? "push to" : "pull from") + " " + repo.str()));
  return Error(fmt::format("{}: registry {} answered {}", what, host(), describe_error(r)));
}

std::string Client::Impl::url(const std::string& kind, const std::string& reference) const {
  return "/v2/" + repo.path + "/" + kind + "/" + reference;
}

std::optional<Manifest> Client::Impl::get_manifest(const std::string& reference, bool missing_ok) {
  const std::string what = "manifest " + repo.str() + (reference.rfind("sha256:", 0) == 0 ? "@" : ":") + reference;
  return on_each_endpoint([&]() -> std::optional<Manifest> {
    HttpRequest request;
    request.headers.push_back(
        "Accept: application/vnd.oci.image.manifest.v1+json, "
        "application/vnd.oci.image.index.v1+json, "
        "application/vnd.docker.distribution.manifest.v2+json, "
        "application/vnd.docker.distribution.manifest.list.v2+json");
    const HttpResponse r = send(request, url("manifests", reference), what);
    if (r.status == 404 && missing_ok && current + 1 >= hosts.size()) return std::nullopt;
    if (!r.ok()) throw failure(what, r);
    Manifest m{r.body, "", "sha256:" + sha256_hex(r.body)};
    const json document = json::parse(r.body, nullptr, false);
    if (document.is_discarded() || !document.is_object())
      throw Error(what + ": the registry's answer is not a JSON document");
    m.media_type = document.value("mediaType", "");
    if (m.media_type.empty()) m.media_type = r.header("content-type").substr(0, r.header("content-type").find(';'));
    if (reference.rfind("sha256:", 0) == 0 && m.digest != reference)
      throw Error(fmt::format("{}: digest mismatch: the registry sent a manifest with digest {}", what, m.digest));
    const std::string claimed = r.header("docker-content-digest");
    if (!claimed.empty() && claimed.rfind("sha256:", 0) == 0 && claimed != m.digest)
      throw Error(fmt::format("{}: digest mismatch: the registry says {} but the manifest's is {}", what, claimed, m.digest));
    return m;
  });
}

}  // namespace cairn::registry
