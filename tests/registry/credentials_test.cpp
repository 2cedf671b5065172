// Registry credentials: where the files are, what find() takes from the containers auth.json
// and docker's config.json (auths, identity tokens, credHelpers and credsStore through a fake
// docker-credential-test helper), what save() and remove() write, and base64.
#include "cairn/registry/credentials.hpp"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "../base/catch_error.hpp"
#include "cairn/base/error.hpp"

namespace cairn::registry {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using cairn::testing::catch_error;

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

// Sets (or unsets, with nullopt) an environment variable for the life of the object.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const std::optional<std::string>& value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    if (value)
      ::setenv(name, value->c_str(), 1);
    else
      ::unsetenv(name);
  }
  ~ScopedEnv() {
    if (old_)
      ::setenv(name_, old_->c_str(), 1);
    else
      ::unsetenv(name_);
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  const char* name_;
  std::optional<std::string> old_;
};

// --- CredentialPaths --------------------------------------------------------------------

using Paths = std::vector<fs::path>;

TEST(CredentialPaths, RegistryAuthFileAloneIsSearchedAndWritten) {
  CredentialPaths p;
  p.auth_file = "/x/auth.json";
  p.xdg_runtime_dir = "/run/user/1000";
  p.home = "/home/u";
  p.docker_config = "/dc";
  EXPECT_EQ(p.search_order(), Paths{"/x/auth.json"});
  EXPECT_EQ(p.login_file(), "/x/auth.json");
}

TEST(CredentialPaths, XdgRuntimeDirThenHomeThenDocker) {
  CredentialPaths p;
  p.xdg_runtime_dir = "/run/user/1000";
  p.home = "/home/u";
  EXPECT_EQ(p.search_order(),
            (Paths{"/run/user/1000/containers/auth.json", "/home/u/.config/containers/auth.json",
                   "/home/u/.docker/config.json"}));
  EXPECT_EQ(p.login_file(), "/run/user/1000/containers/auth.json");
}

TEST(CredentialPaths, HomeOnly) {
  CredentialPaths p;
  p.home = "/home/u";
  EXPECT_EQ(p.search_order(),
            (Paths{"/home/u/.config/containers/auth.json", "/home/u/.docker/config.json"}));
  EXPECT_EQ(p.login_file(), "/home/u/.config/containers/auth.json");
}

TEST(CredentialPaths, DockerConfigReplacesHomeDotDocker) {
  CredentialPaths p;
  p.home = "/home/u";
  p.docker_config = "/etc/dc";
  EXPECT_EQ(p.search_order(),
            (Paths{"/home/u/.config/containers/auth.json", "/etc/dc/config.json"}));
  // cairn login writes the containers format, never docker's file.
  EXPECT_EQ(p.login_file(), "/home/u/.config/containers/auth.json");
}

TEST(CredentialPaths, DockerConfigWithoutHomeHasNoLoginFile) {
  CredentialPaths p;
  p.docker_config = "/etc/dc";
  EXPECT_EQ(p.search_order(), Paths{"/etc/dc/config.json"});
  const Error e = catch_error([&] { (void)p.login_file(); });
  EXPECT_TRUE(contains(e.what(), "REGISTRY_AUTH_FILE")) << e.what();
  EXPECT_TRUE(contains(e.hint_text(), "REGISTRY_AUTH_FILE")) << e.hint_text();
}

TEST(CredentialPaths, NothingSetSearchesNothing) {
  CredentialPaths p;
  EXPECT_TRUE(p.search_order().empty());
  EXPECT_THROW((void)p.login_file(), Error);
}

TEST(CredentialPaths, FromProcessReadsTheEnvironmentAndIgnoresEmptyValues) {
  ScopedEnv a("REGISTRY_AUTH_FILE", "/a/auth.json");
  ScopedEnv x("XDG_RUNTIME_DIR", "");
  ScopedEnv h("HOME", "/home/someone");
  ScopedEnv d("DOCKER_CONFIG", std::nullopt);
  const CredentialPaths p = CredentialPaths::from_process();
  EXPECT_EQ(p.auth_file, fs::path("/a/auth.json"));
  EXPECT_EQ(p.xdg_runtime_dir, std::nullopt);
  EXPECT_EQ(p.home, fs::path("/home/someone"));
  EXPECT_EQ(p.docker_config, std::nullopt);
}

// --- base64 and config keys -------------------------------------------------------------

TEST(Base64, EncodesTheRfc4648Vectors) {
  EXPECT_EQ(base64_encode(""), "");
  EXPECT_EQ(base64_encode("f"), "Zg==");
  EXPECT_EQ(base64_encode("fo"), "Zm8=");
  EXPECT_EQ(base64_encode("foo"), "Zm9v");
  EXPECT_EQ(base64_encode("foob"), "Zm9vYg==");
  EXPECT_EQ(base64_encode("fooba"), "Zm9vYmE=");
  EXPECT_EQ(base64_encode("foobar"), "Zm9vYmFy");
  EXPECT_EQ(base64_encode("u:p"), "dTpw");
}

TEST(Base64, DecodesTheRfc4648VectorsWithEachPadding) {
  EXPECT_EQ(base64_decode(""), "");
  EXPECT_EQ(base64_decode("Zg=="), "f");
  EXPECT_EQ(base64_decode("Zm8="), "fo");
  EXPECT_EQ(base64_decode("Zm9v"), "foo");
  EXPECT_EQ(base64_decode("Zm9vYg=="), "foob");
  EXPECT_EQ(base64_decode("Zm9vYmE="), "fooba");
  EXPECT_EQ(base64_decode("Zm9vYmFy"), "foobar");
}

TEST(Base64, RoundTripsEveryByteValueAndEveryLength) {
  std::string all;
  for (int c = 0; c < 256; ++c) all += static_cast<char>(c);
  EXPECT_EQ(base64_decode(base64_encode(all)), all);
  // Lengths 0..8 cover each padding case several times, including NUL bytes at the end
  // (which the padding count must not eat).
  for (std::size_t n = 0; n <= 8; ++n) {
    const std::string zeros(n, '\0');
    EXPECT_EQ(base64_decode(base64_encode(zeros)), zeros) << n;
    const std::string text = std::string("user:pa:ss").substr(0, n);
    EXPECT_EQ(base64_decode(base64_encode(text)), text) << n;
  }
}

TEST(Base64, RejectsWrongLengthsAndForeignCharacters) {
  EXPECT_EQ(base64_decode("Zg="), std::nullopt);
  EXPECT_EQ(base64_decode("Zg"), std::nullopt);
  EXPECT_EQ(base64_decode("Zm9vY"), std::nullopt);
  EXPECT_EQ(base64_decode("Zm9$"), std::nullopt);
  EXPECT_EQ(base64_decode("Zm9v!!!!"), std::nullopt);
  EXPECT_EQ(base64_decode("Zm-_"), std::nullopt);  // base64url is not base64
  EXPECT_EQ(base64_decode("Zm9\n"), std::nullopt);
}

// EVP_DecodeBlock takes '=' for zero bits anywhere; base64_decode passes such text through
// (see the report: it should reject padding that is not at the end, or more than two).
TEST(Base64, RejectsMisplacedPadding) {
  EXPECT_EQ(base64_decode("Zg=a"), std::nullopt);
  EXPECT_EQ(base64_decode("=Zg="), std::nullopt);
  EXPECT_EQ(base64_decode("Z==="), std::nullopt);
  EXPECT_EQ(base64_decode("===="), std::nullopt);
  EXPECT_EQ(base64_decode("Zg==Zg=="), std::nullopt);
}

TEST(ConfigKeys, NormalizeConfigKeyGivesTheHost) {
  EXPECT_EQ(normalize_config_key("https://index.docker.io/v1/"), "docker.io");
  EXPECT_EQ(normalize_config_key("index.docker.io"), "docker.io");
  EXPECT_EQ(normalize_config_key("registry-1.docker.io"), "docker.io");
  EXPECT_EQ(normalize_config_key("docker.io"), "docker.io");
  EXPECT_EQ(normalize_config_key("http://localhost:5000/v2/"), "localhost:5000");
  EXPECT_EQ(normalize_config_key("localhost:5000"), "localhost:5000");
  EXPECT_EQ(normalize_config_key("quay.io"), "quay.io");
  EXPECT_EQ(normalize_config_key("quay.io/some/repo"), "quay.io");
  EXPECT_EQ(normalize_config_key("https://[::1]:5000/v2/"), "[::1]:5000");
  // Only docker's own names collapse to docker.io.
  EXPECT_EQ(normalize_config_key("https://mirror.docker.io.example.com/"),
            "mirror.docker.io.example.com");
}

TEST(ConfigKeys, DockerConfigKeyOnlyRewritesDockerHub) {
  EXPECT_EQ(docker_config_key("docker.io"), "https://index.docker.io/v1/");
  EXPECT_EQ(docker_config_key("quay.io"), "quay.io");
  EXPECT_EQ(docker_config_key("localhost:5000"), "localhost:5000");
  EXPECT_EQ(normalize_config_key(docker_config_key("docker.io")), "docker.io");
}

// --- CredentialStore --------------------------------------------------------------------

// A scratch HOME and XDG_RUNTIME_DIR, and a directory holding a fake docker-credential-test
// that is put first on PATH for the test.
class CredentialStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/cairn-credentials-test.XXXXXX";
    ASSERT_NE(::mkdtemp(pattern), nullptr);
    root_ = pattern;
    fs::create_directories(root_ / "home");
    fs::create_directories(root_ / "run");
    fs::create_directories(root_ / "bin");
    paths_.home = root_ / "home";
    paths_.xdg_runtime_dir = root_ / "run";
    write_helper();
    const char* old = std::getenv("PATH");
    if (old) old_path_ = old;
    ::setenv("PATH", ((root_ / "bin").string() + ":" + old_path_.value_or("/usr/bin:/bin")).c_str(),
             1);
  }
  void TearDown() override {
    if (old_path_)
      ::setenv("PATH", old_path_->c_str(), 1);
    else
      ::unsetenv("PATH");
    std::error_code ec;
    fs::remove_all(root_, ec);
  }

  // Answers `get` as docker's helpers do, and logs each server it was asked about.
  void write_helper() {
    const fs::path helper = root_ / "bin/docker-credential-test";
    std::ofstream out(helper);
    out << "#!/bin/sh\n"
           "[ \"$1\" = get ] || { echo \"unsupported action $1\" >&2; exit 2; }\n"
           "IFS= read -r server || true\n"
           "printf '%s\\n' \"$server\" >> \"$(dirname \"$0\")/requests\"\n"
           "case \"$server\" in\n"
           "  https://index.docker.io/v1/)\n"
           "    echo '{\"ServerURL\":\"https://index.docker.io/v1/\",\"Username\":\"hubuser\","
           "\"Secret\":\"hubsecret\"}' ;;\n"
           "  helped.example.com)\n"
           "    echo '{\"ServerURL\":\"helped.example.com\",\"Username\":\"<token>\","
           "\"Secret\":\"refresh-token\"}' ;;\n"
           "  empty.example.com)\n"
           "    echo '{\"ServerURL\":\"empty.example.com\",\"Username\":\"u\",\"Secret\":\"\"}' ;;\n"
           "  garbage.example.com) echo 'this is not json' ;;\n"
           "  failing.example.com) echo 'keychain is locked'; exit 3 ;;\n"
           "  *) echo 'credentials not found in native keychain'; exit 1 ;;\n"
           "esac\n";
    out.close();
    fs::permissions(helper, fs::perms::owner_all);
  }

  // The servers the helper was asked about, in order.
  std::vector<std::string> helper_requests() const {
    std::vector<std::string> out;
    std::ifstream in(root_ / "bin/requests");
    for (std::string line; std::getline(in, line);) out.push_back(line);
    return out;
  }

  static fs::path write(const fs::path& path, const std::string& text) {
    fs::create_directories(path.parent_path());
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << text;
    out.close();
    if (!out) ADD_FAILURE() << "cannot write " << path;
    return path;
  }
  static std::string read(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }
  static json read_json(const fs::path& path) { return json::parse(read(path)); }
  static std::string auth_json(const std::string& key, const std::string& user_pass) {
    return json{{"auths", {{key, {{"auth", base64_encode(user_pass)}}}}}}.dump();
  }

  fs::path runtime_auth() const { return root_ / "run/containers/auth.json"; }
  fs::path home_auth() const { return root_ / "home/.config/containers/auth.json"; }
  fs::path docker_config() const { return root_ / "home/.docker/config.json"; }

  CredentialStore store() const { return CredentialStore(paths_); }

  fs::path root_;
  CredentialPaths paths_;
  std::optional<std::string> old_path_;
};

TEST_F(CredentialStoreTest, NoFilesNoCredential) {
  EXPECT_EQ(store().find("localhost:5000"), std::nullopt);
}

TEST_F(CredentialStoreTest, FindsAnAuthEntryOfTheContainersAuthJson) {
  write(home_auth(), R"({"auths":{"localhost:5000":{"auth":")" + base64_encode("u:p") + "\"}}}");
  const auto c = store().find("localhost:5000");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->username, "u");
  EXPECT_EQ(c->secret, "p");
  EXPECT_FALSE(c->identity_token);
  EXPECT_EQ(c->source, home_auth().string());
  EXPECT_EQ(store().find("localhost:5001"), std::nullopt);
  EXPECT_EQ(store().find("localhost"), std::nullopt);
}

TEST_F(CredentialStoreTest, APasswordKeepsItsColons) {
  write(home_auth(), auth_json("quay.io", "robot+x:pa:ss:word"));
  const auto c = store().find("quay.io");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->username, "robot+x");
  EXPECT_EQ(c->secret, "pa:ss:word");
}

TEST_F(CredentialStoreTest, UsernameAndPasswordFieldsAreAcceptedToo) {
  write(home_auth(), R"({"auths":{"quay.io":{"username":"alice","password":"s3cret"}}})");
  const auto c = store().find("quay.io");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->username, "alice");
  EXPECT_EQ(c->secret, "s3cret");
}

TEST_F(CredentialStoreTest, DockerConfigUrlKeyResolvesForDockerIo) {
  write(docker_config(), auth_json("https://index.docker.io/v1/", "hub:pw"));
  const auto c = store().find("docker.io");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->username, "hub");
  EXPECT_EQ(c->secret, "pw");
  EXPECT_EQ(c->source, docker_config().string());
  EXPECT_EQ(store().find("index.docker.io.example.com"), std::nullopt);
}

TEST_F(CredentialStoreTest, UrlKeysWithSchemeAndPathMatchTheirHost) {
  write(home_auth(), auth_json("http://localhost:5000/v2/", "u:p"));
  const auto c = store().find("localhost:5000");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->username, "u");
}

TEST_F(CredentialStoreTest, IdentityTokenIsTheSecret) {
  write(docker_config(),
        R"({"auths":{"registry.example.com":{"auth":")" + base64_encode("tokenuser:") +
            R"(","identitytoken":"refresh-abc"}}})");
  const auto c = store().find("registry.example.com");
  ASSERT_TRUE(c);
  EXPECT_TRUE(c->identity_token);
  EXPECT_EQ(c->secret, "refresh-abc");
  EXPECT_EQ(c->username, "tokenuser");
}

TEST_F(CredentialStoreTest, IdentityTokenWinsOverAPasswordInTheSameEntry) {
  write(home_auth(), R"({"auths":{"r.example.com":{"auth":")" + base64_encode("u:pw") +
                         R"(","identitytoken":"tok"}}})");
  const auto c = store().find("r.example.com");
  ASSERT_TRUE(c);
  EXPECT_TRUE(c->identity_token);
  EXPECT_EQ(c->secret, "tok");
  EXPECT_EQ(c->username, "u");
}

TEST_F(CredentialStoreTest, AnEmptyEntryIsNoCredential) {
  // docker writes these beside a credsStore.
  write(docker_config(), R"({"auths":{"https://index.docker.io/v1/":{}}})");
  EXPECT_EQ(store().find("docker.io"), std::nullopt);
  write(docker_config(), R"({"auths":{"quay.io":{"username":"u"}}})");
  EXPECT_EQ(store().find("quay.io"), std::nullopt);
}

TEST_F(CredentialStoreTest, FilesAreSearchedInOrder) {
  write(runtime_auth(), auth_json("localhost:5000", "runtime:1"));
  write(home_auth(), auth_json("localhost:5000", "home:2"));
  write(docker_config(), auth_json("localhost:5000", "docker:3"));
  EXPECT_EQ(store().find("localhost:5000")->username, "runtime");
  fs::remove(runtime_auth());
  EXPECT_EQ(store().find("localhost:5000")->username, "home");
  fs::remove(home_auth());
  EXPECT_EQ(store().find("localhost:5000")->username, "docker");
}

TEST_F(CredentialStoreTest, AFileWithoutTheDomainFallsThroughToTheNext) {
  write(runtime_auth(), auth_json("quay.io", "q:1"));
  write(docker_config(), auth_json("localhost:5000", "d:2"));
  EXPECT_EQ(store().find("localhost:5000")->username, "d");
  EXPECT_EQ(store().find("quay.io")->username, "q");
}

TEST_F(CredentialStoreTest, RegistryAuthFileReplacesTheOthers) {
  paths_.auth_file = root_ / "elsewhere/auth.json";
  write(*paths_.auth_file, auth_json("localhost:5000", "chosen:1"));
  write(runtime_auth(), json{{"auths",
                              {{"localhost:5000", {{"auth", base64_encode("runtime:1")}}},
                               {"quay.io", {{"auth", base64_encode("runtime:1")}}}}}}
                            .dump());
  EXPECT_EQ(store().find("localhost:5000")->username, "chosen");
  EXPECT_EQ(store().find("quay.io"), std::nullopt);
}

TEST_F(CredentialStoreTest, MalformedFileIsAnErrorNamingIt) {
  write(home_auth(), "{\"auths\": {");
  Error e = catch_error([&] { (void)store().find("localhost:5000"); });
  EXPECT_TRUE(contains(e.what(), home_auth().string())) << e.what();
  EXPECT_FALSE(e.hint_text().empty());

  write(home_auth(), "[1, 2]");
  e = catch_error([&] { (void)store().find("localhost:5000"); });
  EXPECT_TRUE(contains(e.what(), home_auth().string())) << e.what();
}

TEST_F(CredentialStoreTest, MalformedEarlierFileIsAnErrorEvenWhenALaterOneMatches) {
  write(runtime_auth(), "not json");
  write(home_auth(), auth_json("localhost:5000", "u:p"));
  const Error e = catch_error([&] { (void)store().find("localhost:5000"); });
  EXPECT_TRUE(contains(e.what(), runtime_auth().string())) << e.what();
}

TEST_F(CredentialStoreTest, AnAuthValueThatIsNotUserColonPasswordIsAnError) {
  write(home_auth(), R"({"auths":{"localhost:5000":{"auth":"%%%%"}}})");
  Error e = catch_error([&] { (void)store().find("localhost:5000"); });
  EXPECT_TRUE(contains(e.what(), home_auth().string())) << e.what();
  write(home_auth(), auth_json("localhost:5000", "no-colon-here"));
  e = catch_error([&] { (void)store().find("localhost:5000"); });
  EXPECT_TRUE(contains(e.what(), home_auth().string())) << e.what();
  EXPECT_TRUE(contains(e.what(), "USER:PASSWORD")) << e.what();
}

// --- credential helpers -----------------------------------------------------------------

TEST_F(CredentialStoreTest, CredsStoreAnswersForDockerHubWithItsUrlKey) {
  write(docker_config(), R"({"credsStore":"test"})");
  const auto c = store().find("docker.io");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->username, "hubuser");
  EXPECT_EQ(c->secret, "hubsecret");
  EXPECT_FALSE(c->identity_token);
  EXPECT_EQ(c->source, "docker-credential-test");
  EXPECT_EQ(helper_requests(), std::vector<std::string>{"https://index.docker.io/v1/"});
}

TEST_F(CredentialStoreTest, CredsStoreNotFoundIsNoCredential) {
  write(docker_config(), R"({"credsStore":"test"})");
  EXPECT_EQ(store().find("unknown.example.com"), std::nullopt);
  EXPECT_EQ(helper_requests(), std::vector<std::string>{"unknown.example.com"});
}

TEST_F(CredentialStoreTest, CredHelpersArePerRegistryAndTokenUserMeansIdentityToken) {
  write(docker_config(), R"({"credHelpers":{"helped.example.com":"test"}})");
  const auto c = store().find("helped.example.com");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->username, "<token>");
  EXPECT_EQ(c->secret, "refresh-token");
  EXPECT_TRUE(c->identity_token);
  // Registries without a helper are not asked about.
  EXPECT_EQ(store().find("quay.io"), std::nullopt);
  EXPECT_EQ(helper_requests(), std::vector<std::string>{"helped.example.com"});
}

TEST_F(CredentialStoreTest, CredHelpersKeyedByUrlMatchTheirHost) {
  write(docker_config(), R"({"credHelpers":{"https://index.docker.io/v1/":"test"}})");
  const auto c = store().find("docker.io");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->username, "hubuser");
}

TEST_F(CredentialStoreTest, CredHelperWinsOverAuthsWhichWinOverCredsStore) {
  write(docker_config(),
        R"({"credsStore":"test","credHelpers":{"helped.example.com":"test"},"auths":{)"
        R"("helped.example.com":{"auth":")" +
            base64_encode("file:1") + R"("},"https://index.docker.io/v1/":{"auth":")" +
            base64_encode("filehub:2") + "\"}}}");
  EXPECT_EQ(store().find("helped.example.com")->username, "<token>");
  EXPECT_EQ(store().find("docker.io")->username, "filehub");
  // Only the credHelpers lookup went to the helper.
  EXPECT_EQ(helper_requests(), std::vector<std::string>{"helped.example.com"});
}

TEST_F(CredentialStoreTest, ContainersAuthJsonComesBeforeDockersHelpers) {
  write(home_auth(), auth_json("docker.io", "podman:1"));
  write(docker_config(), R"({"credsStore":"test"})");
  EXPECT_EQ(store().find("docker.io")->username, "podman");
  EXPECT_TRUE(helper_requests().empty());
}

TEST_F(CredentialStoreTest, HelperWithAnEmptySecretIsNoCredential) {
  write(docker_config(), R"({"credsStore":"test"})");
  EXPECT_EQ(store().find("empty.example.com"), std::nullopt);
}

TEST_F(CredentialStoreTest, HelperFailureIsAnErrorWithItsOutput) {
  write(docker_config(), R"({"credsStore":"test"})");
  const Error e = catch_error([&] { (void)store().find("failing.example.com"); });
  EXPECT_TRUE(contains(e.what(), "docker-credential-test")) << e.what();
  EXPECT_TRUE(contains(e.what(), "keychain is locked")) << e.what();
  EXPECT_TRUE(contains(e.what(), "exit status 3")) << e.what();
}

TEST_F(CredentialStoreTest, HelperAnswerThatIsNotJsonIsAnError) {
  write(docker_config(), R"({"credsStore":"test"})");
  const Error e = catch_error([&] { (void)store().find("garbage.example.com"); });
  EXPECT_TRUE(contains(e.what(), "docker-credential-test")) << e.what();
}

TEST_F(CredentialStoreTest, MissingHelperIsAnErrorNamingIt) {
  write(docker_config(), R"({"credsStore":"absent-helper-xyz"})");
  const Error e = catch_error([&] { (void)store().find("docker.io"); });
  EXPECT_TRUE(contains(e.what(), "docker-credential-absent-helper-xyz")) << e.what();
}

// --- save, remove, override_for ---------------------------------------------------------

TEST_F(CredentialStoreTest, SaveWritesAnOwnerOnlyContainersAuthJson) {
  store().save("localhost:5000", "u", "p:w");
  ASSERT_TRUE(fs::exists(runtime_auth()));
  struct stat st {};
  ASSERT_EQ(::stat(runtime_auth().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  const json j = read_json(runtime_auth());
  EXPECT_EQ(j.at("auths").at("localhost:5000").at("auth"), base64_encode("u:p:w"));
  EXPECT_EQ(j.at("auths").size(), 1u);
  const auto c = store().find("localhost:5000");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->username, "u");
  EXPECT_EQ(c->secret, "p:w");
}

TEST_F(CredentialStoreTest, SaveKeepsOtherEntriesAndKeysAndReplacesItsOwn) {
  write(runtime_auth(), R"({"auths":{"quay.io":{"auth":")" + base64_encode("q:1") +
                            R"("},"localhost:5000":{"auth":")" + base64_encode("old:0") +
                            R"("}},"credHelpers":{"gcr.io":"gcloud"}})");
  fs::permissions(runtime_auth(), fs::perms::owner_read | fs::perms::owner_write |
                                      fs::perms::group_read | fs::perms::others_read);
  store().save("localhost:5000", "new", "1");
  const json j = read_json(runtime_auth());
  EXPECT_EQ(j.at("auths").at("quay.io").at("auth"), base64_encode("q:1"));
  EXPECT_EQ(j.at("auths").at("localhost:5000").at("auth"), base64_encode("new:1"));
  EXPECT_EQ(j.at("credHelpers").at("gcr.io"), "gcloud");
  struct stat st {};
  ASSERT_EQ(::stat(runtime_auth().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
}

TEST_F(CredentialStoreTest, SaveGoesToRegistryAuthFile) {
  paths_.auth_file = root_ / "custom/dir/auth.json";
  store().save("quay.io", "u", "p");
  EXPECT_TRUE(fs::exists(*paths_.auth_file));
  EXPECT_FALSE(fs::exists(runtime_auth()));
  EXPECT_EQ(store().find("quay.io")->secret, "p");
}

TEST_F(CredentialStoreTest, SaveRefusesToOverwriteAMalformedFile) {
  write(runtime_auth(), "{ broken");
  const Error e = catch_error([&] { store().save("quay.io", "u", "p"); });
  EXPECT_TRUE(contains(e.what(), runtime_auth().string())) << e.what();
  EXPECT_EQ(read(runtime_auth()), "{ broken");
}

TEST_F(CredentialStoreTest, RemoveDeletesOnlyThatDomain) {
  store().save("localhost:5000", "u", "p");
  store().save("quay.io", "q", "1");
  EXPECT_TRUE(store().remove("localhost:5000"));
  EXPECT_EQ(store().find("localhost:5000"), std::nullopt);
  EXPECT_EQ(store().find("quay.io")->username, "q");
  EXPECT_FALSE(store().remove("localhost:5000"));
  const json j = read_json(runtime_auth());
  EXPECT_FALSE(j.at("auths").contains("localhost:5000"));
  struct stat st {};
  ASSERT_EQ(::stat(runtime_auth().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
}

TEST_F(CredentialStoreTest, RemoveMatchesUrlKeys) {
  write(runtime_auth(), auth_json("https://index.docker.io/v1/", "u:p"));
  EXPECT_TRUE(store().remove("docker.io"));
  EXPECT_TRUE(read_json(runtime_auth()).at("auths").empty());
}

TEST_F(CredentialStoreTest, RemoveWithoutAFileIsFalse) {
  EXPECT_FALSE(store().remove("quay.io"));
  EXPECT_FALSE(fs::exists(runtime_auth()));
}

TEST_F(CredentialStoreTest, RemoveOnlyTouchesTheLoginFile) {
  write(home_auth(), auth_json("quay.io", "u:p"));
  EXPECT_FALSE(store().remove("quay.io"));
  EXPECT_EQ(store().find("quay.io")->username, "u");
}

TEST_F(CredentialStoreTest, OverrideWinsForItsDomainOnly) {
  write(home_auth(), auth_json("localhost:5000", "file:1"));
  write(runtime_auth(), auth_json("quay.io", "q:2"));
  CredentialStore s = store();
  s.override_for("localhost:5000", Credential{"typed", "secret", false, "command line"});
  const auto c = s.find("localhost:5000");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->username, "typed");
  EXPECT_EQ(c->secret, "secret");
  EXPECT_EQ(c->source, "command line");
  EXPECT_EQ(s.find("quay.io")->username, "q");
  EXPECT_EQ(store().find("localhost:5000")->username, "file");
}

}  // namespace
}  // namespace cairn::registry
