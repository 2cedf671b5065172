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
            "userns = \"auto\"  # default\n");
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

}  // namespace
}  // namespace cairn
