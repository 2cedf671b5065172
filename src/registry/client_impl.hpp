// Client's innards (private to src/registry), shared by client.cpp (requests, manifests)
// and blobs.cpp (blob transfers).
#pragma once

#include <string>
#include <vector>

#include "cairn/base/error.hpp"
#include "cairn/base/log.hpp"
#include "cairn/registry/registry.hpp"
#include "http.hpp"
#include "session_state.hpp"

namespace cairn::registry {

struct Client::Impl {
  Impl(Session& session, Repository repository, Client::Access access, bool mirrors);

  Session::State& state;
  Repository repo;
  Client::Access access;
  std::vector<std::string> hosts;  // mirrors first, then the registry's API host
  std::size_t current = 0;         // the host in use
  Http http;

  std::string scope() const;
  std::string host() const;
  std::string credential_domain() const;
  Endpoint endpoint();
  HttpResponse ping_once(const Endpoint& e);
  // `prepare` adjusts the request before each attempt (a resumed download's Range).
  HttpResponse send(HttpRequest request, const std::string& path, const std::string& what,
                    const std::vector<std::string>& extra_scopes = {},
                    const std::function<void(HttpRequest&)>& prepare = {});
  Error transport_error(const std::string& what, const Endpoint& e, const HttpResponse& r) const;
  Error failure(const std::string& what, const HttpResponse& r) const;
  std::string url(const std::string& kind, const std::string& reference) const;
  // Runs `operation` against each host in turn (mirrors first) until one succeeds.
  // A mirror that failed once is not asked again by this command.
  template <typename Operation>
  auto on_each_endpoint(Operation&& operation) {
    for (current = 0;; ++current) {
      const bool last = current + 1 >= hosts.size();
      if (!last && state.failed_mirror(hosts[current])) continue;
      try {
        return operation();
      } catch (Error& e) {
        if (last) throw;
        state.mirror_failed(hosts[current]);
        log(LogLevel::warn, "mirror {}: {}; trying {}", hosts[current], e.what(), hosts[current + 1]);
      }
    }
  }

  // nullopt for a 404 from the registry itself when `missing_ok` (a mirror's 404 moves on).
  std::optional<Manifest> get_manifest(const std::string& reference, bool missing_ok);
  void fetch_blob(const std::string& digest, std::uint64_t size, const std::filesystem::path& file,
                  const Client::BlobSink& sink, const ProgressFn& progress);
  std::string start_upload(const std::string& what, const std::string& query = "",
                           const std::vector<std::string>& extra_scopes = {},
                           long* status = nullptr);
  void upload(const std::string& digest, int fd, std::uint64_t size, const std::string& bytes,
              const ProgressFn& progress);
  // An upload URL from a Location header: absolute, or relative to the host.
  std::string absolute(const std::string& location);
};

}  // namespace cairn::registry
