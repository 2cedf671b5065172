// Registry authentication: the WWW-Authenticate challenge of a host answered with a bearer
// token (anonymous, with credentials, or with an identity token) or basic credentials.
#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "cairn/base/error.hpp"
#include "cairn/base/log.hpp"
#include "session_state.hpp"

namespace cairn::registry {
using json = nlohmann::json;

namespace {

std::string join(const std::vector<std::string>& items, const char* separator) {
  std::string out;
  for (const auto& item : items) out += (out.empty() ? "" : separator) + item;
  return out;
}

HttpRequest token_request(const Endpoint& endpoint, const Challenge& challenge,
                          const std::optional<Credential>& credential,
                          const std::vector<std::string>& scopes, long timeout) {
  const auto realm = challenge.params.find("realm");
  if (realm == challenge.params.end() || realm->second.empty())
    throw Error("registry " + endpoint.host + ": its bearer challenge names no token realm");
  const std::string service =
      challenge.params.count("service") ? challenge.params.at("service") : "";
  HttpRequest request;
  request.timeout_seconds = timeout;
  request.verify_tls = endpoint.verify_tls;
  request.ca_file = endpoint.ca_file;
  if (credential && credential->identity_token) {
    // docker's OAuth2 flow for identity tokens: a POSTed refresh_token grant.
    request.method = "POST";
    request.url = realm->second;
    request.headers.push_back("Content-Type: application/x-www-form-urlencoded");
    request.body = "grant_type=refresh_token&client_id=cairn&refresh_token=" +
                   url_encode(credential->secret) + "&service=" + url_encode(service);
    for (const auto& scope : scopes) request.body += "&scope=" + url_encode(scope);
    return request;
  }
  std::string url = realm->second + (realm->second.find('?') == std::string::npos ? "?" : "&");
  url += "service=" + url_encode(service);
  for (const auto& scope : scopes) url += "&scope=" + url_encode(scope);
  if (credential) url += "&account=" + url_encode(credential->username);
  request.url = url;
  if (credential)
    request.headers.push_back("Authorization: Basic " +
                              base64_encode(credential->username + ":" + credential->secret));
  return request;
}

std::string bearer(Session::State& state, Http& http, const Endpoint& endpoint,
                   const Challenge& challenge, const std::string& domain,
                   const std::vector<std::string>& scopes) {
  const std::optional<Credential> credential = state.credential(domain);
  const std::string key = endpoint.host + " " + join(scopes, " ") + " " +
                          (credential ? credential->username : std::string("-"));
  if (auto token = state.token(key)) return "Bearer " + *token;
  const HttpRequest request =
      token_request(endpoint, challenge, credential, scopes, state.settings.timeout_seconds);
  HttpResponse response = http.perform(request);
  if (response.transport_error)
    throw Error(fmt::format("registry {}: token server {}: {}", endpoint.host, request.url,
                            response.transport_message));
  if (response.status == 401 || response.status == 403) {
    if (credential)
      throw Error(fmt::format("registry {}: unauthorized: the token server refused the "
                              "credentials of user \"{}\" (from {}): {}",
                              domain, credential->username, credential->source,
                              describe_error(response)))
          .hint("log in again: cairn login " + domain);
    throw Error(fmt::format("registry {}: unauthorized: the token server refused anonymous "
                            "access ({})",
                            domain, describe_error(response)))
        .hint("log in: cairn login " + domain);
  }
  if (!response.ok())
    throw Error(fmt::format("registry {}: token server answered {}", domain, describe_error(response)));
  const json answer = json::parse(response.body, nullptr, false);
  std::string token;
  if (answer.is_object()) token = answer.value("token", answer.value("access_token", ""));
  if (token.empty())
    throw Error("registry " + domain + ": the token server's answer holds no token");
  const int expires = answer.is_object() && answer.contains("expires_in") && answer["expires_in"].is_number_integer()
                          ? answer["expires_in"].get<int>()
                          : 60;  // the distribution spec's default
  state.keep_token(key, token, expires);
  log(LogLevel::debug, "registry {}: token for {} ({})", endpoint.host, join(scopes, " "),
      credential ? "user " + credential->username : "anonymous");
  return "Bearer " + token;
}

}  // namespace

std::string authorization(Session::State& state, Http& http, const Endpoint& endpoint,
                          const std::string& domain, const std::vector<std::string>& scopes) {
  if (!endpoint.challenge) return "";
  const Challenge& challenge = *endpoint.challenge;
  if (challenge.scheme == "bearer") return bearer(state, http, endpoint, challenge, domain, scopes);
  if (challenge.scheme == "basic") {
    const auto credential = state.credential(domain);
    if (!credential) return "";  // the 401 that follows says what is missing
    return "Basic " + base64_encode(credential->username + ":" + credential->secret);
  }
  throw Error("registry " + endpoint.host + ": unsupported authentication scheme \"" +
              challenge.scheme + "\"");
}

Error unauthorized_error(Session::State& state, const std::string& domain, const std::string& what,
                         const HttpResponse& response) {
  const auto credential = state.credential(domain);
  if (credential)
    return std::move(Error(fmt::format("{}: unauthorized: registry {} refused the credentials of "
                                       "user \"{}\" (from {}): {}",
                                       what, domain, credential->username, credential->source,
                                       describe_error(response)))
                         .hint("check the user name and password, and the user's access to the "
                               "repository; log in again with cairn login " + domain));
  std::string searched;
  for (const auto& file : state.credentials.paths().search_order())
    searched += (searched.empty() ? "" : ", ") + file.string();
  return std::move(Error(fmt::format("{}: unauthorized: registry {} requires authentication and "
                                     "no credentials were found for it (searched {}): {}",
                                     what, domain, searched.empty() ? "nothing" : searched,
                                     describe_error(response)))
                       .hint("log in first: cairn login " + domain));
}

std::string describe_error(const HttpResponse& response) {
  const json document = json::parse(response.body, nullptr, false);
  std::string out;
  if (document.is_object() && document.contains("errors") && document["errors"].is_array())
    for (const auto& e : document["errors"]) {
      if (!e.is_object()) continue;
      std::string one = e.value("code", "");
      const std::string message = e.value("message", "");
      if (!message.empty()) one += (one.empty() ? "" : ": ") + message;
      out += (out.empty() ? "" : "; ") + one;
    }
  if (document.is_object() && out.empty() && document.contains("details") && document["details"].is_string())
    out = document["details"].get<std::string>();
  const std::string status = "HTTP " + std::to_string(response.status);
  return out.empty() ? status : status + " " + out;
}

Session::Session(RegistrySettings settings, CredentialStore credentials)
    : state_(std::make_unique<State>()) {
  state_->settings = std::move(settings);
  state_->credentials = std::move(credentials);
}
Session::~Session() = default;
const RegistrySettings& Session::settings() const { return state_->settings; }
const CredentialStore& Session::credentials() const { return state_->credentials; }

}  // namespace cairn::registry
