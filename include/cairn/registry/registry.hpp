// A client for the OCI distribution API (registries: Docker Hub, quay.io, a local
// docker-registry, ...): manifests and blobs in and out, with the registry's authentication
// (anonymous and credentialed bearer tokens, basic), mirrors, insecure (plain HTTP)
// registries, extra CA certificates, retries, and resumed downloads. It knows nothing of the
// store: `build` moves what it fetches into the store and what the store holds out through it.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cairn/config.hpp"
#include "cairn/registry/credentials.hpp"

namespace cairn::registry {

inline constexpr std::string_view kDockerManifestList =
    "application/vnd.docker.distribution.manifest.list.v2+json";

// A repository as references name it: domain "docker.io" (the API lives at
// registry-1.docker.io), path "library/busybox".
struct Repository {
  std::string domain;
  std::string path;
  std::string str() const { return domain + "/" + path; }
};

struct Manifest {
  std::string bytes;
  std::string media_type;  // from the document, else the Content-Type header
  std::string digest;      // sha256 of bytes (checked against a requested digest)
};

// Bytes moved so far for one blob, and its size.
using ProgressFn = std::function<void(std::uint64_t done, std::uint64_t total)>;

// What a command's transfers share: settings, credentials, the tokens granted so far (per
// registry and scope), and which hosts answer plain HTTP. Thread-safe: the parallel
// transfers of one pull or push share one.
class Session {
 public:
  Session(RegistrySettings settings, CredentialStore credentials);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  const RegistrySettings& settings() const;
  const CredentialStore& credentials() const;

  struct State;
  State& state() const { return *state_; }

 private:
  std::unique_ptr<State> state_;
};

// One repository of one registry, reached through one connection (a Client is used by one
// thread at a time; make one per thread for parallel transfers). Every call throws Error
// naming the registry, the object and the cause (unauthorized — and whether credentials
// were found —, not found, TLS certificate problems, rate limits with the retry time).
class Client {
 public:
  enum class Access { pull, push };
  // `mirrors`: try the host's configured mirrors first (pulls only).
  Client(Session& session, Repository repository, Access access, bool mirrors = false);
  ~Client();
  Client(Client&&) noexcept;
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;
  Client& operator=(Client&&) = delete;

  const Repository& repository() const;

  // GET /v2/: checks that the registry answers and that the credentials are accepted
  // (`cairn login`; a Client with an empty repository path asks for a token of no scope).
  void ping();

  // A manifest or index by tag or digest; a digest reference is verified.
  Manifest get_manifest(const std::string& reference);
  // The same, nullopt when the registry has no such tag or repository.
  std::optional<Manifest> find_manifest(const std::string& reference);
  // PUT; returns the digest the registry reports (checked against the bytes).
  std::string put_manifest(const std::string& reference, const std::string& bytes,
                           const std::string& media_type);

  // Downloads a blob into `file` (bytes already in it, from an earlier attempt, are kept and
  // the download resumes after them) and verifies size and digest; on a mismatch the file
  // is removed. A broken connection is resumed with a Range request. `sink`,
  // when given, sees every byte in order as it arrives (to unpack while downloading);
  // a resumed download restarts it only when the registry ignores the range (`restart`).
  struct BlobSink {
    std::function<void(std::string_view)> data;
    std::function<void()> restart;
  };
  void fetch_blob(const std::string& digest, std::uint64_t size,
                  const std::filesystem::path& file, const BlobSink& sink = {},
                  const ProgressFn& progress = {});
  // A small blob (a config) in memory, verified.
  std::string fetch_blob_bytes(const std::string& digest);

  bool has_blob(const std::string& digest);
  // Cross-repository mount from another repository of the same registry; false when the
  // registry did not mount it (the blob must then be uploaded).
  bool mount_blob(const std::string& digest, const std::string& from_path);
  // Uploads `file` (whose digest and size are known) in one PUT, or in PATCH chunks when
  // the settings ask for them.
  void upload_blob(const std::string& digest, const std::filesystem::path& file,
                   const ProgressFn& progress = {});
  void upload_blob_bytes(const std::string& digest, const std::string& bytes);

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

// The domain the API of `domain` lives at ("docker.io" → "registry-1.docker.io").
std::string api_host(const std::string& domain);
// docker's rule: localhost and 127.0.0.0/8 (and ::1) may be reached over plain HTTP.
bool is_loopback_host(const std::string& host);

}  // namespace cairn::registry
