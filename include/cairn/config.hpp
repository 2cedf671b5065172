// cairn.toml: the user's and the system's settings, merged with command-line flags.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "cairn/base/log.hpp"

namespace cairn {

// [registry.hosts."HOST"]: how to reach one registry (HOST as in references: "quay.io",
// "localhost:5000", "docker.io").
struct RegistryHost {
  // Plain HTTP allowed, and TLS certificates not verified (docker's "insecure-registries").
  bool insecure = false;
  std::filesystem::path ca_file;     // extra CA certificates (PEM) trusted for this host
  std::vector<std::string> mirrors;  // tried in order for pulls, before HOST itself
};

// [registry]
struct RegistrySettings {
  // Registries an unqualified name ("alpine") is looked up in, in order (pull only).
  std::vector<std::string> search = {"docker.io"};
  int timeout_seconds = 30;  // connecting, and a transfer that moves no byte for this long
  int retries = 3;           // per request, on connection failures, 5xx and 429
  int parallel = 4;          // blobs transferred at once
  std::uint64_t chunk_size = 0;  // upload in PATCH chunks of this size; 0: one PUT
  std::map<std::string, RegistryHost> hosts;
};

struct Config {
  std::filesystem::path storage_root;  // storage.root
  LogLevel log_level = LogLevel::warn;  // log.level
  bool timings = false;                 // log.timings
  std::uint64_t max_layer_size = 64ull << 30;  // storage.max_layer_size (bytes unpacked)
  // sandbox.userns: "auto" (range mode when newuidmap and a subuid range exist, else
  // single-id), "single" or "range".
  std::string userns = "auto";
  RegistrySettings registry;

  // Where each setting came from ("default", a file path, or "flag"), for `cairn config`.
  std::map<std::string, std::string> origin;
  std::vector<std::filesystem::path> files_read;
};

// What the command line says; set fields win over every file.
struct ConfigOverrides {
  std::optional<std::filesystem::path> config_file;  // --config: read only this file
  std::optional<std::filesystem::path> storage_root;  // --root
  std::optional<LogLevel> log_level;                  // --log-level / --debug
  std::optional<bool> timings;                        // --timings
};

// The environment the defaults depend on, passed in so that tests need not touch the
// process environment.
struct ConfigEnvironment {
  std::optional<std::string> home;             // $HOME
  std::optional<std::string> xdg_config_home;  // $XDG_CONFIG_HOME
  std::optional<std::string> xdg_data_home;    // $XDG_DATA_HOME
  std::filesystem::path system_file = "/etc/cairn/cairn.toml";

  static ConfigEnvironment from_process();
};

// Defaults, then /etc/cairn/cairn.toml, then $XDG_CONFIG_HOME/cairn/cairn.toml (each when
// present) — or only --config FILE when given (it must exist) — then flags. Throws Error
// naming FILE:LINE:COLUMN for a TOML syntax error, an unknown key or a wrong type.
Config load_config(const ConfigOverrides& overrides, const ConfigEnvironment& environment);

// Applies one TOML document to `config` (used by load_config; exposed for tests).
void apply_config_text(Config& config, std::string_view toml_text, const std::string& source);

// The effective settings as TOML, each with a comment naming where it came from.
std::string render_config(const Config& config);

}  // namespace cairn
