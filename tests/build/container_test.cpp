#include "cairn/build/container.hpp"

#include <gtest/gtest.h>

#include "cairn/base/error.hpp"

namespace cairn::build {
namespace {

using nlohmann::json;

json image(json config) { return json{{"config", std::move(config)}}; }

ContainerOptions named(std::string name) {
  ContainerOptions o;
  o.image = std::move(name);
  return o;
}

using Strings = std::vector<std::string>;

TEST(ProcessRequest, EntrypointPlusCmdAndArgumentsReplaceCmd) {
  const json config = image({{"Entrypoint", {"/bin/app"}}, {"Cmd", {"--serve"}}});
  EXPECT_EQ(process_request(config, named("x"), {}).argv, (Strings{"/bin/app", "--serve"}));
  ContainerOptions o = named("x");
  o.command = {"--check"};
  EXPECT_EQ(process_request(config, o, {}).argv, (Strings{"/bin/app", "--check"}));
}

TEST(ProcessRequest, EntrypointFlagDropsTheImagesCmd) {
  const json config = image({{"Entrypoint", {"/bin/app"}}, {"Cmd", {"--serve"}}});
  ContainerOptions o = named("x");
  o.entrypoint = "/bin/sh";
  EXPECT_EQ(process_request(config, o, {}).argv, (Strings{"/bin/sh"}));
  o.command = {"-c", "true"};
  EXPECT_EQ(process_request(config, o, {}).argv, (Strings{"/bin/sh", "-c", "true"}));
  o.entrypoint = "";
  EXPECT_EQ(process_request(config, o, {}).argv, (Strings{"-c", "true"}));
}

TEST(ProcessRequest, NoCommandIsAnErrorWithAHint) {
  try {
    process_request(image(json::object()), named("scratchy"), {});
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("image scratchy has no command"), std::string::npos);
  }
}

TEST(ProcessRequest, EnvironmentGetsPathHostnameAndFlagsInOrder) {
  const json config = image({{"Cmd", {"sh"}}, {"Env", {"A=1", "B=2"}}});
  ContainerOptions o = named("x");
  o.hostname = "box";
  o.env = {"B=3", "C", "D"};
  const auto r = process_request(config, o, {"C=from-host", "E=ignored"});
  EXPECT_EQ(r.env, (Strings{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                            "A=1", "B=3", "HOSTNAME=box", "C=from-host"}));
}

TEST(ProcessRequest, AnImagePathIsKept) {
  const json config = image({{"Cmd", {"sh"}}, {"Env", {"PATH=/opt/bin"}}});
  EXPECT_EQ(process_request(config, named("x"), {}).env, (Strings{"PATH=/opt/bin"}));
}

TEST(ProcessRequest, WorkdirAndUserFromFlagsElseTheImageElseDefaults) {
  const json config = image({{"Cmd", {"sh"}}, {"WorkingDir", "/app"}, {"User", "app"}});
  auto r = process_request(config, named("x"), {});
  EXPECT_EQ(r.cwd, "/app");
  EXPECT_EQ(r.user, "app");
  ContainerOptions o = named("x");
  o.workdir = "/tmp/w";
  o.user = "1000:1000";
  r = process_request(config, o, {});
  EXPECT_EQ(r.cwd, "/tmp/w");
  EXPECT_EQ(r.user, "1000:1000");
  r = process_request(image({{"Cmd", {"sh"}}}), named("x"), {});
  EXPECT_EQ(r.cwd, "/");
  EXPECT_EQ(r.user, "0");
  o.workdir = "relative";
  EXPECT_THROW(process_request(config, o, {}), Error);
}

TEST(CompleteEnv, HomeFromTheUserUnlessSetAndTermForATerminal) {
  Strings env = {"PATH=/bin"};
  complete_env(env, "/home/app", true);
  EXPECT_EQ(env, (Strings{"PATH=/bin", "HOME=/home/app", "TERM=xterm"}));
  env = {"HOME=/custom"};
  complete_env(env, "/root", false);
  EXPECT_EQ(env, (Strings{"HOME=/custom"}));
}

}  // namespace
}  // namespace cairn::build
