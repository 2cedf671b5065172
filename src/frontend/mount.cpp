// RUN --mount values and Go-style durations (private grammar pieces of instructions).
#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "cairn/frontend/instructions.hpp"
#include "text.hpp"

namespace cairn::frontend {
namespace {

// Go's encoding/csv for one record: fields split on ',', a field that starts with '"' is
// quoted and '""' inside it is a literal quote.
std::vector<std::string> split_csv(std::string_view line) {
  std::vector<std::string> fields;
  std::size_t i = 0;
  for (;;) {
    std::string field;
    if (i < line.size() && line[i] == '"') {
      ++i;
      for (;;) {
        if (i >= line.size()) throw std::invalid_argument("unterminated quote in mount options");
        if (line[i] == '"') {
          if (i + 1 < line.size() && line[i + 1] == '"') {
            field += '"';
            i += 2;
            continue;
          }
          ++i;
          break;
        }
        field += line[i++];
      }
      if (i < line.size() && line[i] != ',')
        throw std::invalid_argument("extraneous text after a quoted mount option");
    } else {
      while (i < line.size() && line[i] != ',') field += line[i++];
    }
    fields.push_back(std::move(field));
    if (i >= line.size()) break;
    ++i;  // the comma
  }
  return fields;
}

bool parse_bool(const std::string& key, const std::optional<std::string>& value) {
  if (!value) return true;
  std::string v = text::lower(*value);
  if (v == "true" || v == "1") return true;
  if (v == "false" || v == "0") return false;
  throw std::invalid_argument("invalid value for " + key + ": " + *value);
}

long parse_long(const std::string& key, const std::string& value) {
  std::size_t used = 0;
  long n = 0;
  try {
    n = std::stol(value, &used, 10);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != value.size() || value.empty())
    throw std::invalid_argument("invalid value for " + key + ": " + value);
  return n;
}

// docker's units.RAMInBytes: a number with an optional binary unit (b, k, kb, m, ...).
long long parse_size(const std::string& value) {
  std::size_t i = 0;
  while (i < value.size() && (std::isdigit(static_cast<unsigned char>(value[i])) || value[i] == '.'))
    ++i;
  // std::stod would throw its own invalid_argument for "." and out_of_range for 400 digits,
  // which no caller expects; every malformed number is "invalid size" here.
  double number = 0;
  std::size_t used = 0;
  try {
    number = i == 0 ? 0 : std::stod(value.substr(0, i), &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != i) throw std::invalid_argument("invalid size: " + value);
  std::string unit = text::lower(value.substr(i));
  if (!unit.empty() && unit.back() == 'b') unit.pop_back();
  if (!unit.empty() && unit.back() == 'i') unit.pop_back();
  static const std::string kUnits = "kmgtp";
  double scale = 1;
  if (!unit.empty()) {
    auto at = kUnits.find(unit);
    if (unit.size() != 1 || at == std::string::npos)
      throw std::invalid_argument("invalid size: " + value);
    scale = std::pow(1024.0, static_cast<double>(at + 1));
  }
  // Converting a double beyond long long's range is undefined behaviour.
  const double bytes = number * scale;
  if (!(bytes < 9.2e18)) throw std::invalid_argument("invalid size: " + value);
  return static_cast<long long>(bytes);
}

MountType parse_type(const std::string& value) {
  if (value == "bind") return MountType::bind;
  if (value == "cache") return MountType::cache;
  if (value == "tmpfs") return MountType::tmpfs;
  if (value == "secret") return MountType::secret;
  if (value == "ssh") return MountType::ssh;
  throw std::invalid_argument("unsupported mount type \"" + value +
                              "\" (bind, cache, tmpfs, secret or ssh)");
}

void apply_option(MountSpec& m, const std::string& key, const std::optional<std::string>& value) {
  auto need = [&]() -> const std::string& {
    if (!value) throw std::invalid_argument("mount option " + key + " needs a value");
    return *value;
  };
  if (key == "type") m.type = parse_type(need());
  else if (key == "target" || key == "dst" || key == "destination") m.target = need();
  else if (key == "source" || key == "src") m.source = need();
  else if (key == "from") m.from = need();
  else if (key == "readonly" || key == "ro") m.readonly = parse_bool(key, value);
  else if (key == "readwrite" || key == "rw") m.readonly = !parse_bool(key, value);
  else if (key == "id") m.id = need();
  else if (key == "sharing") {
    const std::string& v = need();
    if (v == "shared") m.sharing = CacheSharing::shared;
    else if (v == "private") m.sharing = CacheSharing::private_;
    else if (v == "locked") m.sharing = CacheSharing::locked;
    else throw std::invalid_argument("unsupported sharing value \"" + v + "\" (shared, private or locked)");
  } else if (key == "mode") {
    const std::string& v = need();
    if (v.empty() || v.find_first_not_of("01234567") != std::string::npos || v.size() > 5)
      throw std::invalid_argument("invalid mode \"" + v + "\": expected an octal number");
    m.mode = static_cast<unsigned>(std::stoul(v, nullptr, 8));
  } else if (key == "uid") m.uid = parse_long(key, need());
  else if (key == "gid") m.gid = parse_long(key, need());
  else if (key == "size") m.size = parse_size(need());
  else if (key == "required") m.required = parse_bool(key, value);
  else if (key == "env") m.env = need();
  else throw std::invalid_argument("unexpected key '" + key + "' in mount option '" + key +
                                   (value ? "=" + *value : "") + "'");
}

// Type-dependent defaults and checks, after all options are read.
void finish(MountSpec& m, bool readonly_given) {
  if (m.type == MountType::bind && !readonly_given) m.readonly = true;
  if (m.type == MountType::secret) {
    if (m.target.empty() && !m.env) {
      if (!m.id) throw std::invalid_argument("secret mount needs an id or a target");
      m.target = "/run/secrets/" + *m.id;
    }
    if (!m.id && !m.target.empty()) m.id = m.target.substr(m.target.rfind('/') + 1);
  } else if (m.type == MountType::ssh) {
    if (!m.id) m.id = "default";
  } else if (m.target.empty()) {
    throw std::invalid_argument("mount needs a target (target=PATH)");
  }
  if (m.from && (m.type == MountType::tmpfs || m.type == MountType::secret ||
                 m.type == MountType::ssh))
    throw std::invalid_argument("from= is only valid for bind and cache mounts");
  if (m.size && m.type != MountType::tmpfs)
    throw std::invalid_argument("size= is only valid for tmpfs mounts");
}

}  // namespace

MountSpec parse_mount(std::string_view value) {
  MountSpec mount;
  mount.raw = std::string(value);
  bool readonly_given = false;
  for (const auto& field : split_csv(value)) {
    if (field.empty()) continue;
    const std::size_t eq = field.find('=');
    const std::string key = text::lower(field.substr(0, eq));
    std::optional<std::string> option_value;
    if (eq != std::string::npos) option_value = field.substr(eq + 1);
    if (key == "readonly" || key == "ro" || key == "readwrite" || key == "rw")
      readonly_given = true;
    apply_option(mount, key, option_value);
  }
  finish(mount, readonly_given);
  return mount;
}

std::optional<std::chrono::nanoseconds> parse_go_duration(std::string_view s) {
  bool negative = false;
  if (!s.empty() && (s[0] == '-' || s[0] == '+')) {
    negative = s[0] == '-';
    s.remove_prefix(1);
  }
  if (s == "0") return std::chrono::nanoseconds(0);
  if (s.empty()) return std::nullopt;
  long double total = 0;
  while (!s.empty()) {
    std::size_t i = 0;
    while (i < s.size() && (std::isdigit(static_cast<unsigned char>(s[i])) || s[i] == '.')) ++i;
    // Go's grammar: digits, at most one '.', at least one digit. std::stold must not see
    // anything else: it throws (invalid_argument for "..", out_of_range for 5000 digits).
    const std::string_view digits = s.substr(0, i);
    if (digits.find_first_of("0123456789") == std::string_view::npos ||
        std::count(digits.begin(), digits.end(), '.') > 1)
      return std::nullopt;
    long double number = 0;
    try {
      number = std::stold(std::string(digits));
    } catch (const std::out_of_range&) {
      return std::nullopt;
    }
    s.remove_prefix(i);
    std::size_t u = 0;
    while (u < s.size() && !std::isdigit(static_cast<unsigned char>(s[u])) && s[u] != '.') ++u;
    const std::string_view unit = s.substr(0, u);
    s.remove_prefix(u);
    long double scale;
    if (unit == "ns") scale = 1;
    else if (unit == "us" || unit == "\xC2\xB5s" || unit == "\xCE\xBCs") scale = 1e3;
    else if (unit == "ms") scale = 1e6;
    else if (unit == "s") scale = 1e9;
    else if (unit == "m") scale = 60e9;
    else if (unit == "h") scale = 3600e9;
    else return std::nullopt;
    total += number * scale;
  }
  if (total > 9.2e18) return std::nullopt;
  auto ns = std::chrono::nanoseconds(static_cast<long long>(std::llround(total)));
  return negative ? -ns : ns;
}

}  // namespace cairn::frontend
