#include <gtest/gtest.h>

#include "cairn/base/error.hpp"
#include "cairn/build/image_config.hpp"

namespace cairn::build {
namespace {

using nlohmann::json;

TEST(ImportChanges, EachAllowedInstructionLandsWhereDockerPutsIt) {
  json config = json::object();
  apply_changes(config, {"ENV PATH=/usr/bin A=1", "ENV B=$A-x", "CMD [\"sh\"]",
                         "EXPOSE 80 53/UDP", "LABEL a=b \"c d\"=e", "WORKDIR /srv",
                         "WORKDIR app", "USER 1000:1000", "VOLUME /data", "STOPSIGNAL SIGINT",
                         "ONBUILD RUN make"});
  EXPECT_EQ(config["Env"], json({"PATH=/usr/bin", "A=1", "B=1-x"}));
  EXPECT_EQ(config["Cmd"], json({"sh"}));
  EXPECT_TRUE(config["ExposedPorts"].contains("80/tcp"));
  EXPECT_TRUE(config["ExposedPorts"].contains("53/udp"));
  EXPECT_EQ(config["Labels"]["c d"], "e");
  EXPECT_EQ(config["WorkingDir"], "/srv/app");
  EXPECT_EQ(config["User"], "1000:1000");
  EXPECT_TRUE(config["Volumes"].contains("/data"));
  EXPECT_EQ(config["StopSignal"], "SIGINT");
  EXPECT_EQ(config["OnBuild"], json({"RUN make"}));
}

TEST(ImportChanges, ShellFormUsesBinShAndEntrypointResetsCmd) {
  json config = {{"Cmd", {"old"}}};
  apply_changes(config, {"ENTRYPOINT exec app --flag"});
  EXPECT_EQ(config["Entrypoint"], json({"/bin/sh", "-c", "exec app --flag"}));
  EXPECT_TRUE(config["Cmd"].is_null());
}

TEST(ImportChanges, CmdOfTheSameStageSurvivesEntrypoint) {
  json config = {{"Cmd", {"inherited"}}};
  apply_changes(config, {"CMD [\"--help\"]", "ENTRYPOINT [\"app\"]"});
  EXPECT_EQ(config["Cmd"], json({"--help"}));
  EXPECT_EQ(config["Entrypoint"], json({"app"}));
}

TEST(ImportChanges, RefusesOtherInstructionsAndBadInput) {
  json config = json::object();
  EXPECT_THROW(apply_changes(config, {"RUN echo"}), Error);
  EXPECT_THROW(apply_changes(config, {"COPY a b"}), Error);
  EXPECT_THROW(apply_changes(config, {"CMD a\nCMD b"}), Error);
  EXPECT_THROW(apply_changes(config, {"BOGUS x"}), Error);
  try {
    apply_changes(config, {"RUN echo"});
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("--change 'RUN echo'"), std::string::npos) << e.what();
  }
}

TEST(ImageConfig, HealthcheckInDockerShape) {
  json config = json::object();
  frontend::Dockerfile file = frontend::parse_dockerfile(
      "HEALTHCHECK --interval=30s --retries=3 CMD curl -f http://localhost/\n", "Dockerfile");
  StageState state;
  apply_to_config(config, frontend::parse_instruction(file, file.nodes[0]), state);
  EXPECT_EQ(config["Healthcheck"]["Test"], json({"CMD-SHELL", "curl -f http://localhost/"}));
  EXPECT_EQ(config["Healthcheck"]["Interval"], 30000000000LL);
  EXPECT_EQ(config["Healthcheck"]["Retries"], 3);
}

}  // namespace
}  // namespace cairn::build
