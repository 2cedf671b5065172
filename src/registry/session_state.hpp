// What the transfers of one command share (private to src/registry): the tokens granted,
// how each host is reached, and the challenge each host answered with.
#pragma once

#include <chrono>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>

#include "cairn/registry/registry.hpp"
#include "http.hpp"

namespace cairn::registry {

// How one registry host is reached, found by the first request to it.
struct Endpoint {
  std::string host;    // "registry-1.docker.io", "127.0.0.1:5000"
  std::string scheme;  // "https" or "http"
  bool verify_tls = true;
  std::filesystem::path ca_file;
  std::optional<Challenge> challenge;  // what GET /v2/ answered (none: no auth needed)
  std::string base() const { return scheme + "://" + host; }
};

struct Session::State {
  RegistrySettings settings;
  CredentialStore credentials;

  std::mutex mutex;
  std::map<std::string, Endpoint> endpoints;  // by host
  struct Token {
    std::string value;
    std::chrono::steady_clock::time_point expires;
  };
  std::map<std::string, Token> tokens;  // by host + scope + user
  std::set<std::string> failed_mirrors;
  std::map<std::string, std::optional<Credential>> credentials_found;

  bool failed_mirror(const std::string& host) {
    std::lock_guard lock(mutex);
    return failed_mirrors.count(host) != 0;
  }
  void mirror_failed(const std::string& host) {
    std::lock_guard lock(mutex);
    failed_mirrors.insert(host);
  }

  std::optional<Endpoint> endpoint(const std::string& host) {
    std::lock_guard lock(mutex);
    auto it = endpoints.find(host);
    return it == endpoints.end() ? std::nullopt : std::optional(it->second);
  }
  void remember(const Endpoint& e) {
    std::lock_guard lock(mutex);
    endpoints[e.host] = e;
  }
  std::optional<std::string> token(const std::string& key) {
    std::lock_guard lock(mutex);
    auto it = tokens.find(key);
    if (it == tokens.end() || it->second.expires <= std::chrono::steady_clock::now())
      return std::nullopt;
    return it->second.value;
  }
  void keep_token(const std::string& key, const std::string& value, int seconds) {
    std::lock_guard lock(mutex);
    // A little early, so that a token does not expire between the check and its use.
    tokens[key] = {value, std::chrono::steady_clock::now() + std::chrono::seconds(std::max(seconds - 10, 1))};
  }
  // The credential of a domain, looked up once per command: the files (and a credential
  // helper, a process) are not read again for every request.
  std::optional<Credential> credential(const std::string& domain) {
    std::lock_guard lock(mutex);
    auto it = credentials_found.find(domain);
    if (it == credentials_found.end()) it = credentials_found.emplace(domain, credentials.find(domain)).first;
    return it->second;
  }
  // The settings of a host (mirrors, insecure, CA), default ones when it has none.
  RegistryHost host_settings(const std::string& host) const {
    auto it = settings.hosts.find(host);
    return it == settings.hosts.end() ? RegistryHost{} : it->second;
  }
};

// The Authorization header value for a request to `endpoint` needing `scopes`
// ("repository:library/busybox:pull"), following the endpoint's challenge: a bearer token
// (anonymous, or for the credentials of `domain`), or basic credentials. Empty when the
// endpoint asks for none. Throws Error when the registry or its token server refuses.
std::string authorization(Session::State& state, Http& http, const Endpoint& endpoint,
                          const std::string& domain, const std::vector<std::string>& scopes);

// The message for a 401 answer after authenticating: whether credentials were found (where),
// and the hint to log in.
Error unauthorized_error(Session::State& state, const std::string& domain, const std::string& what,
                         const HttpResponse& response);

// The registry's error document ({"errors":[{"code","message"}]}) as one line, or the
// status line when it has none.
std::string describe_error(const HttpResponse& response);

}  // namespace cairn::registry
