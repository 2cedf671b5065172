#include "cairn/config.hpp"

#include <fmt/format.h>
#include <toml++/toml.h>

#include <cstdlib>
#include <functional>

#include "cairn/base/error.hpp"
#include "cairn/base/sys.hpp"

namespace cairn {
namespace {

std::string located(const std::string& source, const toml::source_region& where) {
  return fmt::format("{}:{}:{}", source, where.begin.line, where.begin.column);
}

std::string type_name(toml::node_type type) {
  switch (type) {
    case toml::node_type::table: return "a table";
    case toml::node_type::array: return "an array";
    case toml::node_type::string: return "a string";
    case toml::node_type::integer: return "an integer";
    case toml::node_type::floating_point: return "a float";
    case toml::node_type::boolean: return "a boolean";
    default: return "a date or time";
  }
}

// One known key: its type and how it lands in Config.
struct KeySpec {
  std::string_view name;
  toml::node_type type;
  std::string_view description;
  // `home` is the HOME that "~" expands to (from the ConfigEnvironment, not the process).
  std::function<void(Config&, const toml::node&, const std::string& where,
                     const std::optional<std::string>& home)>
      apply;
};

std::filesystem::path expand_home(const std::string& path, const std::optional<std::string>& home) {
  if (path == "~" || path.rfind("~/", 0) == 0) {
    if (home && !home->empty()) return *home + path.substr(1);
  }
  return path;
}

std::vector<std::string> string_array(const toml::node& n, const std::string& where,
                                      std::string_view key) {
  std::vector<std::string> out;
  for (const auto& item : *n.as_array()) {
    const auto value = item.value<std::string>();
    if (!value || value->empty())
      throw Error(fmt::format("{}: every entry of '{}' must be a non-empty string", where, key));
    out.push_back(*value);
  }
  return out;
}

std::int64_t positive(const toml::node& n, const std::string& where, std::string_view key,
                      std::int64_t max) {
  const std::int64_t value = *n.value<std::int64_t>();
  if (value < 1 || value > max)
    throw Error(fmt::format("{}: {} must be between 1 and {}, not {}", where, key, max, value));
  return value;
}

// A registry host as references write it: a name or IP, optionally ":PORT".
void check_registry_host(const std::string& host, const std::string& where) {
  const bool valid = !host.empty() && host.find_first_of("/ @") == std::string::npos &&
                     host.find("://") == std::string::npos;
  if (!valid)
    throw Error(fmt::format("{}: \"{}\" is not a registry host (write it as in image names: "
                            "\"quay.io\", \"localhost:5000\")",
                            where, host));
}

void apply_registry_host(Config& config, const std::string& host, const toml::table& table,
                         const std::string& source, const std::optional<std::string>& home) {
  RegistryHost& settings = config.registry.hosts[host];
  for (const auto& [key, node] : table) {
    const std::string where = located(source, key.source());
    const std::string name = "registry.hosts.\"" + host + "\"." + std::string(key.str());
    auto expect = [&](toml::node_type type) {
      if (node.type() != type)
        throw Error(fmt::format("{}: key '{}' must be {}, not {}", where, name, type_name(type),
                                type_name(node.type())));
    };
    if (key.str() == "insecure") {
      expect(toml::node_type::boolean);
      settings.insecure = *node.value<bool>();
    } else if (key.str() == "ca_file") {
      expect(toml::node_type::string);
      settings.ca_file = expand_home(*node.value<std::string>(), home);
    } else if (key.str() == "mirrors") {
      expect(toml::node_type::array);
      settings.mirrors = string_array(node, where, name);
      for (const auto& mirror : settings.mirrors) check_registry_host(mirror, where);
    } else {
      throw Error(where + ": unknown key '" + name + "' (known: insecure, ca_file, mirrors)");
    }
  }
}

const std::vector<KeySpec>& known_keys() {
  static const std::vector<KeySpec> keys = {
      {"storage.root", toml::node_type::string, "store directory",
       [](Config& c, const toml::node& n, const std::string& where,
          const std::optional<std::string>& home) {
         std::string value = *n.value<std::string>();
         if (value.empty()) throw Error(where + ": storage.root must not be empty");
         c.storage_root = expand_home(value, home);
       }},
      {"storage.max_layer_size", toml::node_type::integer, "bytes one layer may unpack to",
       [](Config& c, const toml::node& n, const std::string& where,
          const std::optional<std::string>&) {
         const std::int64_t value = *n.value<std::int64_t>();
         if (value <= 0) throw Error(where + ": storage.max_layer_size must be positive");
         c.max_layer_size = static_cast<std::uint64_t>(value);
       }},
      {"log.level", toml::node_type::string, "error|warn|info|debug|trace",
       [](Config& c, const toml::node& n, const std::string& where,
          const std::optional<std::string>&) {
         std::string value = *n.value<std::string>();
         auto level = parse_log_level(value);
         if (!level)
           throw Error(where + ": log.level must be one of error, warn, info, debug, trace; not \"" +
                       value + "\"");
         c.log_level = *level;
       }},
      {"log.timings", toml::node_type::boolean, "print phase timings",
       [](Config& c, const toml::node& n, const std::string&, const std::optional<std::string>&) {
         c.timings = *n.value<bool>();
       }},
      {"sandbox.userns", toml::node_type::string, "auto|single|range",
       [](Config& c, const toml::node& n, const std::string& where,
          const std::optional<std::string>&) {
         std::string value = *n.value<std::string>();
         if (value != "auto" && value != "single" && value != "range")
           throw Error(where + ": sandbox.userns must be auto, single or range; not \"" + value +
                       "\"");
         c.userns = value;
       }},
      {"registry.search", toml::node_type::array, "registries for unqualified names",
       [](Config& c, const toml::node& n, const std::string& where,
          const std::optional<std::string>&) {
         c.registry.search = string_array(n, where, "registry.search");
         for (const auto& host : c.registry.search) check_registry_host(host, where);
       }},
      {"registry.timeout", toml::node_type::integer, "seconds",
       [](Config& c, const toml::node& n, const std::string& where,
          const std::optional<std::string>&) {
         c.registry.timeout_seconds = static_cast<int>(positive(n, where, "registry.timeout", 3600));
       }},
      {"registry.retries", toml::node_type::integer, "attempts after the first",
       [](Config& c, const toml::node& n, const std::string& where,
          const std::optional<std::string>&) {
         const std::int64_t value = *n.value<std::int64_t>();
         if (value < 0 || value > 100)
           throw Error(fmt::format("{}: registry.retries must be between 0 and 100", where));
         c.registry.retries = static_cast<int>(value);
       }},
      {"registry.parallel", toml::node_type::integer, "blobs at once",
       [](Config& c, const toml::node& n, const std::string& where,
          const std::optional<std::string>&) {
         c.registry.parallel = static_cast<int>(positive(n, where, "registry.parallel", 64));
       }},
      {"registry.chunk_size", toml::node_type::integer, "upload chunk bytes (0: one request)",
       [](Config& c, const toml::node& n, const std::string& where,
          const std::optional<std::string>&) {
         const std::int64_t value = *n.value<std::int64_t>();
         if (value < 0) throw Error(where + ": registry.chunk_size must not be negative");
         c.registry.chunk_size = static_cast<std::uint64_t>(value);
       }},
  };
  return keys;
}

const KeySpec* find_key(std::string_view dotted) {
  for (const auto& key : known_keys())
    if (key.name == dotted) return &key;
  return nullptr;
}

bool is_known_table(std::string_view dotted) {
  for (const auto& key : known_keys())
    if (key.name.substr(0, dotted.size()) == dotted && key.name.size() > dotted.size() &&
        key.name[dotted.size()] == '.')
      return true;
  return false;
}

void apply_table(Config& config, const toml::table& table, const std::string& prefix,
                 const std::string& source, const std::optional<std::string>& home) {
  for (const auto& [key, node] : table) {
    const std::string dotted = prefix.empty() ? std::string(key.str())
                                              : prefix + "." + std::string(key.str());
    const std::string where = located(source, key.source());
    if (dotted == "registry.hosts") {
      if (!node.is_table())
        throw Error(fmt::format("{}: key '{}' must be a table, not {}", where, dotted,
                                type_name(node.type())));
      for (const auto& [host, settings] : *node.as_table()) {
        const std::string host_where = located(source, host.source());
        check_registry_host(std::string(host.str()), host_where);
        if (!settings.is_table())
          throw Error(fmt::format("{}: registry.hosts.\"{}\" must be a table", host_where,
                                  host.str()));
        apply_registry_host(config, std::string(host.str()), *settings.as_table(), source, home);
      }
      config.origin[dotted] = source;
      continue;
    }
    if (is_known_table(dotted)) {
      if (!node.is_table())
        throw Error(fmt::format("{}: key '{}' must be a table, not {}", where, dotted,
                                type_name(node.type())));
      apply_table(config, *node.as_table(), dotted, source, home);
      continue;
    }
    const KeySpec* spec = find_key(dotted);
    if (!spec) throw Error(where + ": unknown key '" + dotted + "'");
    if (node.type() != spec->type)
      throw Error(fmt::format("{}: key '{}' must be {}, not {}", where, dotted,
                              type_name(spec->type), type_name(node.type())));
    spec->apply(config, node, where, home);
    config.origin[dotted] = source;
  }
}

void apply_text(Config& config, std::string_view toml_text, const std::string& source,
                const std::optional<std::string>& home) {
  toml::table table;
  try {
    table = toml::parse(toml_text, source);
  } catch (const toml::parse_error& e) {
    throw Error(fmt::format("{}: {}", located(source, e.source()), e.description()));
  }
  apply_table(config, table, "", source, home);
}

Config defaults(const ConfigEnvironment& env) {
  Config config;
  std::filesystem::path data;
  if (env.xdg_data_home && !env.xdg_data_home->empty())
    data = *env.xdg_data_home;
  else if (env.home && !env.home->empty())
    data = std::filesystem::path(*env.home) / ".local/share";
  if (!data.empty()) config.storage_root = data / "cairn";
  // With neither HOME nor XDG_DATA_HOME there is no safe default (a shared /tmp path could
  // be created first by another user): the store asks for storage.root or --root.
  for (const auto& key : known_keys()) config.origin[std::string(key.name)] = "default";
  return config;
}

std::optional<std::filesystem::path> user_file(const ConfigEnvironment& env) {
  if (env.xdg_config_home && !env.xdg_config_home->empty())
    return std::filesystem::path(*env.xdg_config_home) / "cairn/cairn.toml";
  if (env.home && !env.home->empty())
    return std::filesystem::path(*env.home) / ".config/cairn/cairn.toml";
  return std::nullopt;
}

void apply_file(Config& config, const std::filesystem::path& path, bool must_exist,
                const std::optional<std::string>& home) {
  std::error_code ec;
  const bool present = std::filesystem::exists(path, ec);
  if (ec && ec != std::errc::no_such_file_or_directory)
    throw Error("read config file", path.string(), ec.value());
  if (!present) {
    if (must_exist) throw Error("read config file", path.string(), ENOENT);
    return;
  }
  std::string text;
  try {
    text = sys::read_file(path.string());
  } catch (Error& e) {
    e.context("read config file");
    throw;
  }
  apply_text(config, text, path.string(), home);
  config.files_read.push_back(path);
}

std::optional<std::string> getenv_opt(const char* name) {
  const char* value = std::getenv(name);
  if (!value) return std::nullopt;
  return std::string(value);
}

}  // namespace

ConfigEnvironment ConfigEnvironment::from_process() {
  ConfigEnvironment env;
  env.home = getenv_opt("HOME");
  env.xdg_config_home = getenv_opt("XDG_CONFIG_HOME");
  env.xdg_data_home = getenv_opt("XDG_DATA_HOME");
  return env;
}

void apply_config_text(Config& config, std::string_view toml_text, const std::string& source) {
  apply_text(config, toml_text, source, getenv_opt("HOME"));
}

Config load_config(const ConfigOverrides& overrides, const ConfigEnvironment& environment) {
  Config config = defaults(environment);
  if (overrides.config_file) {
    apply_file(config, *overrides.config_file, true, environment.home);
  } else {
    apply_file(config, environment.system_file, false, environment.home);
    if (auto path = user_file(environment)) apply_file(config, *path, false, environment.home);
  }
  if (overrides.storage_root) {
    config.storage_root = *overrides.storage_root;
    config.origin["storage.root"] = "flag --root";
  }
  if (overrides.log_level) {
    config.log_level = *overrides.log_level;
    config.origin["log.level"] = "flag --log-level";
  }
  if (overrides.timings) {
    config.timings = *overrides.timings;
    config.origin["log.timings"] = "flag --timings";
  }
  return config;
}

static std::string toml_quote(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {  // TOML forbids them raw
      out += fmt::format("\\u{:04x}", static_cast<int>(c));
      continue;
    }
    out += c;
  }
  return out + "\"";
}

template <typename Origin>
std::string render_registry(const Config& config, const Origin& origin) {
  const RegistrySettings& r = config.registry;
  auto list = [](const std::vector<std::string>& items) {
    std::string out = "[";
    for (std::size_t i = 0; i < items.size(); ++i) out += (i ? ", " : "") + toml_quote(items[i]);
    return out + "]";
  };
  std::string out = "\n[registry]\n";
  out += fmt::format("search = {}  # {}\n", list(r.search), origin("registry.search"));
  out += fmt::format("timeout = {}  # {}\n", r.timeout_seconds, origin("registry.timeout"));
  out += fmt::format("retries = {}  # {}\n", r.retries, origin("registry.retries"));
  out += fmt::format("parallel = {}  # {}\n", r.parallel, origin("registry.parallel"));
  out += fmt::format("chunk_size = {}  # {}\n", r.chunk_size, origin("registry.chunk_size"));
  for (const auto& [host, h] : r.hosts) {
    out += fmt::format("\n[registry.hosts.{}]  # {}\n", toml_quote(host), origin("registry.hosts"));
    out += fmt::format("insecure = {}\n", h.insecure ? "true" : "false");
    if (!h.ca_file.empty()) out += fmt::format("ca_file = {}\n", toml_quote(h.ca_file.string()));
    if (!h.mirrors.empty()) out += fmt::format("mirrors = {}\n", list(h.mirrors));
  }
  return out;
}

std::string render_config(const Config& config) {
  auto origin = [&](const char* key) {
    auto it = config.origin.find(key);
    return it == config.origin.end() ? std::string("default") : it->second;
  };
  std::string out;
  out += "[storage]\n";
  out += fmt::format("root = {}  # {}\n", toml_quote(config.storage_root.string()),
                     origin("storage.root"));
  out += fmt::format("max_layer_size = {}  # {}\n", config.max_layer_size,
                     origin("storage.max_layer_size"));
  out += "\n[log]\n";
  out += fmt::format("level = \"{}\"  # {}\n", log_level_name(config.log_level),
                     origin("log.level"));
  out += fmt::format("timings = {}  # {}\n", config.timings ? "true" : "false",
                     origin("log.timings"));
  out += "\n[sandbox]\n";
  out += fmt::format("userns = \"{}\"  # {}\n", config.userns, origin("sandbox.userns"));
  out += render_registry(config, origin);
  return out;
}

}  // namespace cairn
