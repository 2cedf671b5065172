#include "cairn/store/reference.hpp"

#include <algorithm>
#include <cstddef>
#include <stdexcept>
#include <utility>

namespace cairn::store {
namespace {

constexpr std::string_view kDefaultDomain = "docker.io";
constexpr std::string_view kLegacyDefaultDomain = "index.docker.io";
constexpr std::string_view kLocalhost = "localhost";
constexpr std::string_view kOfficialPrefix = "library/";
constexpr std::string_view kDefaultTag = "latest";
constexpr std::string_view kSha256Prefix = "sha256:";
constexpr std::size_t kMaxPathLength = 255;
constexpr std::size_t kMaxTagLength = 128;
constexpr std::size_t kMinDigestHex = 32;
constexpr std::size_t kIdLength = 64;

// --- characters (ASCII only, independent of the locale) --------------------------------

bool is_lower(char c) {
  return c >= 'a' && c <= 'z';
}
bool is_upper(char c) {
  return c >= 'A' && c <= 'Z';
}
bool is_digit(char c) {
  return c >= '0' && c <= '9';
}
bool is_alpha(char c) {
  return is_lower(c) || is_upper(c);
}
bool is_alnum(char c) {
  return is_alpha(c) || is_digit(c);
}
bool is_lower_alnum(char c) {
  return is_lower(c) || is_digit(c);
}
bool is_word(char c) {
  return is_alnum(c) || c == '_';
}
bool is_hex(char c) {
  return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}
bool is_lower_hex(char c) {
  return is_digit(c) || (c >= 'a' && c <= 'f');
}

template <typename Pred>
bool all_of(std::string_view s, Pred pred) {
  return std::all_of(s.begin(), s.end(), pred);
}

bool has_upper(std::string_view s) {
  return std::any_of(s.begin(), s.end(), is_upper);
}

std::string to_lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (is_upper(c)) c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

bool is_lower_hex_string(std::string_view s, std::size_t length) {
  return s.size() == length && all_of(s, is_lower_hex);
}

// --- name grammar ----------------------------------------------------------------------

// The run of characters between two alphanumeric runs of a path component.
bool is_path_separator(std::string_view sep) {
  if (sep == "." || sep == "_" || sep == "__") return true;
  return !sep.empty() && all_of(sep, [](char c) { return c == '-'; });
}

// [a-z0-9]+ ((?:[._]|__|[-]+) [a-z0-9]+)*
bool is_path_component(std::string_view s) {
  if (s.empty() || !is_lower_alnum(s.front()) || !is_lower_alnum(s.back())) return false;
  std::size_t i = 0;
  while (i < s.size()) {
    auto run_end = std::find_if_not(s.begin() + i, s.end(), is_lower_alnum) - s.begin();
    if (static_cast<std::size_t>(run_end) == s.size()) return true;
    auto next = std::find_if(s.begin() + run_end, s.end(), is_lower_alnum) - s.begin();
    if (!is_path_separator(s.substr(run_end, next - run_end))) return false;
    i = static_cast<std::size_t>(next);
  }
  return true;
}

// Calls pred on each piece of s split at sep; false as soon as one piece fails.
template <typename Pred>
bool all_pieces(std::string_view s, char sep, Pred pred) {
  while (true) {
    std::size_t at = s.find(sep);
    if (!pred(s.substr(0, at))) return false;
    if (at == std::string_view::npos) return true;
    s.remove_prefix(at + 1);
  }
}

bool is_remote_name(std::string_view s) {
  return all_pieces(s, '/', is_path_component);
}

// [a-zA-Z0-9] | [a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]
bool is_domain_component(std::string_view s) {
  if (s.empty() || !is_alnum(s.front()) || !is_alnum(s.back())) return false;
  return all_of(s, [](char c) { return is_alnum(c) || c == '-'; });
}

bool is_domain_name(std::string_view s) {
  return all_pieces(s, '.', is_domain_component);
}

// "[" [a-fA-F0-9:]+ "]"; zone identifiers and IPv4-mapped forms are not accepted.
bool is_ipv6_literal(std::string_view s) {
  if (s.size() < 3 || s.front() != '[' || s.back() != ']') return false;
  return all_of(s.substr(1, s.size() - 2), [](char c) { return is_hex(c) || c == ':'; });
}

bool is_port(std::string_view s) {
  return !s.empty() && all_of(s, is_digit);
}

// The length of the host part of a domain: up to the first ']' for an IPv6 literal, up to
// the port's ':' otherwise.
std::size_t host_length(std::string_view s) {
  std::size_t end = s.starts_with('[') ? s.find(']') : s.find(':');
  if (end == std::string_view::npos) return s.size();
  return s.starts_with('[') ? end + 1 : end;
}

// host [":" port], where host is a domain name or a bracketed IPv6 address.
bool is_domain(std::string_view s) {
  std::string_view host = s.substr(0, host_length(s));
  if (!is_ipv6_literal(host) && !is_domain_name(host)) return false;
  if (host.size() == s.size()) return true;
  return s[host.size()] == ':' && is_port(s.substr(host.size() + 1));
}

// [\w][\w.-]{0,127}
bool is_tag(std::string_view s) {
  if (s.empty() || s.size() > kMaxTagLength || !is_word(s.front())) return false;
  return all_of(s, [](char c) { return is_word(c) || c == '.' || c == '-'; });
}

// [A-Za-z][A-Za-z0-9]* joined by single [-_+.]
bool is_digest_algorithm(std::string_view s) {
  bool at_component_start = true;
  for (char c : s) {
    if (at_component_start) {
      if (!is_alpha(c)) return false;
      at_component_start = false;
    } else if (c == '-' || c == '_' || c == '+' || c == '.') {
      at_component_start = true;
    } else if (!is_alnum(c)) {
      return false;
    }
  }
  return !at_component_start;
}

// The digest as the reference grammar sees it: algorithm ":" [[:xdigit:]]{32,}.
bool is_digest_syntax(std::string_view s) {
  std::size_t colon = s.find(':');
  if (colon == std::string_view::npos || !is_digest_algorithm(s.substr(0, colon))) return false;
  std::string_view hex = s.substr(colon + 1);
  return hex.size() >= kMinDigestHex && all_of(hex, is_hex);
}

// Splits a name into domain and path the way the anchored name pattern does: the first
// component is the domain when it is one and the rest is a path; otherwise the whole name
// must be a path and the domain is empty.
std::optional<std::pair<std::string_view, std::string_view>> split_name(std::string_view name) {
  std::size_t slash = name.find('/');
  if (slash != std::string_view::npos && slash > 0 && is_domain(name.substr(0, slash)) &&
      is_remote_name(name.substr(slash + 1))) {
    return std::pair{name.substr(0, slash), name.substr(slash + 1)};
  }
  if (is_remote_name(name)) return std::pair{std::string_view{}, name};
  return std::nullopt;
}

// Matches name [":" tag] ["@" digest]; nullopt when the text is not in that grammar.
std::optional<Reference> match_reference(std::string_view s) {
  Reference ref;
  if (std::size_t at = s.find('@'); at != std::string_view::npos) {
    std::string_view digest = s.substr(at + 1);
    if (!is_digest_syntax(digest)) return std::nullopt;
    ref.digest = std::string(digest);
    s = s.substr(0, at);
  }
  std::size_t colon = s.rfind(':');
  std::size_t slash = s.rfind('/');
  if (colon != std::string_view::npos && (slash == std::string_view::npos || colon > slash)) {
    std::string_view tag = s.substr(colon + 1);
    if (!is_tag(tag)) return std::nullopt;
    ref.tag = std::string(tag);
    s = s.substr(0, colon);
  }
  auto name = split_name(s);
  if (!name) return std::nullopt;
  ref.domain = std::string(name->first);
  ref.path = std::string(name->second);
  return ref;
}

// --- digests (go-digest's Digest.Validate) ----------------------------------------------

// The hex length of the algorithms docker registers; 0 for any other algorithm.
std::size_t digest_hex_length(std::string_view algorithm) {
  if (algorithm == "sha256") return 64;
  if (algorithm == "sha384") return 96;
  if (algorithm == "sha512") return 128;
  return 0;
}

// Runs after the reference grammar accepted the digest, so the algorithm and the hex are
// well-formed; what is left is go-digest's stricter view of them.
void validate_digest(std::string_view digest) {
  std::size_t colon = digest.find(':');
  std::string_view algorithm = digest.substr(0, colon);
  std::string_view hex = digest.substr(colon + 1);
  std::size_t length = digest_hex_length(algorithm);
  if (length == 0) {
    // go-digest's own pattern only differs from the grammar's in wanting a lower-case
    // algorithm.
    if (has_upper(algorithm)) throw std::invalid_argument("invalid checksum digest format");
    throw std::invalid_argument("unsupported digest algorithm");
  }
  if (hex.size() != length) throw std::invalid_argument("invalid checksum digest length");
  if (!all_of(hex, is_lower_hex)) throw std::invalid_argument("invalid checksum digest format");
}

// --- docker's Parse and ParseNormalizedNamed -------------------------------------------

// distribution/reference Parse: the grammar, the path length, then the digest.
Reference parse_canonical(const std::string& text) {
  std::optional<Reference> ref = match_reference(text);
  if (!ref) {
    std::string lower = to_lower(text);
    if (lower != text && match_reference(lower)) {
      throw std::invalid_argument("repository name must be lowercase");
    }
    throw std::invalid_argument("invalid reference format");
  }
  if (ref->path.size() > kMaxPathLength) {
    throw std::invalid_argument("repository name must not be more than 255 characters");
  }
  if (ref->digest) validate_digest(*ref->digest);
  return std::move(*ref);
}

// Whether the first component of a name with a '/' is a registry rather than a namespace.
bool is_registry_component(std::string_view first) {
  return first == kLocalhost || first.find_first_of(".:") != std::string_view::npos ||
         has_upper(first);
}

// docker's splitDockerDomain: the domain and the rest of the text (tag and digest
// included), with Docker Hub's defaults applied.
std::pair<std::string, std::string> split_docker_domain(std::string_view text) {
  std::size_t slash = text.find('/');
  if (slash == std::string_view::npos) {
    return {std::string(kDefaultDomain), std::string(kOfficialPrefix) + std::string(text)};
  }
  std::string_view first = text.substr(0, slash);
  std::string domain(kDefaultDomain);
  std::string remainder(text);
  if (first == kLegacyDefaultDomain) {
    remainder = text.substr(slash + 1);
  } else if (is_registry_component(first)) {
    domain = first;
    remainder = text.substr(slash + 1);
  }
  if (domain == kDefaultDomain && remainder.find('/') == std::string::npos) {
    remainder.insert(0, kOfficialPrefix);
  }
  return {std::move(domain), std::move(remainder)};
}

bool is_identifier(std::string_view text) {
  return is_lower_hex_string(text, kIdLength);
}

std::string name_of(std::string_view domain, std::string_view path) {
  if (domain.empty()) return std::string(path);
  std::string name(domain);
  name += '/';
  name += path;
  return name;
}

std::string with_tag_and_digest(std::string name, const Reference& ref) {
  if (ref.tag) name += ':' + *ref.tag;
  if (ref.digest) name += '@' + *ref.digest;
  return name;
}

}  // namespace

std::string Reference::repository() const {
  return name_of(domain, path);
}

std::string Reference::str() const {
  return with_tag_and_digest(repository(), *this);
}

std::string Reference::familiar() const {
  if (domain != kDefaultDomain) return str();
  std::string_view short_path = path;
  if (short_path.starts_with(kOfficialPrefix) &&
      short_path.find('/', kOfficialPrefix.size()) == std::string_view::npos) {
    short_path.remove_prefix(kOfficialPrefix.size());
  }
  return with_tag_and_digest(std::string(short_path), *this);
}

Reference parse_reference(std::string_view text, bool add_default_tag) {
  if (is_identifier(text)) {
    throw std::invalid_argument("invalid repository name (" + std::string(text) +
                                "), cannot specify 64-byte hexadecimal strings");
  }
  auto [domain, remainder] = split_docker_domain(text);
  std::string_view remote = std::string_view(remainder).substr(0, remainder.find(':'));
  if (has_upper(remote)) {
    throw std::invalid_argument("invalid reference format: repository name (" +
                                std::string(remote) + ") must be lowercase");
  }
  Reference ref = parse_canonical(domain + "/" + remainder);
  if (add_default_tag && !ref.tag && !ref.digest) ref.tag = std::string(kDefaultTag);
  return ref;
}

bool looks_like_image_id(std::string_view text) {
  if (text.starts_with(kSha256Prefix)) text.remove_prefix(kSha256Prefix.size());
  return is_identifier(text);
}

}  // namespace cairn::store
