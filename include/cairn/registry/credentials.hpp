// Registry credentials where docker and podman keep them: $REGISTRY_AUTH_FILE,
// $XDG_RUNTIME_DIR/containers/auth.json, ~/.config/containers/auth.json and
// ~/.docker/config.json (or $DOCKER_CONFIG/config.json) with its `auths`, `credsStore` and
// `credHelpers` (the docker-credential-* helper protocol). `cairn login` writes the
// containers auth.json format, mode 0600.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace cairn::registry {

struct Credential {
  std::string username;
  std::string secret;           // a password, or an identity token
  bool identity_token = false;  // secret is an OAuth2 refresh token (docker's identitytoken)
  std::string source;           // the file or helper it came from, for messages
};

// Where the files are, from the environment (passed in so tests need not change it).
struct CredentialPaths {
  std::optional<std::filesystem::path> auth_file;        // $REGISTRY_AUTH_FILE
  std::optional<std::filesystem::path> xdg_runtime_dir;  // $XDG_RUNTIME_DIR
  std::optional<std::filesystem::path> home;             // $HOME
  std::optional<std::filesystem::path> docker_config;    // $DOCKER_CONFIG (a directory)
  static CredentialPaths from_process();

  // The files read, in the order they are searched.
  std::vector<std::filesystem::path> search_order() const;
  // The file `cairn login` writes.
  std::filesystem::path login_file() const;
};

class CredentialStore {
 public:
  CredentialStore() = default;
  explicit CredentialStore(CredentialPaths paths) : paths_(std::move(paths)) {}

  // The first credential found for a registry domain ("docker.io", "localhost:5000"); keys
  // written as URLs ("https://index.docker.io/v1/") match their host.
  std::optional<Credential> find(const std::string& domain) const;
  // Writes (replacing) the credential of `domain` into login_file(), mode 0600.
  void save(const std::string& domain, const std::string& username,
            const std::string& password) const;
  // Removes `domain` from login_file(); false when it had no entry there.
  bool remove(const std::string& domain) const;

  const CredentialPaths& paths() const { return paths_; }

  // A credential used for `domain` instead of what the files hold (`cairn login` checks the
  // new credentials before it saves them).
  void override_for(const std::string& domain, Credential credential) {
    overrides_.emplace_back(domain, std::move(credential));
  }

 private:
  CredentialPaths paths_;
  std::vector<std::pair<std::string, Credential>> overrides_;
};

// The key docker uses for a domain in config.json ("docker.io" → "https://index.docker.io/v1/").
std::string docker_config_key(const std::string& domain);
// The host named by a config key: "https://index.docker.io/v1/" → "docker.io",
// "http://localhost:5000/v2/" → "localhost:5000", "quay.io" → "quay.io".
std::string normalize_config_key(const std::string& key);

std::string base64_encode(std::string_view data);
// nullopt when not valid base64.
std::optional<std::string> base64_decode(std::string_view text);

}  // namespace cairn::registry
