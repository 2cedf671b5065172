#include <gtest/gtest.h>

#include "cairn/frontend/diagnostic.hpp"
#include "cairn/frontend/instructions.hpp"

namespace cairn::frontend {
namespace {

Instruction only(std::string_view text) {
  static Dockerfile file;  // kept alive: errors refer to its lines
  file = parse_dockerfile(text, "Dockerfile");
  return parse_instruction(file, file.nodes.back());
}

std::string error_of(std::string_view text) {
  try {
    only(text);
  } catch (const DockerfileError& e) {
    return e.reason();
  }
  return "(no error)";
}

TEST(Instructions, FromWithPlatformAndName) {
  auto ins = only("FROM --platform=linux/arm64 busybox:1.36 AS Build\n");
  const auto& from = std::get<FromInstruction>(ins.value);
  EXPECT_EQ(from.image, "busybox:1.36");
  EXPECT_EQ(from.stage_name, "build");
  EXPECT_EQ(from.platform, "linux/arm64");
  EXPECT_EQ(ins.keyword, "FROM");
}

TEST(Instructions, FromErrors) {
  EXPECT_NE(error_of("FROM a b\n").find("one or three arguments"), std::string::npos);
  EXPECT_NE(error_of("FROM a AS 1abc\n").find("invalid name for build stage"), std::string::npos);
  EXPECT_NE(error_of("FROM a AS b c\n").find("one or three"), std::string::npos);
  EXPECT_EQ(error_of("FROM --bogus=1 a\n"), "unknown flag: --bogus (accepted: --platform)");
}

TEST(Instructions, RunMountsNetworkSecurity) {
  auto ins = only(
      "RUN --mount=type=cache,target=/root/.cache,id=pip,sharing=locked "
      "--mount=type=secret,id=token --mount=type=bind,from=build,source=/out,target=/in,rw "
      "--mount=type=tmpfs,target=/tmp,size=64m --mount=type=ssh "
      "--network=none --security=sandbox make\n");
  const auto& run = std::get<RunInstruction>(ins.value);
  ASSERT_EQ(run.mounts.size(), 5u);
  EXPECT_EQ(run.mounts[0].type, MountType::cache);
  EXPECT_EQ(run.mounts[0].sharing, CacheSharing::locked);
  EXPECT_EQ(run.mounts[0].id, "pip");
  EXPECT_FALSE(run.mounts[0].readonly);
  EXPECT_EQ(run.mounts[1].target, "/run/secrets/token");
  EXPECT_EQ(run.mounts[2].from, "build");
  EXPECT_FALSE(run.mounts[2].readonly);
  EXPECT_EQ(run.mounts[3].size, 64LL * 1024 * 1024);
  EXPECT_EQ(run.mounts[4].id, "default");
  EXPECT_EQ(run.network, "none");
  EXPECT_EQ(run.security, "sandbox");
  EXPECT_EQ(run.command.args, (std::vector<std::string>{"make"}));
}

TEST(Instructions, BindMountsAreReadOnlyByDefault) {
  auto ins = only("RUN --mount=target=/src cat /src/x\n");
  EXPECT_TRUE(std::get<RunInstruction>(ins.value).mounts[0].readonly);
  EXPECT_EQ(std::get<RunInstruction>(ins.value).mounts[0].type, MountType::bind);
}

TEST(Instructions, MountErrors) {
  EXPECT_NE(error_of("RUN --mount=type=cache x\n").find("needs a target"), std::string::npos);
  EXPECT_NE(error_of("RUN --mount=type=nfs,target=/x x\n").find("unsupported mount type"),
            std::string::npos);
  EXPECT_NE(error_of("RUN --mount=type=cache,target=/x,bogus=1 x\n").find("unexpected key 'bogus'"),
            std::string::npos);
  EXPECT_NE(error_of("RUN --mount=type=cache,target=/x,sharing=all x\n").find("sharing"),
            std::string::npos);
  EXPECT_NE(error_of("RUN --mount=type=cache,target=/x,mode=999 x\n").find("octal"),
            std::string::npos);
  EXPECT_NE(error_of("RUN --network=bridge x\n").find("unsupported network mode"),
            std::string::npos);
}

TEST(Instructions, MountValuesMayBeQuotedCsv) {
  MountSpec m = parse_mount("type=bind,\"source=a,b\",target=/x");
  EXPECT_EQ(m.source, "a,b");
}

TEST(Instructions, CopyAndAddFlags) {
  auto copy = std::get<CopyInstruction>(
      only("COPY --from=build --chown=app:app --chmod=0755 --link --parents --exclude=*.md "
           "--exclude=tmp a b /dst/\n")
          .value);
  EXPECT_EQ(copy.from, "build");
  EXPECT_EQ(copy.chown, "app:app");
  EXPECT_EQ(copy.chmod, "0755");
  EXPECT_TRUE(copy.link);
  EXPECT_TRUE(copy.parents);
  EXPECT_EQ(copy.excludes, (std::vector<std::string>{"*.md", "tmp"}));
  EXPECT_EQ(copy.sources, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(copy.destination, "/dst/");
  auto add = std::get<CopyInstruction>(
      only("ADD --checksum=sha256:abc --keep-git-dir=true https://x/y.tar /z\n").value);
  EXPECT_TRUE(add.is_add);
  EXPECT_EQ(add.checksum, "sha256:abc");
  EXPECT_EQ(add.keep_git_dir, true);
}

TEST(Instructions, CopyErrors) {
  EXPECT_NE(error_of("COPY onlyone\n").find("at least two arguments"), std::string::npos);
  EXPECT_NE(error_of("COPY --checksum=x a b\n").find("unknown flag: --checksum"), std::string::npos);
  EXPECT_NE(error_of("ADD --from=x a b\n").find("unknown flag: --from"), std::string::npos);
  EXPECT_NE(error_of("COPY --chmod=99 a b\n").find("invalid --chmod"), std::string::npos);
  EXPECT_NE(error_of("COPY --link=maybe a b\n").find("expecting boolean"), std::string::npos);
  EXPECT_NE(error_of("COPY --chown a b\n").find("missing a value"), std::string::npos);
  EXPECT_NE(error_of("COPY --from=a --from=b a b\n").find("duplicate flag"), std::string::npos);
}

TEST(Instructions, SymbolicChmodIsAccepted) {
  auto copy = std::get<CopyInstruction>(only("COPY --chmod=u+x,go-w a b\n").value);
  EXPECT_EQ(copy.chmod, "u+x,go-w");
}

TEST(Instructions, HealthcheckOptions) {
  auto hc = std::get<HealthcheckInstruction>(
      only("HEALTHCHECK --interval=1m30s --timeout=3s --start-period=500ms "
           "--start-interval=2s --retries=5 CMD [\"curl\", \"-f\", \"http://localhost/\"]\n")
          .value);
  EXPECT_EQ(hc.interval, std::chrono::seconds(90));
  EXPECT_EQ(hc.timeout, std::chrono::seconds(3));
  EXPECT_EQ(hc.start_period, std::chrono::milliseconds(500));
  EXPECT_EQ(hc.start_interval, std::chrono::seconds(2));
  EXPECT_EQ(hc.retries, 5);
  EXPECT_TRUE(hc.test.exec_form);
  EXPECT_EQ(hc.test.args.size(), 3u);
  EXPECT_TRUE(std::get<HealthcheckInstruction>(only("HEALTHCHECK NONE\n").value).none);
}

TEST(Instructions, HealthcheckErrors) {
  EXPECT_NE(error_of("HEALTHCHECK NONE extra\n").find("takes no arguments"), std::string::npos);
  EXPECT_NE(error_of("HEALTHCHECK CMD\n").find("missing command"), std::string::npos);
  EXPECT_NE(error_of("HEALTHCHECK PING x\n").find("try CMD"), std::string::npos);
  EXPECT_NE(error_of("HEALTHCHECK --interval=5 CMD x\n").find("invalid duration"), std::string::npos);
  EXPECT_NE(error_of("HEALTHCHECK --timeout=10us CMD x\n").find("less than 1ms"), std::string::npos);
  EXPECT_NE(error_of("HEALTHCHECK --retries=-1 CMD x\n").find("negative"), std::string::npos);
}

TEST(Instructions, GoDurations) {
  EXPECT_EQ(parse_go_duration("0"), std::chrono::nanoseconds(0));
  EXPECT_EQ(parse_go_duration("1.5h"), std::chrono::minutes(90));
  EXPECT_EQ(parse_go_duration("2h45m"), std::chrono::minutes(165));
  EXPECT_EQ(parse_go_duration("300ms"), std::chrono::milliseconds(300));
  EXPECT_EQ(parse_go_duration("-1s"), std::chrono::seconds(-1));
  EXPECT_FALSE(parse_go_duration("5"));
  EXPECT_FALSE(parse_go_duration("1d"));
  EXPECT_FALSE(parse_go_duration(""));
  EXPECT_FALSE(parse_go_duration("s"));
}

TEST(Instructions, ShellMustBeJson) {
  EXPECT_EQ(std::get<ShellInstruction>(only("SHELL [\"/bin/bash\", \"-c\"]\n").value).shell.size(),
            2u);
  EXPECT_NE(error_of("SHELL /bin/bash -c\n").find("JSON form"), std::string::npos);
}

TEST(Instructions, SingleArgumentInstructions) {
  EXPECT_EQ(std::get<UserInstruction>(only("USER app:staff\n").value).user, "app:staff");
  EXPECT_EQ(std::get<WorkdirInstruction>(only("WORKDIR /a b\n").value).path, "/a b");
  EXPECT_EQ(std::get<StopsignalInstruction>(only("STOPSIGNAL SIGTERM\n").value).signal, "SIGTERM");
  EXPECT_EQ(std::get<MaintainerInstruction>(only("MAINTAINER Jo <jo@x>\n").value).name, "Jo <jo@x>");
  EXPECT_NE(error_of("USER\n").find("exactly one argument"), std::string::npos);
  EXPECT_NE(error_of("CMD --x=1 a\n").find("unknown flag: --x"), std::string::npos);
}

TEST(Instructions, ArgDeclarations) {
  auto arg = std::get<ArgInstruction>(only("ARG A B=2 C=\"x y\"\n").value);
  ASSERT_EQ(arg.args.size(), 3u);
  EXPECT_FALSE(arg.args[0].default_value);
  EXPECT_EQ(arg.args[1].default_value, "2");
  EXPECT_EQ(arg.args[2].default_value, "\"x y\"");
  EXPECT_NE(error_of("ARG =x\n").find("can not be blank"), std::string::npos);
}

TEST(Instructions, OnbuildTriggers) {
  auto onbuild = std::get<OnbuildInstruction>(only("ONBUILD COPY . /app\n").value);
  EXPECT_EQ(onbuild.expression, "COPY . /app");
  ASSERT_TRUE(onbuild.trigger);
  EXPECT_EQ(onbuild.trigger->keyword, "COPY");
  EXPECT_EQ(error_of("ONBUILD ONBUILD RUN x\n"), "ONBUILD ONBUILD isn't allowed");
  EXPECT_EQ(error_of("ONBUILD FROM x\n"), "FROM isn't allowed as an ONBUILD trigger");
  EXPECT_NE(error_of("ONBUILD\n").find("at least one argument"), std::string::npos);
}

TEST(Instructions, VolumeExposeLabel) {
  EXPECT_EQ(std::get<VolumeInstruction>(only("VOLUME [\"/a\", \"/b\"]\n").value).paths.size(), 2u);
  EXPECT_EQ(std::get<VolumeInstruction>(only("VOLUME /a /b\n").value).paths.size(), 2u);
  EXPECT_NE(error_of("VOLUME [\"\"]\n").find("empty string"), std::string::npos);
  EXPECT_EQ(std::get<ExposeInstruction>(only("EXPOSE 80/tcp 53/udp\n").value).ports.size(), 2u);
  auto label = std::get<LabelInstruction>(only("LABEL a=1 \"b c\"=2\n").value);
  ASSERT_EQ(label.labels.size(), 2u);
  EXPECT_EQ(label.labels[1].key, "\"b c\"");
}

}  // namespace
}  // namespace cairn::frontend
