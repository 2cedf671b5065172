#include "cairn/registry/credentials.hpp"

#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <cstdlib>
#include <nlohmann/json.hpp>

#include "cairn/base/error.hpp"
#include "cairn/base/log.hpp"
#include "cairn/base/process.hpp"
#include "cairn/base/sys.hpp"

namespace cairn::registry {
namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

std::optional<fs::path> env_path(const char* name) {
  const char* value = std::getenv(name);
  if (!value || !*value) return std::nullopt;
  return fs::path(value);
}

// A JSON file, or nullopt when it does not exist. Malformed files are an error: a user who
// logged in expects their credentials to be used, not silently skipped.
std::optional<json> read_json_file(const fs::path& path) {
  std::error_code ec;
  if (!fs::exists(path, ec)) return std::nullopt;
  const std::string text = sys::read_file(path.string());
  json document = json::parse(text, nullptr, false);
  if (document.is_discarded() || !document.is_object())
    throw Error("read credentials " + path.string() + ": not a JSON object")
        .hint("fix or remove the file");
  return document;
}

std::optional<Credential> from_auth_entry(const json& entry, const fs::path& file) {
  if (!entry.is_object()) return std::nullopt;
  Credential credential;
  credential.source = file.string();
  if (entry.contains("identitytoken") && entry["identitytoken"].is_string() &&
      !entry["identitytoken"].get<std::string>().empty()) {
    credential.identity_token = true;
    credential.secret = entry["identitytoken"].get<std::string>();
  }
  if (entry.contains("auth") && entry["auth"].is_string()) {
    const auto decoded = base64_decode(entry["auth"].get<std::string>());
    if (!decoded || decoded->find(':') == std::string::npos)
      throw Error("read credentials " + file.string() + ": an \"auth\" value is not base64 of USER:PASSWORD");
    credential.username = decoded->substr(0, decoded->find(':'));
    if (!credential.identity_token) credential.secret = decoded->substr(decoded->find(':') + 1);
  } else if (entry.contains("username") && entry["username"].is_string()) {
    credential.username = entry["username"].get<std::string>();
    if (!credential.identity_token) credential.secret = entry.value("password", "");
  }
  if (credential.secret.empty()) return std::nullopt;
  return credential;
}

std::optional<Credential> from_auths(const json& document, const std::string& domain,
                                     const fs::path& file) {
  if (!document.contains("auths") || !document["auths"].is_object()) return std::nullopt;
  for (const auto& [key, entry] : document["auths"].items())
    if (normalize_config_key(key) == domain)
      if (auto credential = from_auth_entry(entry, file)) return credential;
  return std::nullopt;
}

// docker-credential-HELPER get: the server on stdin, {"Username","Secret"} on stdout.
std::optional<Credential> from_helper(const std::string& helper, const std::string& domain) {
  const std::string program = "docker-credential-" + helper;
  // A socket, not a pipe, for its input: a helper that exits without reading it gives
  // EPIPE to send(MSG_NOSIGNAL) instead of killing cairn with SIGPIPE.
  auto [in_read, in_write] = sys::socketpair();
  auto [out_read, out_write] = sys::pipe();
  SpawnOptions options;
  options.argv = {program, "get"};
  options.stdin_fd = in_read.get();
  options.stdout_fd = out_write.get();
  Child child = with_context("credential helper " + program, [&] { return Child::spawn(options); });
  in_read.reset();
  out_write.reset();
  const std::string server = docker_config_key(domain);
  (void)::send(in_write.get(), server.data(), server.size(), MSG_NOSIGNAL);
  in_write.reset();
  const std::string output = sys::read_all(out_read.get(), program);
  const int status = child.wait();
  if (status != 0) {
    // The protocol's answer for "no entry" is a failure with this text.
    if (output.find("credentials not found") != std::string::npos) return std::nullopt;
    throw Error(program + " get " + docker_config_key(domain) + " failed (exit status " +
                std::to_string(status) + "): " + output);
  }
  const json answer = json::parse(output, nullptr, false);
  if (answer.is_discarded() || !answer.is_object())
    throw Error(program + " get: the answer is not a JSON object");
  Credential credential;
  credential.source = program;
  credential.username = answer.value("Username", "");
  credential.secret = answer.value("Secret", "");
  // The protocol marks an identity token by this user name.
  credential.identity_token = credential.username == "<token>";
  if (credential.secret.empty()) return std::nullopt;
  return credential;
}

std::optional<Credential> from_docker_config(const json& document, const std::string& domain,
                                             const fs::path& file) {
  if (document.contains("credHelpers") && document["credHelpers"].is_object())
    for (const auto& [key, helper] : document["credHelpers"].items())
      if (normalize_config_key(key) == domain && helper.is_string())
        return from_helper(helper.get<std::string>(), domain);
  if (auto credential = from_auths(document, domain, file)) return credential;
  if (document.contains("credsStore") && document["credsStore"].is_string() &&
      !document["credsStore"].get<std::string>().empty())
    return from_helper(document["credsStore"].get<std::string>(), domain);
  return std::nullopt;
}

bool is_docker_config(const fs::path& file) { return file.filename() == "config.json"; }

}  // namespace

CredentialPaths CredentialPaths::from_process() {
  return {env_path("REGISTRY_AUTH_FILE"), env_path("XDG_RUNTIME_DIR"), env_path("HOME"),
          env_path("DOCKER_CONFIG")};
}

std::vector<fs::path> CredentialPaths::search_order() const {
  std::vector<fs::path> files;
  if (auth_file) return {*auth_file};
  if (xdg_runtime_dir) files.push_back(*xdg_runtime_dir / "containers/auth.json");
  if (home) files.push_back(*home / ".config/containers/auth.json");
  if (docker_config)
    files.push_back(*docker_config / "config.json");
  else if (home)
    files.push_back(*home / ".docker/config.json");
  return files;
}

fs::path CredentialPaths::login_file() const {
  if (auth_file) return *auth_file;
  if (xdg_runtime_dir) return *xdg_runtime_dir / "containers/auth.json";
  if (home) return *home / ".config/containers/auth.json";
  throw Error("login: neither REGISTRY_AUTH_FILE, XDG_RUNTIME_DIR nor HOME is set")
      .hint("set REGISTRY_AUTH_FILE to the file to keep credentials in");
}

std::optional<Credential> CredentialStore::find(const std::string& domain) const {
  for (const auto& [name, credential] : overrides_)
    if (name == domain) return credential;
  for (const auto& file : paths_.search_order()) {
    const auto document = read_json_file(file);
    if (!document) continue;
    auto credential = is_docker_config(file) ? from_docker_config(*document, domain, file)
                                             : from_auths(*document, domain, file);
    if (credential) {
      log(LogLevel::debug, "registry {}: credentials of user {} from {}", domain,
          credential->username, credential->source);
      return credential;
    }
  }
  return std::nullopt;
}

void CredentialStore::save(const std::string& domain, const std::string& username,
                           const std::string& password) const {
  const fs::path file = paths_.login_file();
  json document = read_json_file(file).value_or(json::object());
  if (!document.contains("auths") || !document["auths"].is_object()) document["auths"] = json::object();
  document["auths"][domain] = {{"auth", base64_encode(username + ":" + password)}};
  std::error_code ec;
  fs::create_directories(file.parent_path(), ec);
  if (ec) throw Error("login: create directory", file.parent_path().string(), ec.value());
  // Owner-only from the first byte: the temp file is created 0600, then renamed.
  sys::write_file_atomic(file.string(), document.dump(1, '\t') + "\n", 0600);
}

bool CredentialStore::remove(const std::string& domain) const {
  const fs::path file = paths_.login_file();
  auto document = read_json_file(file);
  if (!document || !document->contains("auths") || !(*document)["auths"].is_object()) return false;
  json& auths = (*document)["auths"];
  bool removed = false;
  for (auto it = auths.begin(); it != auths.end();) {
    if (normalize_config_key(it.key()) == domain) {
      it = auths.erase(it);
      removed = true;
    } else {
      ++it;
    }
  }
  if (removed) sys::write_file_atomic(file.string(), document->dump(1, '\t') + "\n", 0600);
  return removed;
}

std::string docker_config_key(const std::string& domain) {
  return domain == "docker.io" ? "https://index.docker.io/v1/" : domain;
}

std::string normalize_config_key(const std::string& key) {
  std::string host = key;
  if (const auto scheme = host.find("://"); scheme != std::string::npos) host = host.substr(scheme + 3);
  host = host.substr(0, host.find('/'));
  if (host == "index.docker.io" || host == "registry-1.docker.io") return "docker.io";
  return host;
}

std::string base64_encode(std::string_view data) {
  std::string out(4 * ((data.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(data.data()),
                                static_cast<int>(data.size()));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

std::optional<std::string> base64_decode(std::string_view text) {
  if (text.size() % 4 != 0) return std::nullopt;
  // EVP_DecodeBlock takes '=' anywhere for zero bits and skips leading whitespace: accept
  // only the alphabet, then at most two '=' at the very end.
  std::size_t padding = 0;
  while (padding < text.size() && text[text.size() - 1 - padding] == '=') ++padding;
  if (padding > 2) return std::nullopt;
  static constexpr std::string_view kAlphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  if (text.substr(0, text.size() - padding).find_first_not_of(kAlphabet) != std::string_view::npos)
    return std::nullopt;
  std::string out(3 * text.size() / 4 + 1, '\0');
  const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(text.data()),
                                static_cast<int>(text.size()));
  if (n < 0) return std::nullopt;
  out.resize(static_cast<std::size_t>(n) - padding);  // the padding decodes as zero bytes
  return out;
}

}  // namespace cairn::registry
