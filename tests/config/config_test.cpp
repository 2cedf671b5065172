#include "cairn/config.hpp"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <cerrno>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "cairn/base/error.hpp"

namespace cairn {
namespace {

namespace fs = std::filesystem;

// A scratch tree standing in for HOME, XDG directories and /etc; removed afterwards.
class ConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "cairn-config-test-XXXXXX").string();
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    root_ = pattern;
    env_.home = (root_ / "home").string();
    env_.system_file = root_ / "etc/cairn/cairn.toml";
    fs::create_directories(root_ / "home");
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(root_, ec);
  }

  // Writes `text` to `path`, creating parent directories; returns the path.
  static fs::path write(const fs::path& path, const std::string& text) {
    fs::create_directories(path.parent_path());
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << text;
    out.close();
    if (!out) ADD_FAILURE() << "cannot write " << path;
    return path;
  }

  fs::path home() const { return *env_.home; }
  fs::path home_user_file() const { return home() / ".config/cairn/cairn.toml"; }

  Config load(const ConfigOverrides& overrides = {}) { return load_config(overrides, env_); }

  // Loads expecting an Error; returns its text.
  std::string load_error(const ConfigOverrides& overrides = {}) {
    try {
      load(overrides);
    } catch (const Error& e) {
      return e.what();
    }
    ADD_FAILURE() << "expected load_config to throw";
    return "";
  }

  // Loads a --config file with `text`; expects an Error and returns its text.
  std::string error_for(const std::string& text) {
    ConfigOverrides overrides;
    overrides.config_file = write(root_ / "bad.toml", text);
    return load_error(overrides);
  }
  std::string bad_file() const { return (root_ / "bad.toml").string(); }

  fs::path root_;
  ConfigEnvironment env_;
};

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

// --- defaults ---------------------------------------------------------------------------

TEST_F(ConfigTest, DefaultsWithoutAnyFile) {
  const Config config = load();
  EXPECT_EQ(config.storage_root, home() / ".local/share/cairn");
  EXPECT_EQ(config.log_level, LogLevel::warn);
  EXPECT_FALSE(config.timings);
  EXPECT_TRUE(config.files_read.empty());
  EXPECT_EQ(config.origin.at("storage.root"), "default");
  EXPECT_EQ(config.origin.at("log.level"), "default");
  EXPECT_EQ(config.origin.at("log.timings"), "default");
}

TEST_F(ConfigTest, StorageRootDefaultsToXdgDataHome) {
  env_.xdg_data_home = (root_ / "data").string();
  EXPECT_EQ(load().storage_root, root_ / "data/cairn");
}

TEST_F(ConfigTest, EmptyXdgDataHomeFallsBackToHome) {
  env_.xdg_data_home = "";
  EXPECT_EQ(load().storage_root, home() / ".local/share/cairn");
}

// --- which files are read ---------------------------------------------------------------

TEST_F(ConfigTest, SystemFileIsRead) {
  write(env_.system_file, "[log]\nlevel = \"info\"\n");
  const Config config = load();
  EXPECT_EQ(config.log_level, LogLevel::info);
  EXPECT_EQ(config.origin.at("log.level"), env_.system_file.string());
  EXPECT_EQ(config.origin.at("storage.root"), "default");
  EXPECT_EQ(config.files_read, std::vector<fs::path>{env_.system_file});
}

TEST_F(ConfigTest, UserFileUnderXdgConfigHome) {
  env_.xdg_config_home = (root_ / "xdg-config").string();
  const fs::path user = write(root_ / "xdg-config/cairn/cairn.toml", "[log]\ntimings = true\n");
  // The HOME location is not consulted when XDG_CONFIG_HOME is set.
  write(home_user_file(), "[log]\nlevel = \"trace\"\n");
  const Config config = load();
  EXPECT_TRUE(config.timings);
  EXPECT_EQ(config.log_level, LogLevel::warn);
  EXPECT_EQ(config.origin.at("log.timings"), user.string());
  EXPECT_EQ(config.files_read, std::vector<fs::path>{user});
}

TEST_F(ConfigTest, UserFileUnderHomeWithoutXdgConfigHome) {
  write(home_user_file(), "[log]\nlevel = \"debug\"\n");
  const Config config = load();
  EXPECT_EQ(config.log_level, LogLevel::debug);
  EXPECT_EQ(config.origin.at("log.level"), home_user_file().string());
  EXPECT_EQ(config.files_read, std::vector<fs::path>{home_user_file()});
}

TEST_F(ConfigTest, EmptyXdgConfigHomeFallsBackToHome) {
  env_.xdg_config_home = "";
  write(home_user_file(), "[log]\nlevel = \"debug\"\n");
  EXPECT_EQ(load().log_level, LogLevel::debug);
}

TEST_F(ConfigTest, UserFileWinsOverSystemFileKeyByKey) {
  write(env_.system_file,
        "[storage]\nroot = \"/srv/system\"\n[log]\nlevel = \"debug\"\ntimings = true\n");
  write(home_user_file(), "[log]\nlevel = \"error\"\n");
  const Config config = load();
  EXPECT_EQ(config.log_level, LogLevel::error);
  EXPECT_EQ(config.origin.at("log.level"), home_user_file().string());
  // Keys the user file does not set keep the system file's values.
  EXPECT_TRUE(config.timings);
  EXPECT_EQ(config.origin.at("log.timings"), env_.system_file.string());
  EXPECT_EQ(config.storage_root, "/srv/system");
  EXPECT_EQ(config.files_read, (std::vector<fs::path>{env_.system_file, home_user_file()}));
}

TEST_F(ConfigTest, ConfigFlagReplacesBothFiles) {
  write(env_.system_file, "[log]\nlevel = \"debug\"\n");
  write(home_user_file(), "[log]\ntimings = true\n");
  ConfigOverrides overrides;
  overrides.config_file = write(root_ / "only.toml", "[storage]\nroot = \"/srv/only\"\n");
  const Config config = load(overrides);
  EXPECT_EQ(config.storage_root, "/srv/only");
  EXPECT_EQ(config.origin.at("storage.root"), (root_ / "only.toml").string());
  EXPECT_EQ(config.log_level, LogLevel::warn);
  EXPECT_FALSE(config.timings);
  EXPECT_EQ(config.origin.at("log.level"), "default");
  EXPECT_EQ(config.origin.at("log.timings"), "default");
  EXPECT_EQ(config.files_read, std::vector<fs::path>{root_ / "only.toml"});
}

TEST_F(ConfigTest, MissingConfigFlagFileIsAnErrorNamingIt) {
  ConfigOverrides overrides;
  overrides.config_file = root_ / "absent.toml";
  try {
    load(overrides);
    FAIL() << "a missing --config file must be an error";
  } catch (const Error& e) {
    EXPECT_TRUE(contains(e.what(), (root_ / "absent.toml").string())) << e.what();
    EXPECT_EQ(e.errno_value(), ENOENT);
  }
}

TEST_F(ConfigTest, MissingDefaultFilesAreNotAnError) {
  env_.system_file = root_ / "no/such/system.toml";
  env_.xdg_config_home = (root_ / "no/such/xdg").string();
  EXPECT_NO_THROW(load());
}

// --- command-line overrides -------------------------------------------------------------

TEST_F(ConfigTest, FlagsWinOverFiles) {
  write(env_.system_file, "[storage]\nroot = \"/srv/system\"\n[log]\nlevel = \"debug\"\n");
  write(home_user_file(), "[log]\ntimings = true\n");
  ConfigOverrides overrides;
  overrides.storage_root = "/srv/flag";
  overrides.log_level = LogLevel::trace;
  overrides.timings = false;
  const Config config = load(overrides);
  EXPECT_EQ(config.storage_root, "/srv/flag");
  EXPECT_EQ(config.log_level, LogLevel::trace);
  EXPECT_FALSE(config.timings);
  EXPECT_EQ(config.origin.at("storage.root"), "flag --root");
  EXPECT_EQ(config.origin.at("log.level"), "flag --log-level");
  EXPECT_EQ(config.origin.at("log.timings"), "flag --timings");
}

TEST_F(ConfigTest, FlagsWinOverTheConfigFlagFile) {
  ConfigOverrides overrides;
  overrides.config_file = write(root_ / "c.toml", "[log]\nlevel = \"error\"\ntimings = false\n");
  overrides.timings = true;
  const Config config = load(overrides);
  EXPECT_TRUE(config.timings);
  EXPECT_EQ(config.origin.at("log.timings"), "flag --timings");
  EXPECT_EQ(config.log_level, LogLevel::error);
  EXPECT_EQ(config.origin.at("log.level"), (root_ / "c.toml").string());
}

TEST_F(ConfigTest, UnsetFlagsLeaveFileValuesAlone) {
  write(home_user_file(), "[log]\nlevel = \"info\"\n");
  ConfigOverrides overrides;
  overrides.storage_root = "/srv/flag";
  const Config config = load(overrides);
  EXPECT_EQ(config.log_level, LogLevel::info);
  EXPECT_EQ(config.origin.at("log.level"), home_user_file().string());
}

// --- values -----------------------------------------------------------------------------

TEST_F(ConfigTest, AllKeysAreApplied) {
  write(home_user_file(),
        "# comment\n[storage]\nroot = \"/var/lib/cairn\"\n\n[log]\nlevel = \"trace\"\n"
        "timings = true\n");
  const Config config = load();
  EXPECT_EQ(config.storage_root, "/var/lib/cairn");
  EXPECT_EQ(config.log_level, LogLevel::trace);
  EXPECT_TRUE(config.timings);
}

TEST_F(ConfigTest, DottedKeysAndInlineTablesAreAccepted) {
  write(home_user_file(), "storage.root = \"/a\"\nlog = { level = \"debug\", timings = true }\n");
  const Config config = load();
  EXPECT_EQ(config.storage_root, "/a");
  EXPECT_EQ(config.log_level, LogLevel::debug);
  EXPECT_TRUE(config.timings);
}

TEST_F(ConfigTest, WarningIsAcceptedAsALogLevel) {
  write(home_user_file(), "[log]\nlevel = \"warning\"\n");
  EXPECT_EQ(load().log_level, LogLevel::warn);
}

TEST_F(ConfigTest, TildeSlashInStorageRootExpandsToHome) {
  write(home_user_file(), "[storage]\nroot = \"~/images\"\n");
  EXPECT_EQ(load().storage_root, home() / "images");
}

TEST_F(ConfigTest, LoneTildeExpandsToHome) {
  write(home_user_file(), "[storage]\nroot = \"~\"\n");
  EXPECT_EQ(load().storage_root, home());
}

TEST_F(ConfigTest, TildeElsewhereIsLiteral) {
  write(home_user_file(), "[storage]\nroot = \"~other/images\"\n");
  EXPECT_EQ(load().storage_root, "~other/images");
  write(home_user_file(), "[storage]\nroot = \"/srv/~/images\"\n");
  EXPECT_EQ(load().storage_root, "/srv/~/images");
}

TEST_F(ConfigTest, ApplyConfigTextRecordsTheSourceAsOrigin) {
  Config config;
  apply_config_text(config, "[log]\nlevel = \"info\"\n", "inline text");
  EXPECT_EQ(config.log_level, LogLevel::info);
  EXPECT_EQ(config.origin.at("log.level"), "inline text");
  EXPECT_EQ(config.origin.count("storage.root"), 0u);
  EXPECT_TRUE(config.files_read.empty());
}

// --- errors -----------------------------------------------------------------------------

TEST_F(ConfigTest, UnknownKeyNamesFileLineColumnAndDottedKey) {
  const std::string error = error_for("[storage]\nrot = \"x\"\n");
  EXPECT_TRUE(contains(error, bad_file() + ":2:1")) << error;
  EXPECT_TRUE(contains(error, "storage.rot")) << error;
  EXPECT_TRUE(contains(error, "unknown key")) << error;
}

TEST_F(ConfigTest, UnknownTopLevelKey) {
  const std::string error = error_for("\n\ncolour = true\n");
  EXPECT_TRUE(contains(error, bad_file() + ":3:1")) << error;
  EXPECT_TRUE(contains(error, "'colour'")) << error;
}

TEST_F(ConfigTest, UnknownTableIsAnError) {
  const std::string error = error_for("[log]\nlevel = \"info\"\n\n[network]\nproxy = \"x\"\n");
  EXPECT_TRUE(contains(error, bad_file() + ":4:")) << error;
  EXPECT_TRUE(contains(error, "unknown key 'network'")) << error;
}

TEST_F(ConfigTest, KnownTableGivenAPlainValueIsAWrongTypeNotAnUnknownKey) {
  std::string error = error_for("storage = \"/srv/cairn\"\n");
  EXPECT_TRUE(contains(error, bad_file() + ":1:1")) << error;
  EXPECT_TRUE(contains(error, "'storage' must be a table, not a string")) << error;

  error = error_for("log = true\n");
  EXPECT_TRUE(contains(error, "'log' must be a table, not a boolean")) << error;
}

TEST_F(ConfigTest, KnownKeyUnderTheWrongTableIsUnknown) {
  const std::string error = error_for("[log]\nroot = \"/x\"\n");
  EXPECT_TRUE(contains(error, bad_file() + ":2:1")) << error;
  EXPECT_TRUE(contains(error, "log.root")) << error;
}

TEST_F(ConfigTest, WrongTypeSaysWhatWasExpectedAndWhatWasFound) {
  std::string error = error_for("[storage]\nroot = 42\n");
  EXPECT_TRUE(contains(error, bad_file() + ":2:1")) << error;
  EXPECT_TRUE(contains(error, "storage.root")) << error;
  EXPECT_TRUE(contains(error, "must be a string, not an integer")) << error;

  error = error_for("[log]\ntimings = \"yes\"\n");
  EXPECT_TRUE(contains(error, bad_file() + ":2:1")) << error;
  EXPECT_TRUE(contains(error, "must be a boolean, not a string")) << error;

  error = error_for("[log]\nlevel = [\"info\"]\n");
  EXPECT_TRUE(contains(error, "must be a string, not an array")) << error;

  error = error_for("[storage.root]\nx = 1\n");
  EXPECT_TRUE(contains(error, "must be a string, not a table")) << error;
}

TEST_F(ConfigTest, InvalidLogLevelValue) {
  const std::string error = error_for("[log]\nlevel = \"loud\"\n");
  EXPECT_TRUE(contains(error, bad_file() + ":2:1")) << error;
  EXPECT_TRUE(contains(error, "log.level")) << error;
  EXPECT_TRUE(contains(error, "\"loud\"")) << error;
}

TEST_F(ConfigTest, EmptyStorageRootIsAnError) {
  const std::string error = error_for("[storage]\nroot = \"\"\n");
  EXPECT_TRUE(contains(error, bad_file() + ":2:1")) << error;
  EXPECT_TRUE(contains(error, "storage.root")) << error;
}

TEST_F(ConfigTest, SyntaxErrorNamesFileAndLine) {
  std::string error = error_for("[log]\nlevel = \"info\"\ntimings = \n");
  EXPECT_TRUE(contains(error, bad_file() + ":3:")) << error;

  error = error_for("[storage\nroot = \"x\"\n");
  EXPECT_TRUE(contains(error, bad_file() + ":1:")) << error;
}

TEST_F(ConfigTest, ErrorsInTheSystemFileNameTheSystemFile) {
  write(env_.system_file, "[log]\nlevle = \"info\"\n");
  const std::string error = load_error();
  EXPECT_TRUE(contains(error, env_.system_file.string() + ":2:1")) << error;
  EXPECT_TRUE(contains(error, "log.levle")) << error;
}

TEST_F(ConfigTest, ErrorsInTheUserFileNameTheUserFile) {
  write(home_user_file(), "[log]\nlevel = 1\n");
  const std::string error = load_error();
  EXPECT_TRUE(contains(error, home_user_file().string() + ":2:1")) << error;
}

// --- render_config ----------------------------------------------------------------------

TEST_F(ConfigTest, RenderShowsEveryValueWithItsOrigin) {
  write(home_user_file(), "[storage]\nroot = \"/srv/cairn\"\n");
  ConfigOverrides overrides;
  overrides.log_level = LogLevel::debug;
  const std::string text = render_config(load(overrides));
  EXPECT_EQ(text,
            "[storage]\n"
            "root = \"/srv/cairn\"  # " +
                home_user_file().string() +
                "\n"
                "max_layer_size = 68719476736  # default\n"
                "\n[log]\n"
                "level = \"debug\"  # flag --log-level\n"
                "timings = false  # default\n"
            "\n[sandbox]\n"
            "userns = \"auto\"  # default\n"
            "\n[registry]\n"
            "search = [\"docker.io\"]  # default\n"
            "timeout = 30  # default\n"
            "retries = 3  # default\n"
            "parallel = 4  # default\n"
            "chunk_size = 0  # default\n");
}

TEST_F(ConfigTest, RenderedConfigReadsBackToTheSameValues) {
  Config config = load();
  config.storage_root =
      "/srv/odd \"quoted\" \\back\\slash\ttab\nnewline\x7f"
      "del/é";
  config.log_level = LogLevel::trace;
  config.timings = true;
  const std::string text = render_config(config);
  Config reread;
  try {
    apply_config_text(reread, text, "rendered");
  } catch (const Error& e) {
    FAIL() << "render_config produced invalid TOML: " << e.what() << "\n" << text;
  }
  EXPECT_EQ(reread.storage_root, config.storage_root);
  EXPECT_EQ(reread.log_level, LogLevel::trace);
  EXPECT_TRUE(reread.timings);
}

TEST(ConfigSandbox, UsernsTakesAutoSingleOrRange) {
  Config c;
  EXPECT_EQ(c.userns, "auto");
  apply_config_text(c, "[sandbox]\nuserns = \"single\"\n", "t.toml");
  EXPECT_EQ(c.userns, "single");
  EXPECT_THROW(apply_config_text(c, "[sandbox]\nuserns = \"keep-id\"\n", "t.toml"), Error);
  EXPECT_NE(render_config(c).find("[sandbox]\nuserns = \"single\""), std::string::npos);
}


// --- [registry] -------------------------------------------------------------------------

TEST_F(ConfigTest, RegistryDefaults) {
  const Config config = load();
  EXPECT_EQ(config.registry.search, std::vector<std::string>{"docker.io"});
  EXPECT_EQ(config.registry.timeout_seconds, 30);
  EXPECT_EQ(config.registry.retries, 3);
  EXPECT_EQ(config.registry.parallel, 4);
  EXPECT_EQ(config.registry.chunk_size, 0u);
  EXPECT_TRUE(config.registry.hosts.empty());
  EXPECT_EQ(config.origin.at("registry.search"), "default");
  EXPECT_EQ(config.origin.at("registry.chunk_size"), "default");
}

TEST_F(ConfigTest, RegistryKeysAreApplied) {
  write(home_user_file(),
        "[registry]\n"
        "search = [\"quay.io\", \"docker.io\"]\n"
        "timeout = 90\n"
        "retries = 0\n"
        "parallel = 16\n"
        "chunk_size = 5242880\n");
  const Config config = load();
  EXPECT_EQ(config.registry.search, (std::vector<std::string>{"quay.io", "docker.io"}));
  EXPECT_EQ(config.registry.timeout_seconds, 90);
  EXPECT_EQ(config.registry.retries, 0);
  EXPECT_EQ(config.registry.parallel, 16);
  EXPECT_EQ(config.registry.chunk_size, 5242880u);
  for (const char* key : {"registry.search", "registry.timeout", "registry.retries",
                          "registry.parallel", "registry.chunk_size"})
    EXPECT_EQ(config.origin.at(key), home_user_file().string()) << key;
}

TEST_F(ConfigTest, RegistryHostsTables) {
  write(home_user_file(),
        "[registry.hosts.\"localhost:5000\"]\n"
        "insecure = true\n"
        "\n"
        "[registry.hosts.\"quay.io\"]\n"
        "ca_file = \"~/certs/quay.pem\"\n"
        "mirrors = [\"mirror.example.com\", \"localhost:5001\"]\n");
  const Config config = load();
  ASSERT_EQ(config.registry.hosts.size(), 2u);
  const RegistryHost& local = config.registry.hosts.at("localhost:5000");
  EXPECT_TRUE(local.insecure);
  EXPECT_TRUE(local.ca_file.empty());
  EXPECT_TRUE(local.mirrors.empty());
  const RegistryHost& quay = config.registry.hosts.at("quay.io");
  EXPECT_FALSE(quay.insecure);
  EXPECT_EQ(quay.ca_file, home() / "certs/quay.pem");
  EXPECT_EQ(quay.mirrors, (std::vector<std::string>{"mirror.example.com", "localhost:5001"}));
  EXPECT_EQ(config.origin.at("registry.hosts"), home_user_file().string());
  // Other registry settings keep their defaults.
  EXPECT_EQ(config.registry.search, std::vector<std::string>{"docker.io"});
  EXPECT_EQ(config.origin.at("registry.search"), "default");
}

TEST_F(ConfigTest, RegistryHostsAsInlineTablesAndDottedKeys) {
  write(home_user_file(),
        "[registry]\n"
        "hosts = { \"[::1]:5000\" = { insecure = true }, \"docker.io\" = { mirrors = "
        "[\"mirror.gcr.io\"] } }\n");
  const Config config = load();
  EXPECT_TRUE(config.registry.hosts.at("[::1]:5000").insecure);
  EXPECT_EQ(config.registry.hosts.at("docker.io").mirrors,
            std::vector<std::string>{"mirror.gcr.io"});

  write(home_user_file(), "registry.hosts.\"registry.local\".insecure = true\n");
  EXPECT_TRUE(load().registry.hosts.at("registry.local").insecure);
}

TEST_F(ConfigTest, RegistryHostSettingsMergeAcrossFilesKeyByKey) {
  write(env_.system_file,
        "[registry.hosts.\"r.example.com\"]\nca_file = \"/etc/ca.pem\"\ninsecure = true\n");
  write(home_user_file(), "[registry.hosts.\"r.example.com\"]\ninsecure = false\n");
  const Config config = load();
  const RegistryHost& host = config.registry.hosts.at("r.example.com");
  EXPECT_FALSE(host.insecure);
  EXPECT_EQ(host.ca_file, "/etc/ca.pem");
}

TEST_F(ConfigTest, EmptyRegistrySearchIsAllowed) {
  write(home_user_file(), "[registry]\nsearch = []\n");
  EXPECT_TRUE(load().registry.search.empty());
}

TEST_F(ConfigTest, RegistryWrongTypes) {
  std::string error = error_for("[registry]\ntimeout = \"30\"\n");
  EXPECT_TRUE(contains(error, bad_file() + ":2:1")) << error;
  EXPECT_TRUE(contains(error, "'registry.timeout' must be an integer, not a string")) << error;

  error = error_for("[registry]\nsearch = \"docker.io\"\n");
  EXPECT_TRUE(contains(error, bad_file() + ":2:1")) << error;
  EXPECT_TRUE(contains(error, "'registry.search' must be an array, not a string")) << error;

  error = error_for("[registry]\n\nparallel = 2.5\n");
  EXPECT_TRUE(contains(error, bad_file() + ":3:1")) << error;
  EXPECT_TRUE(contains(error, "must be an integer, not a float")) << error;

  error = error_for("[registry]\nsearch = [\"quay.io\", 7]\n");
  EXPECT_TRUE(contains(error, bad_file() + ":2:1")) << error;
  EXPECT_TRUE(contains(error, "registry.search")) << error;
  EXPECT_TRUE(contains(error, "non-empty string")) << error;

  error = error_for("registry = [1]\n");
  EXPECT_TRUE(contains(error, bad_file() + ":1:1")) << error;
  EXPECT_TRUE(contains(error, "'registry' must be a table, not an array")) << error;

  error = error_for("[registry]\nhosts = \"localhost:5000\"\n");
  EXPECT_TRUE(contains(error, bad_file() + ":2:1")) << error;
  EXPECT_TRUE(contains(error, "'registry.hosts' must be a table, not a string")) << error;
}

TEST_F(ConfigTest, RegistryHostWrongTypes) {
  std::string error = error_for("[registry.hosts.\"localhost:5000\"]\ninsecure = \"yes\"\n");
  EXPECT_TRUE(contains(error, bad_file() + ":2:1")) << error;
  EXPECT_TRUE(contains(error, "registry.hosts.\"localhost:5000\".insecure")) << error;
  EXPECT_TRUE(contains(error, "must be a boolean, not a string")) << error;

  error = error_for("[registry.hosts.\"quay.io\"]\n\nca_file = 1\n");
  EXPECT_TRUE(contains(error, bad_file() + ":3:1")) << error;
  EXPECT_TRUE(contains(error, "must be a string, not an integer")) << error;

  error = error_for("[registry.hosts.\"quay.io\"]\nmirrors = \"m.example.com\"\n");
  EXPECT_TRUE(contains(error, bad_file() + ":2:1")) << error;
  EXPECT_TRUE(contains(error, "must be an array, not a string")) << error;

  error = error_for("[registry.hosts]\n\"quay.io\" = true\n");
  EXPECT_TRUE(contains(error, bad_file() + ":2:1")) << error;
  EXPECT_TRUE(contains(error, "registry.hosts.\"quay.io\" must be a table")) << error;
}

TEST_F(ConfigTest, UnknownRegistryHostKeyListsTheKnownOnes) {
  const std::string error =
      error_for("[registry.hosts.\"localhost:5000\"]\ninsecure = true\nverify = false\n");
  EXPECT_TRUE(contains(error, bad_file() + ":3:1")) << error;
  EXPECT_TRUE(contains(error, "unknown key 'registry.hosts.\"localhost:5000\".verify'")) << error;
  EXPECT_TRUE(contains(error, "insecure, ca_file, mirrors")) << error;
}

TEST_F(ConfigTest, UnknownRegistryKey) {
  const std::string error = error_for("[registry]\nmirrors = [\"x.io\"]\n");
  EXPECT_TRUE(contains(error, bad_file() + ":2:1")) << error;
  EXPECT_TRUE(contains(error, "unknown key 'registry.mirrors'")) << error;
}

TEST_F(ConfigTest, BadRegistryHostNames) {
  std::string error = error_for("[registry.hosts.\"http://x\"]\ninsecure = true\n");
  EXPECT_TRUE(contains(error, bad_file() + ":1:")) << error;
  EXPECT_TRUE(contains(error, "\"http://x\" is not a registry host")) << error;

  error = error_for("[registry]\n\nhosts.\"quay.io/org\".insecure = true\n");
  EXPECT_TRUE(contains(error, bad_file() + ":3:")) << error;
  EXPECT_TRUE(contains(error, "\"quay.io/org\" is not a registry host")) << error;

  error = error_for("[registry.hosts.\"\"]\ninsecure = true\n");
  EXPECT_TRUE(contains(error, bad_file() + ":1:")) << error;
  EXPECT_TRUE(contains(error, "is not a registry host")) << error;

  error = error_for("[registry]\nsearch = [\"docker.io\", \"https://quay.io\"]\n");
  EXPECT_TRUE(contains(error, bad_file() + ":2:1")) << error;
  EXPECT_TRUE(contains(error, "\"https://quay.io\" is not a registry host")) << error;

  error = error_for("[registry]\nsearch = [\"\"]\n");
  EXPECT_TRUE(contains(error, bad_file() + ":2:1")) << error;

  error = error_for("[registry.hosts.\"docker.io\"]\nmirrors = [\"user@mirror.example.com\"]\n");
  EXPECT_TRUE(contains(error, bad_file() + ":2:1")) << error;
  EXPECT_TRUE(contains(error, "\"user@mirror.example.com\" is not a registry host")) << error;
}

TEST_F(ConfigTest, RegistryNumbersOutOfRange) {
  struct Case {
    const char* text;
    const char* message;
  };
  for (const Case& c : std::vector<Case>{
           {"[registry]\ntimeout = 0\n", "registry.timeout must be between 1 and 3600, not 0"},
           {"[registry]\ntimeout = 3601\n", "registry.timeout must be between 1 and 3600"},
           {"[registry]\ntimeout = -5\n", "registry.timeout must be between 1 and 3600"},
           {"[registry]\nparallel = 0\n", "registry.parallel must be between 1 and 64"},
           {"[registry]\nparallel = 65\n", "registry.parallel must be between 1 and 64, not 65"},
           {"[registry]\nretries = -1\n", "registry.retries must be between 0 and 100"},
           {"[registry]\nretries = 101\n", "registry.retries must be between 0 and 100"},
           {"[registry]\nchunk_size = -1\n", "registry.chunk_size must not be negative"},
       }) {
    const std::string error = error_for(c.text);
    EXPECT_TRUE(contains(error, bad_file() + ":2:1")) << c.text << error;
    EXPECT_TRUE(contains(error, c.message)) << c.text << error;
  }
}

TEST_F(ConfigTest, RegistryNumbersAtTheirLimitsAreAccepted) {
  write(home_user_file(), "[registry]\ntimeout = 3600\nretries = 100\nparallel = 64\n");
  Config config = load();
  EXPECT_EQ(config.registry.timeout_seconds, 3600);
  EXPECT_EQ(config.registry.retries, 100);
  EXPECT_EQ(config.registry.parallel, 64);
  write(home_user_file(), "[registry]\ntimeout = 1\nparallel = 1\n");
  config = load();
  EXPECT_EQ(config.registry.timeout_seconds, 1);
  EXPECT_EQ(config.registry.parallel, 1);
}

TEST_F(ConfigTest, RenderShowsTheRegistrySectionAndHosts) {
  write(home_user_file(),
        "[registry]\nsearch = [\"quay.io\", \"docker.io\"]\nparallel = 8\n"
        "[registry.hosts.\"localhost:5000\"]\ninsecure = true\n"
        "[registry.hosts.\"quay.io\"]\nca_file = \"/etc/quay.pem\"\nmirrors = [\"m.example.com\"]\n");
  const std::string text = render_config(load());
  const std::string origin = home_user_file().string();
  EXPECT_TRUE(contains(text, "\n[registry]\n"
                             "search = [\"quay.io\", \"docker.io\"]  # " + origin + "\n"
                             "timeout = 30  # default\n"
                             "retries = 3  # default\n"
                             "parallel = 8  # " + origin + "\n"
                             "chunk_size = 0  # default\n"))
      << text;
  EXPECT_TRUE(contains(text, "\n[registry.hosts.\"localhost:5000\"]  # " + origin + "\n"
                             "insecure = true\n"))
      << text;
  EXPECT_TRUE(contains(text, "\n[registry.hosts.\"quay.io\"]  # " + origin + "\n"
                             "insecure = false\n"
                             "ca_file = \"/etc/quay.pem\"\n"
                             "mirrors = [\"m.example.com\"]\n"))
      << text;
}

TEST_F(ConfigTest, RenderedRegistrySettingsReadBack) {
  Config config = load();
  config.registry.search = {"quay.io", "localhost:5000"};
  config.registry.timeout_seconds = 7;
  config.registry.retries = 0;
  config.registry.parallel = 2;
  config.registry.chunk_size = 1048576;
  config.registry.hosts["localhost:5000"].insecure = true;
  config.registry.hosts["quay.io"].ca_file = "/etc/odd \"name\".pem";
  config.registry.hosts["quay.io"].mirrors = {"a.example.com", "[::1]:5000"};
  const std::string text = render_config(config);
  Config reread;
  try {
    apply_config_text(reread, text, "rendered");
  } catch (const Error& e) {
    FAIL() << "render_config produced invalid TOML: " << e.what() << "\n" << text;
  }
  EXPECT_EQ(reread.registry.search, config.registry.search);
  EXPECT_EQ(reread.registry.timeout_seconds, 7);
  EXPECT_EQ(reread.registry.retries, 0);
  EXPECT_EQ(reread.registry.parallel, 2);
  EXPECT_EQ(reread.registry.chunk_size, 1048576u);
  ASSERT_EQ(reread.registry.hosts.size(), 2u);
  EXPECT_TRUE(reread.registry.hosts.at("localhost:5000").insecure);
  EXPECT_FALSE(reread.registry.hosts.at("quay.io").insecure);
  EXPECT_EQ(reread.registry.hosts.at("quay.io").ca_file, "/etc/odd \"name\".pem");
  EXPECT_EQ(reread.registry.hosts.at("quay.io").mirrors, config.registry.hosts["quay.io"].mirrors);
}

}  // namespace
}  // namespace cairn
